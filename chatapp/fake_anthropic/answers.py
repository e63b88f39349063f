"""What a reply that cites documents, searches or fetches says: its blocks, before any cut.

- **Citations:** text blocks that quote the request's documents with citations enabled, each
  quote a real span of the document's text (pypdf's text for a PDF): ``char_location`` for a
  text document, ``page_location`` for a PDF (pages numbered from 1, the end exclusive),
  ``content_block_location`` for a content document.
- **Server tools:** a ``ToolScript`` is the turn's calls in order (each a ``server_tool_use``
  block and its result, whole), then an answer whose text blocks cite the search results with
  ``web_search_result_location``. A call past the tool's ``max_uses`` gets the
  ``max_uses_exceeded`` error. A script may pause after some calls (``pause_turn``): the rest
  of it is what the turn sent back gets.

Given a scenario's ``text``, the answer is that text exactly, cut into sentences, the first ones
each citing one source in turn. The default answers say they are simulated, for demo mode.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .blocks import Block, random_id, server_tool_use, text_block
from .files import rfc3339
from .media import DocumentInfo
from .scenarios import (
    CiteScenario,
    WebFetchScenario,
    WebSearchScenario,
    filler_tokens,
    split_tokens,
    strip_inline_directives,
)
from .server_tools import FakePage, fetched_page, search_pages, topic_of
from .validation import MessagesRequest

MAX_QUOTE_CHARS = 300
_URL_RE = re.compile(r"https?://[^\s<>\"'()\[\]]+")
_SENTENCE_END_RE = re.compile(r"[.!?]+\s+|\n+")
_QUOTE_RE = re.compile(r"\S[^.!?\n]*[.!?]*")


@dataclass(frozen=True)
class ToolAction:
    tool: str  # "web_search" or "web_fetch"
    argument: str  # the query, or the URL
    error: str | None = None  # the error code its result gives, instead of results


@dataclass(frozen=True)
class ToolScript:
    """A turn that uses server tools: its calls, then an answer citing what they found."""

    actions: tuple[ToolAction, ...]
    answer: str | None = None  # the scenario's text; None: the default answer
    results: int = 3  # results per search
    pause_after: int | None = None  # calls made before the turn pauses
    done: int = 0  # calls made before a pause (a continuation's)
    found: tuple[FakePage, ...] = ()  # search results found so far, for the answer to cite
    fetched: tuple[FakePage, ...] = ()
    errors: tuple[str, ...] = ()
    opening: bool = True  # say what it is about to do first (not again after a pause)


@dataclass
class Answer:
    blocks: list[Block] = field(default_factory=list)
    rest: ToolScript | None = None  # what follows when it pauses


def find_urls(text: str) -> list[str]:
    return [url.rstrip(".,;:!?") for url in _URL_RE.findall(text)]


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence and line break: ``"".join(result) == text``."""
    cuts = [match.end() for match in _SENTENCE_END_RE.finditer(text)]
    bounds = [0, *cuts, len(text)]
    return [text[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def _cited_sentences(text: str, citations: list[dict[str, Any]]) -> list[Block]:
    return [
        text_block(split_tokens(sentence), citations[i] if i < len(citations) else None)
        for i, sentence in enumerate(sentences(text))
    ]


def _cited_list(intro: str, items: list[tuple[str, dict[str, Any]]], outro: str) -> list[Block]:
    """An introduction, one bullet per cited claim, and a closing line, as the API cuts them:
    a block for each stretch of text with the same citations."""
    blocks = [text_block(split_tokens(intro + "- "))]
    for position, (claim, citation) in enumerate(items):
        blocks.append(text_block(split_tokens(claim), citation))
        last = position == len(items) - 1
        blocks.append(text_block(split_tokens("\n\n" + outro if last else "\n- ")))
    return blocks


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _answer_text(scenario: Any) -> str | None:
    if scenario is None:
        return None
    if scenario.text is not None:
        return scenario.text
    if scenario.tokens is not None:
        return "".join(filler_tokens(scenario.tokens))
    return None


# --- citations of documents ----------------------------------------------------------------------


def _spans(text: str) -> list[tuple[int, int]]:
    """Sentence-long spans of ``text`` worth quoting (at most MAX_QUOTE_CHARS each)."""
    spans = []
    for match in _QUOTE_RE.finditer(text):
        start, end = match.span()
        if end - start > MAX_QUOTE_CHARS:
            cut = text.rfind(" ", start, start + MAX_QUOTE_CHARS)
            end = cut if cut > start else start + MAX_QUOTE_CHARS
        if re.search(r"\w", text[start:end]):
            spans.append((start, end))
    return spans


def _document_citations(document: DocumentInfo) -> list[dict[str, Any]]:
    """Every quote the fake may take from a document, in order, as citation objects."""
    common: dict[str, Any] = {
        "document_index": document.index,
        "document_title": document.title,
    }
    if document.file_id is not None:
        common["file_id"] = document.file_id
    found = []
    if document.kind == "text":
        for start, end in _spans(document.text):
            found.append(
                {
                    "type": "char_location",
                    "cited_text": document.text[start:end],
                    **common,
                    "start_char_index": start,
                    "end_char_index": end,
                }
            )
    elif document.kind == "pdf":
        for number, page in enumerate(document.pages, start=1):
            for start, end in _spans(page)[:1]:  # one quote per page
                found.append(
                    {
                        "type": "page_location",
                        "cited_text": page[start:end],
                        **common,
                        "start_page_number": number,
                        "end_page_number": number + 1,
                    }
                )
    else:
        for index, part in enumerate(document.parts):
            if part.strip():
                found.append(
                    {
                        "type": "content_block_location",
                        "cited_text": part,
                        **common,
                        "start_block_index": index,
                        "end_block_index": index + 1,
                    }
                )
    return found


def citable_documents(
    req: MessagesRequest, indexes: tuple[int, ...] | None = None
) -> list[DocumentInfo]:
    """The documents a citing reply quotes: those named, else the citable ones of the last user
    turn, else every citable one."""
    citable = [doc for doc in req.documents if doc.citations]
    if indexes is not None:
        by_index = {doc.index: doc for doc in citable}
        missing = [index for index in indexes if index not in by_index]
        if missing:
            raise ValueError(
                f"a cite scenario names document {missing[0]}, which is not a document with "
                "citations enabled in this request"
            )
        return [by_index[index] for index in indexes]
    latest = [doc for doc in citable if doc.message == req.last_user_message]
    return latest or citable


def cite_answer(req: MessagesRequest, scenario: CiteScenario | None = None) -> Answer:
    documents = citable_documents(req, scenario.documents if scenario else None)
    if not documents:
        raise ValueError("a cite scenario needs a document with citations enabled")
    quotes = scenario.quotes if scenario else 3
    pools = [_document_citations(document) for document in documents]
    chosen: list[dict[str, Any]] = []
    while len(chosen) < quotes and any(pools):
        for pool in pools:  # one quote from each document in turn
            if pool and len(chosen) < quotes:
                chosen.append(pool.pop(0))
    text = _answer_text(scenario)
    if text is not None:
        return Answer(_cited_sentences(text, chosen))
    if not chosen:
        return Answer(
            [
                text_block(
                    split_tokens(
                        "**This is a simulated reply** (demo mode: no real Claude model was "
                        "called). Your document has no text to quote, so there are no citations."
                    )
                )
            ]
        )
    several = len(documents) > 1
    intro = (
        "**This is a simulated reply** (demo mode: no real Claude model was called). Here is "
        f"what your document{'s say' if several else ' says'}, quoted with citations:\n\n"
    )
    items = [(f"“{_short(citation['cited_text'])}”", citation) for citation in chosen]
    return Answer(
        _cited_list(intro, items, "Set an Anthropic API key to get real answers from Claude.")
    )


# --- server tools --------------------------------------------------------------------------------


def default_script(req: MessagesRequest) -> ToolScript | None:
    """Without a scenario: fetch the URL the user gave when web fetch is on, else search for
    the user's words when web search is on."""
    text = strip_inline_directives(req.user_text)
    urls = find_urls(text)
    if "web_fetch" in req.server_tools and urls:
        return ToolScript(actions=(ToolAction("web_fetch", urls[0]),))
    if "web_search" in req.server_tools:
        return ToolScript(actions=(ToolAction("web_search", topic_of(text)),))
    return None


def script_for(scenario: WebSearchScenario | WebFetchScenario, req: MessagesRequest) -> ToolScript:
    """The calls a ``web_search`` or ``web_fetch`` scenario makes; ``ValueError`` when the
    request does not offer the tool."""
    tool = scenario.kind
    if tool not in req.server_tools:
        raise ValueError(f"a {tool} scenario needs the {tool} tool in the request's tools")
    text = strip_inline_directives(req.user_text)
    if isinstance(scenario, WebSearchScenario):
        arguments = list(scenario.queries or ())
        count = scenario.searches or len(arguments) or len(scenario.errors or ()) or 1
        topic = topic_of(text)
        while len(arguments) < count:
            arguments.append(_nth_query(topic, len(arguments)))
    else:
        arguments = list(scenario.urls or find_urls(text)[:1] or ["https://example.com/"])
        count = len(arguments)
    errors = scenario.errors if scenario.errors is not None else (scenario.error,) * count
    actions = tuple(
        ToolAction(tool, arguments[i], errors[i] if i < len(errors) else None) for i in range(count)
    )
    return ToolScript(
        actions=actions,
        answer=_answer_text(scenario),
        results=getattr(scenario, "results", 3),
        pause_after=scenario.pause_after,
    )


_FOLLOW_UPS = ("", " explained", " latest news", " examples", " history")


def _nth_query(topic: str, number: int) -> str:
    """The query of a turn's search ``number`` (from 0) when the scenario gives none."""
    round_ = number // len(_FOLLOW_UPS)
    return topic + _FOLLOW_UPS[number % len(_FOLLOW_UPS)] + (f" ({round_ + 1})" if round_ else "")


def _opening(action: ToolAction) -> str:
    if action.tool == "web_search":
        return f"Let me search the web for “{action.argument}”."
    return f"Let me fetch {action.argument}."


def run_script(script: ToolScript, req: MessagesRequest) -> Answer:
    blocks: list[Block] = []
    if script.opening and script.answer is None and script.actions:
        blocks.append(text_block(split_tokens(_opening(script.actions[0]))))
    found, fetched, errors = list(script.found), list(script.fetched), list(script.errors)
    uses = dict.fromkeys(req.server_tools, 0)
    for position in range(len(script.actions) + 1):
        if position == script.pause_after:
            rest = replace(
                script,
                actions=script.actions[position:],
                pause_after=None,
                done=script.done + position,
                found=tuple(found),
                fetched=tuple(fetched),
                errors=tuple(errors),
                opening=False,
            )
            return Answer(blocks, rest)
        if position == len(script.actions):
            break
        action = script.actions[position]
        if action.tool not in req.server_tools:
            raise ValueError(
                f"the turn goes on with a {action.tool} call, but this request does not offer "
                f"the {action.tool} tool"
            )
        tool_id = random_id("srvtoolu_01")
        error = action.error
        limit = req.server_tools[action.tool].max_uses
        if limit is not None and uses[action.tool] >= limit:
            error = "max_uses_exceeded"
        else:
            uses[action.tool] += 1
        if action.tool == "web_search":
            blocks.append(server_tool_use(tool_id, "web_search", {"query": action.argument}))
            number = script.done + position  # the numbering goes on after a pause
            pages = [] if error else search_pages(action.argument, script.results, number)
            found.extend(pages)
            content: Any = (
                {"type": "web_search_tool_result_error", "error_code": error}
                if error
                else [page.search_result() for page in pages]
            )
            result = {"type": "web_search_tool_result", "tool_use_id": tool_id, "content": content}
        else:
            blocks.append(server_tool_use(tool_id, "web_fetch", {"url": action.argument}))
            if error:
                content = {"type": "web_fetch_tool_result_error", "error_code": error}
            else:
                page = fetched_page(action.argument)
                fetched.append(page)
                content = _fetch_result(page, req.server_tools["web_fetch"].citations)
            result = {"type": "web_fetch_tool_result", "tool_use_id": tool_id, "content": content}
        if error:
            errors.append(error)
        blocks.append(Block(result["type"], data=result))
    blocks.extend(_tool_answer(script, found, fetched, errors))
    return Answer(blocks)


def _fetch_result(page: FakePage, citations: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": page.text},
        "title": page.title,
    }
    if citations:
        document["citations"] = {"enabled": True}
    return {
        "type": "web_fetch_result",
        "url": page.url,
        "retrieved_at": rfc3339(datetime.now(UTC).timestamp()),
        "content": document,
    }


def _tool_answer(
    script: ToolScript, found: list[FakePage], fetched: list[FakePage], errors: list[str]
) -> list[Block]:
    citations = [page.citation() for page in found]
    if script.answer is not None:
        return _cited_sentences(script.answer, citations)
    blocks: list[Block] = []
    if found:
        topic = script.actions[0].argument if script.actions else "your question"
        intro = (
            "**These are simulated search results** (demo mode: no real search was made, and "
            f"the pages below do not exist).\n\nWhat the made-up results say about “{topic}”:\n\n"
        )
        items = [(page.quote, page.citation()) for page in found[:5]]
        blocks = _cited_list(intro, items, "Set an Anthropic API key to search the web for real.")
    for page in fetched:
        separator = "\n\n" if blocks else ""
        said = (
            f"{separator}**This is a simulated fetch** (demo mode: {page.url} was not really "
            f"fetched). The made-up copy of the page says: “{page.quote}”"
        )
        blocks.append(text_block(split_tokens(said)))
    if not blocks:
        codes = ", ".join(f"`{code}`" for code in dict.fromkeys(errors)) or "none"
        blocks.append(
            text_block(
                split_tokens(
                    f"**The simulated web tool failed** (error code {codes}), so this answer has "
                    "no sources. (Demo mode: nothing was searched or fetched.)"
                )
            )
        )
    return blocks
