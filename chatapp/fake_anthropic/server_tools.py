"""The web search and web fetch server tools: their definitions in ``tools``, the fake's results
and pages, and the checks on server tool blocks sent back in an assistant turn.

The tool types, the server tool names and the error codes are the SDK's own (read from its
types), so a version the SDK adds is known here too. Nothing is ever searched or fetched: results
are made-up pages on the reserved domains example.com, example.org and example.net, titled after
the query; a fetch gives a made-up copy of the page that says so.

A result's ``encrypted_content`` and a citation's ``encrypted_index`` are opaque to the client,
as in the real API: a sealed (HMAC) payload holding what the page said, so the fake can count
the tokens of a result sent back and refuse one that was changed, with no memory of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import typing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from anthropic.types import (
    ToolUnionParam,
    WebFetchToolResultErrorCode,
    WebSearchToolResultErrorCode,
)
from anthropic.types.server_tool_use_block import ServerToolUseBlock
from anthropic.types.text_citation import TextCitation

from .refusals import ApiRefusal


def _literals(annotation: Any) -> tuple[str, ...]:
    """The string values of a ``Literal`` (inside ``Optional``/``Union`` too)."""
    values: list[str] = []
    for arg in typing.get_args(annotation):
        if isinstance(arg, str):
            values.append(arg)
        else:
            values.extend(_literals(arg))
    return tuple(values)


def _tool_names() -> dict[str, tuple[str, ...]]:
    """Each tool ``type`` the SDK knows -> the names that type allows (none: no name field)."""
    names = {}
    for tool in typing.get_args(ToolUnionParam):
        hints = typing.get_type_hints(tool)
        for kind in _literals(hints.get("type")):
            names[kind] = _literals(hints.get("name"))
    return names


TOOL_NAMES = _tool_names()
CUSTOM_TOOL_TYPE = "custom"
SERVER_TOOL_NAMES = _literals(ServerToolUseBlock.model_fields["name"].annotation)
SEARCH_ERROR_CODES = _literals(WebSearchToolResultErrorCode)
FETCH_ERROR_CODES = _literals(WebFetchToolResultErrorCode)
CITATION_TYPES = tuple(
    _literals(member.model_fields["type"].annotation)[0]
    for member in typing.get_args(typing.get_args(TextCitation)[0])
)
WEB_TOOLS = {"web_search": "web_search_", "web_fetch": "web_fetch_"}  # name -> type prefix
_SERVER_TOOL_ID = re.compile(r"srvtoolu_[A-Za-z0-9_]+")


@dataclass(frozen=True)
class ServerTool:
    name: str  # "web_search" or "web_fetch"
    type: str  # its version, e.g. "web_search_20250305"
    max_uses: int | None
    citations: bool  # web_fetch: cite the fetched documents


def read_tools(tools: list[dict[str, Any]]) -> dict[str, ServerTool]:
    """Check the ``tools`` definitions as the API does; the web tools among them, by name."""
    names: set[str] = set()
    web: dict[str, ServerTool] = {}
    for index, tool in enumerate(tools):
        where = f"tools.{index}"
        kind = tool.get("type")
        name = tool.get("name")
        if kind in (None, CUSTOM_TOOL_TYPE):
            if not isinstance(name, str) or not name:
                raise ApiRefusal(f"{where}.custom.name: Field required")
            if not isinstance(tool.get("input_schema"), dict):
                raise ApiRefusal(f"{where}.custom.input_schema: Field required")
        elif kind not in TOOL_NAMES:
            expected = ", ".join(f"'{known}'" for known in (*TOOL_NAMES, CUSTOM_TOOL_TYPE))
            raise ApiRefusal(
                f"{where}: Input tag '{kind}' found using 'type' does not match any of the "
                f"expected tags: {expected}"
            )
        elif TOOL_NAMES[kind] and name not in TOOL_NAMES[kind]:
            allowed = " or ".join(f"'{allowed}'" for allowed in TOOL_NAMES[kind])
            raise ApiRefusal(f"{where}.{kind}.name: Input should be {allowed}")
        if isinstance(name, str):
            if name in names:
                raise ApiRefusal(f"tools: Tool names must be unique; '{name}' is given twice")
            names.add(name)
        if isinstance(kind, str) and name in WEB_TOOLS and kind.startswith(WEB_TOOLS[name]):
            web[name] = _web_tool(f"{where}.{kind}", tool)
    return web


def _web_tool(where: str, tool: dict[str, Any]) -> ServerTool:
    max_uses = tool.get("max_uses")
    if max_uses is not None and (
        isinstance(max_uses, bool) or not isinstance(max_uses, int) or max_uses < 1
    ):
        raise ApiRefusal(f"{where}.max_uses: Input should be an integer greater than 0")
    if tool.get("allowed_domains") and tool.get("blocked_domains"):
        raise ApiRefusal(f"{where}: use either allowed_domains or blocked_domains, not both")
    citations = tool.get("citations")
    return ServerTool(
        name=tool["name"],
        type=tool["type"],
        max_uses=max_uses,
        citations=bool(isinstance(citations, dict) and citations.get("enabled")),
    )


# --- sealed payloads -----------------------------------------------------------------------------

_KEY = b"fake-anthropic server tool results"
_NONCE_BYTES = 12
_MAC_BYTES = 16


def seal(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    nonce = os.urandom(_NONCE_BYTES)
    mac = hmac.new(_KEY, nonce + raw, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b64encode(nonce + mac + raw).decode()


def unseal(sealed: Any) -> dict[str, Any] | None:
    """The payload of a sealed value this fake made, or None if it is not one (or changed)."""
    if not isinstance(sealed, str):
        return None
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        return None
    nonce = raw[:_NONCE_BYTES]
    mac, payload = raw[_NONCE_BYTES : _NONCE_BYTES + _MAC_BYTES], raw[_NONCE_BYTES + _MAC_BYTES :]
    expected = hmac.new(_KEY, nonce + payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(nonce) != _NONCE_BYTES or not hmac.compare_digest(mac, expected):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def search_result_text(result: dict[str, Any]) -> str:
    """What a ``web_search_result`` sent back counts as: its URL, title and page text."""
    page = unseal(result.get("encrypted_content")) or {}
    parts = (result.get("url"), result.get("title"), page.get("text"))
    return " ".join(part for part in parts if isinstance(part, str))


# --- made-up results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FakePage:
    url: str
    title: str
    text: str  # the page's text; its first sentence is what a citation quotes
    page_age: str | None

    @property
    def quote(self) -> str:
        return self.text.split(". ", 1)[0] + "."

    def search_result(self) -> dict[str, Any]:
        return {
            "type": "web_search_result",
            "url": self.url,
            "title": self.title,
            "encrypted_content": seal({"text": self.text}),
            "page_age": self.page_age,
        }

    def citation(self) -> dict[str, Any]:
        return {
            "type": "web_search_result_location",
            "url": self.url,
            "title": self.title,
            "encrypted_index": seal({"url": self.url, "start": 0}),
            "cited_text": self.quote,
        }


_SITES = (
    (
        "https://example.com/encyclopedia/{slug}",
        "{Topic} - Example Encyclopedia (demo)",
        "This made-up encyclopedia entry about “{topic}” stands in for a real search result. "
        "The fake Anthropic API wrote it, so nothing in it is true.",
        "2 days ago",
    ),
    (
        "https://example.org/guides/{slug}",
        "Guide: {topic} (demo page)",
        "This made-up guide to “{topic}” was written by the fake Anthropic API, not found on "
        "the web. A real search would bring back pages that people wrote.",
        "3 weeks ago",
    ),
    (
        "https://example.net/news/{slug}",
        "News: {topic} (demo)",
        "No real news about “{topic}” is here: this page is a placeholder from the fake "
        "Anthropic API. Set an API key to search the web for real.",
        None,
    ),
)
_TOPIC_CHARS = 60


def topic_of(query: str) -> str:
    topic = " ".join(query.split())
    if len(topic) > _TOPIC_CHARS:
        topic = topic[:_TOPIC_CHARS].rsplit(" ", 1)[0] + "…"
    return topic or "your question"


def slug_of(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:_TOPIC_CHARS].strip("-") or "page"


def search_pages(query: str, count: int, search: int = 0) -> list[FakePage]:
    """``count`` made-up results for a query, the same each time; ``search`` (the search's
    number in the turn) keeps the URLs of two searches for the same query apart."""
    topic = topic_of(query)
    slug = slug_of(topic) + (f"-{search + 1}" if search else "")
    pages = []
    for position in range(count):
        url, title, text, age = _SITES[position % len(_SITES)]
        round_ = position // len(_SITES)
        suffix = f"-{round_ + 1}" if round_ else ""
        pages.append(
            FakePage(
                url=url.format(slug=slug) + suffix,
                title=title.format(Topic=topic[:1].upper() + topic[1:], topic=topic),
                text=text.format(topic=topic),
                page_age=age,
            )
        )
    return pages


def fetched_page(url: str) -> FakePage:
    host = urlsplit(url).hostname or url
    return FakePage(
        url=url,
        title=f"{host} (simulated fetch)",
        text=(
            f"This is a simulated copy of {url}, made by the fake Anthropic API. Nothing was "
            "fetched from the web.\n\nA real fetch would give the page's text here, for Claude "
            "to read, quote and summarise."
        ),
        page_age=None,
    )


# --- server tool blocks sent back ----------------------------------------------------------------


def check_sent_back(where: str, block: dict[str, Any], tool_ids: set[str]) -> None:
    """Refuse a server tool block (or a text block's citations) of an assistant turn that the
    API would not take back; ``tool_ids`` collects the server tool calls seen so far."""
    kind = block.get("type")
    if kind == "server_tool_use":
        tool_id = block.get("id")
        if not isinstance(tool_id, str) or not _SERVER_TOOL_ID.fullmatch(tool_id):
            raise ApiRefusal(f"{where}.server_tool_use.id: String should match 'srvtoolu_…'")
        if block.get("name") not in SERVER_TOOL_NAMES:
            names = ", ".join(f"'{name}'" for name in SERVER_TOOL_NAMES)
            raise ApiRefusal(f"{where}.server_tool_use.name: Input should be one of {names}")
        if not isinstance(block.get("input"), dict):
            raise ApiRefusal(f"{where}.server_tool_use.input: Input should be a valid dictionary")
        tool_ids.add(tool_id)
    elif kind in ("web_search_tool_result", "web_fetch_tool_result"):
        if block.get("tool_use_id") not in tool_ids:
            raise ApiRefusal(
                f"{where}: `{kind}` block with tool_use_id `{block.get('tool_use_id')}` has no "
                "`server_tool_use` block with that id before it"
            )
        if kind == "web_search_tool_result":
            _check_search_content(f"{where}.{kind}.content", block.get("content"))
        else:
            _check_fetch_content(f"{where}.{kind}.content", block.get("content"))
    elif kind == "text" and block.get("citations") is not None:
        _check_citations(f"{where}.text.citations", block["citations"])


def _check_error(where: str, content: dict[str, Any], kind: str, codes: tuple[str, ...]) -> None:
    if content.get("error_code") not in codes:
        allowed = ", ".join(f"'{code}'" for code in codes)
        raise ApiRefusal(f"{where}.{kind}.error_code: Input should be one of {allowed}")


def _check_search_content(where: str, content: Any) -> None:
    if isinstance(content, dict) and content.get("type") == "web_search_tool_result_error":
        _check_error(where, content, "web_search_tool_result_error", SEARCH_ERROR_CODES)
        return
    if not isinstance(content, list):
        raise ApiRefusal(f"{where}: Input should be a list of results or an error object")
    for index, result in enumerate(content):
        place = f"{where}.{index}"
        if not isinstance(result, dict) or result.get("type") != "web_search_result":
            raise ApiRefusal(f"{place}.type: Input should be 'web_search_result'")
        for key in ("url", "title"):
            if not isinstance(result.get(key), str):
                raise ApiRefusal(f"{place}.{key}: Field required")
        if unseal(result.get("encrypted_content")) is None:
            raise ApiRefusal(f"{place}: Invalid `encrypted_content` in `web_search_result` block")


def _check_fetch_content(where: str, content: Any) -> None:
    if not isinstance(content, dict):
        raise ApiRefusal(f"{where}: Input should be a valid dictionary")
    if content.get("type") == "web_fetch_tool_result_error":
        _check_error(where, content, "web_fetch_tool_result_error", FETCH_ERROR_CODES)
        return
    if content.get("type") != "web_fetch_result":
        raise ApiRefusal(
            f"{where}.type: Input should be 'web_fetch_result' or 'web_fetch_tool_result_error'"
        )
    if not isinstance(content.get("url"), str):
        raise ApiRefusal(f"{where}.web_fetch_result.url: Field required")
    document = content.get("content")
    if not isinstance(document, dict) or document.get("type") != "document":
        raise ApiRefusal(f"{where}.web_fetch_result.content: Input should be a document block")


def _check_citations(where: str, citations: Any) -> None:
    if not isinstance(citations, list):
        raise ApiRefusal(f"{where}: Input should be a valid list")
    for index, citation in enumerate(citations):
        kind = citation.get("type") if isinstance(citation, dict) else None
        if kind not in CITATION_TYPES:
            allowed = ", ".join(f"'{known}'" for known in CITATION_TYPES)
            raise ApiRefusal(f"{where}.{index}.type: Input should be one of {allowed}")
        if not isinstance(citation.get("cited_text"), str):
            raise ApiRefusal(f"{where}.{index}.{kind}.cited_text: Field required")
        if kind == "web_search_result_location" and unseal(citation.get("encrypted_index")) is None:
            raise ApiRefusal(
                f"{where}.{index}: Invalid `encrypted_index` in `web_search_result_location`"
            )
