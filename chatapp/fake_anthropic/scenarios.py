"""What the fake server answers: scenarios, their JSON form, the demo reply and token splitting.

A scenario is a plain JSON object with a ``kind``; ``parse_scenario`` turns it into one of the
frozen dataclasses below or raises ``ValueError`` with a message meant for the person who wrote
it (it is sent back verbatim by ``POST /_fake/scenarios`` and for a bad inline directive).
Nothing here does I/O: the server in ``server.py`` decides how each scenario goes on the wire.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar

from .server_tools import FETCH_ERROR_CODES, SEARCH_ERROR_CODES

RECORDINGS_DIR = Path(__file__).resolve().parent / "recordings"

# The stop reasons the SDK knows. A scenario may send any other lowercase word too, to test
# that the app copes with a value added after it was written.
STOP_REASONS = (
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
)
_STOP_REASON_RE = re.compile(r"[a-z][a-z_]*")

# error type -> (HTTP status, the message the real API tends to send)
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "invalid_request_error": (400, "Invalid request"),
    "authentication_error": (401, "invalid x-api-key"),
    "billing_error": (402, "Your credit balance is too low to access the Anthropic API."),
    "permission_error": (403, "Your API key does not have permission to use this resource."),
    "not_found_error": (404, "Not found"),
    "request_too_large": (413, "Request exceeds the maximum allowed number of bytes."),
    "rate_limit_error": (429, "Number of requests has exceeded your per-minute rate limit"),
    "api_error": (500, "Internal server error"),
    "timeout_error": (504, "Request timed out"),
    "overloaded_error": (529, "Overloaded"),
}
_TYPE_BY_STATUS = {status: error_type for error_type, (status, _) in ERROR_TYPES.items()}


def error_type_for_status(status: int) -> str:
    """The ``error.type`` the real API pairs with an HTTP status."""
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def default_error_message(error_type: str) -> str:
    return ERROR_TYPES.get(error_type, (0, "Error"))[1]


def status_for_error_type(error_type: str) -> int:
    return ERROR_TYPES.get(error_type, (500, ""))[0]


def recording_names() -> list[str]:
    """Names accepted by a ``recording`` scenario (file names without ``.sse``)."""
    return sorted(path.stem for path in RECORDINGS_DIR.glob("*.sse"))


@cache
def recording_events(name: str) -> tuple[bytes, ...]:
    """A recording cut into its SSE events; joined they give back the file, each event
    ended by the blank line the API always sends (the fixtures' files drop the last one,
    which would leave the SDK's decoder holding back the final `message_stop`)."""
    raw = (RECORDINGS_DIR / f"{name}.sse").read_bytes()
    raw = raw.rstrip(b"\n") + b"\n\n"
    return tuple(part for part in re.split(rb"(?<=\n\n)", raw) if part)


# --- scenarios ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Fields every kind shares: which requests it applies to and how many it serves."""

    kind: ClassVar[str] = ""
    match: str | None = None
    times: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind, **asdict(self)}
        return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True, kw_only=True)
class ReplyScenario(Scenario):
    """A normal reply. Neither ``text`` nor ``tokens``: the server's default reply.

    ``thinking`` and ``redacted_thinking`` only matter when the request asks for thinking.
    ``continuation`` is the text that finishes a ``pause_turn`` reply once it is sent back."""

    kind: ClassVar[str] = "reply"
    text: str | None = None
    tokens: int | None = None
    thinking: str | None = None
    redacted_thinking: bool | None = None
    chunk: int = 1
    token_delay: float | None = None
    first_token_delay: float | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None
    stop_details: Mapping[str, Any] | None = None
    continuation: str | None = None
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class StreamErrorScenario(ReplyScenario):
    """HTTP 200, then an ``event: error`` after ``after_tokens`` deltas, then the body ends."""

    kind: ClassVar[str] = "stream_error"
    after_tokens: int = 3
    error_type: str = "overloaded_error"
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class DropScenario(ReplyScenario):
    """HTTP 200, then the TCP connection is aborted after ``after_tokens`` deltas."""

    kind: ClassVar[str] = "drop"
    after_tokens: int = 3


@dataclass(frozen=True, kw_only=True)
class HangScenario(ReplyScenario):
    """HTTP 200, then silence for ``seconds`` after ``after_tokens`` deltas, then the rest."""

    kind: ClassVar[str] = "hang"
    after_tokens: int = 0
    seconds: float = 3600.0


@dataclass(frozen=True, kw_only=True)
class CiteScenario(ReplyScenario):
    """A reply quoting the request's documents that have citations enabled: ``quotes`` quotes,
    from the ``documents`` named by ``document_index`` (default: the citable documents of the
    last user turn, else all), one document after the other."""

    kind: ClassVar[str] = "cite"
    quotes: int = 3
    documents: tuple[int, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class WebSearchScenario(ReplyScenario):
    """``searches`` web searches (default: one per query or error given, else one), their
    results (or ``error``/``errors``: an error code for every search, or one per search, null
    for none), then an answer citing the results. ``pause_after`` ends the turn with
    ``pause_turn`` after that many searches; sent back, the turn goes on from there."""

    kind: ClassVar[str] = "web_search"
    searches: int | None = None
    queries: tuple[str, ...] | None = None
    results: int = 3
    error: str | None = None
    errors: tuple[str | None, ...] | None = None
    pause_after: int | None = None


@dataclass(frozen=True, kw_only=True)
class WebFetchScenario(ReplyScenario):
    """A web fetch of each of ``urls`` (``url`` for one; default: the first URL in the user's
    message, else https://example.com/), then an answer; ``error``, ``errors`` and
    ``pause_after`` as for ``web_search``."""

    kind: ClassVar[str] = "web_fetch"
    urls: tuple[str, ...] | None = None
    error: str | None = None
    errors: tuple[str | None, ...] | None = None
    pause_after: int | None = None


@dataclass(frozen=True, kw_only=True)
class RecordingScenario(Scenario):
    kind: ClassVar[str] = "recording"
    name: str = ""
    token_delay: float | None = None


@dataclass(frozen=True, kw_only=True)
class HttpErrorScenario(Scenario):
    kind: ClassVar[str] = "http_error"
    status: int = 500
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    should_retry: bool | None = None

    @property
    def resolved_error_type(self) -> str:
        return self.error_type or error_type_for_status(self.status)

    @property
    def resolved_message(self) -> str:
        return self.message or default_error_message(self.resolved_error_type)


SCENARIO_KINDS: dict[str, type[Scenario]] = {
    cls.kind: cls
    for cls in (
        ReplyScenario,
        StreamErrorScenario,
        DropScenario,
        HangScenario,
        RecordingScenario,
        HttpErrorScenario,
        CiteScenario,
        WebSearchScenario,
        WebFetchScenario,
    )
}

_USAGE_INT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
_CACHE_SPLIT_FIELDS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


class _Reader:
    """Pops typed fields out of a scenario dict, so leftovers can be reported as unknown."""

    def __init__(self, data: Mapping[str, Any], kind: str) -> None:
        self.data = dict(data)
        self.kind = kind

    def _fail(self, name: str, expected: str) -> ValueError:
        value = json.dumps(self.data[name]) if name in self.data else "nothing"
        return ValueError(f"{self.kind} scenario: '{name}' must be {expected}, got {value}")

    def _absent(self, name: str) -> bool:
        """Whether the field is missing or null (a null one is dropped, as if missing)."""
        if self.data.get(name) is None:
            self.data.pop(name, None)
            return True
        return False

    def string(self, name: str, *, non_empty: bool = False) -> str | None:
        if self._absent(name):
            return None
        value = self.data[name]
        if not isinstance(value, str) or (non_empty and not value):
            raise self._fail(name, "a non-empty string" if non_empty else "a string")
        return self.data.pop(name)

    def integer(self, name: str, *, minimum: int) -> int | None:
        if self._absent(name):
            return None
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._fail(name, f"an integer >= {minimum}")
        return self.data.pop(name)

    def number(self, name: str) -> float | None:
        if self._absent(name):
            return None
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self._fail(name, "a number of seconds >= 0")
        return float(self.data.pop(name))

    def boolean(self, name: str) -> bool | None:
        if self._absent(name):
            return None
        if not isinstance(self.data[name], bool):
            raise self._fail(name, "true or false")
        return self.data.pop(name)

    def mapping(self, name: str) -> dict[str, Any] | None:
        if self._absent(name):
            return None
        if not isinstance(self.data[name], dict):
            raise self._fail(name, "an object")
        return self.data.pop(name)

    def strings(self, name: str, *, allowed: tuple[str, ...] | None = None) -> tuple | None:
        """A list of strings (each one of ``allowed`` or null, when given)."""
        if self._absent(name):
            return None
        value = self.data[name]
        if allowed is None:
            ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
            expected = "a non-empty list of strings"
        else:
            ok = isinstance(value, list) and all(v is None or v in allowed for v in value)
            expected = f"a list of error codes ({', '.join(allowed)}) or nulls"
        if not ok:
            raise self._fail(name, expected)
        return tuple(self.data.pop(name))

    def integers(self, name: str) -> tuple[int, ...] | None:
        if self._absent(name):
            return None
        value = self.data[name]
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
        ):
            raise self._fail(name, "a list of integers >= 0")
        return tuple(self.data.pop(name))

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        if self._absent(name):
            return None
        if self.data[name] not in allowed:
            raise self._fail(name, f"one of {', '.join(allowed)}")
        return self.data.pop(name)

    def usage(self) -> dict[str, Any] | None:
        usage = self.mapping("usage")
        if usage is None:
            return None
        for key, value in usage.items():
            if key in _USAGE_INT_FIELDS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{self.kind} scenario: 'usage.{key}' must be an integer >= 0")
            elif key == "cache_creation":
                if not isinstance(value, dict) or set(value) - set(_CACHE_SPLIT_FIELDS):
                    raise ValueError(
                        f"{self.kind} scenario: 'usage.cache_creation' must be an object with "
                        f"{' and/or '.join(_CACHE_SPLIT_FIELDS)}"
                    )
                for split_key, split_value in value.items():
                    if not isinstance(split_value, int) or isinstance(split_value, bool):
                        raise ValueError(
                            f"{self.kind} scenario: 'usage.cache_creation.{split_key}' "
                            "must be an integer"
                        )
            elif key == "service_tier":
                if value not in ("standard", "priority", "batch"):
                    raise ValueError(
                        f"{self.kind} scenario: 'usage.service_tier' must be "
                        "'standard', 'priority' or 'batch'"
                    )
            elif key not in ("server_tool_use", "output_tokens_details"):
                raise ValueError(f"{self.kind} scenario: unknown usage field '{key}'")
        return usage

    def finish(self, cls: type[Scenario]) -> None:
        if self.data:
            allowed = sorted({"kind", "match", "times"} | {f.name for f in fields(cls)})
            raise ValueError(
                f"{self.kind} scenario: unknown field(s) {', '.join(sorted(self.data))}; "
                f"allowed: {', '.join(allowed)}"
            )


def _read_reply_fields(reader: _Reader) -> dict[str, Any]:
    values: dict[str, Any] = {
        "text": reader.string("text"),
        "tokens": reader.integer("tokens", minimum=0),
        "thinking": reader.string("thinking"),
        "redacted_thinking": reader.boolean("redacted_thinking"),
        "chunk": reader.integer("chunk", minimum=1) or 1,
        "token_delay": reader.number("token_delay"),
        "first_token_delay": reader.number("first_token_delay"),
        "stop_reason": reader.string("stop_reason"),
        "stop_sequence": reader.string("stop_sequence", non_empty=True),
        "stop_details": reader.mapping("stop_details"),
        "continuation": reader.string("continuation"),
        "usage": reader.usage(),
    }
    if values["text"] is not None and values["tokens"] is not None:
        raise ValueError(f"{reader.kind} scenario: give 'text' or 'tokens', not both")
    stop_reason = values["stop_reason"]
    if stop_reason is not None and not _STOP_REASON_RE.fullmatch(stop_reason):
        raise ValueError(
            f"{reader.kind} scenario: 'stop_reason' must be one of {', '.join(STOP_REASONS)} "
            "or another lowercase word (sent as is)"
        )
    if values["stop_sequence"] is not None and stop_reason not in (None, "stop_sequence"):
        raise ValueError(
            f"{reader.kind} scenario: 'stop_sequence' goes with stop_reason 'stop_sequence'"
        )
    return values


def _read_server_tool_fields(reader: _Reader, cls: type[Scenario]) -> dict[str, Any]:
    codes = SEARCH_ERROR_CODES if cls is WebSearchScenario else FETCH_ERROR_CODES
    values: dict[str, Any] = {
        "error": reader.choice("error", codes),
        "errors": reader.strings("errors", allowed=codes),
        "pause_after": reader.integer("pause_after", minimum=1),
    }
    if values["error"] is not None and values["errors"] is not None:
        raise ValueError(f"{reader.kind} scenario: give 'error' or 'errors', not both")
    if cls is WebSearchScenario:
        values["searches"] = reader.integer("searches", minimum=1)
        values["queries"] = reader.strings("queries")
        results = reader.integer("results", minimum=0)
        if results is not None:
            values["results"] = min(results, 20)
        calls = (
            values["searches"] or len(values["queries"] or ()) or len(values["errors"] or ()) or 1
        )
    else:
        url = reader.string("url", non_empty=True)
        urls = reader.strings("urls")
        if url is not None and urls is not None:
            raise ValueError("web_fetch scenario: give 'url' or 'urls', not both")
        values["urls"] = (url,) if url is not None else urls
        calls = len(values["urls"] or ()) or 1
    if values["pause_after"] is not None and values["pause_after"] > calls:
        raise ValueError(
            f"{reader.kind} scenario: 'pause_after' ({values['pause_after']}) is more than the "
            f"{calls} call(s) it makes"
        )
    return values


def parse_scenario(data: Any) -> Scenario:
    """Build a scenario from its JSON form; ``ValueError`` says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError(f"a scenario must be a JSON object, got {json.dumps(data)[:80]}")
    kind = data.get("kind")
    if kind not in SCENARIO_KINDS:
        raise ValueError(
            f"scenario 'kind' must be one of {', '.join(SCENARIO_KINDS)}, got {json.dumps(kind)}"
        )
    cls = SCENARIO_KINDS[kind]
    reader = _Reader(data, kind)
    reader.data.pop("kind")
    values: dict[str, Any] = {
        "match": reader.string("match", non_empty=True),
        "times": reader.integer("times", minimum=1) or 1,
    }
    if cls is RecordingScenario:
        name = reader.string("name", non_empty=True)
        if name is not None and name.endswith(".sse"):
            name = name[: -len(".sse")]
        if name not in recording_names():
            raise ValueError(
                f"recording scenario: 'name' must be one of {', '.join(recording_names())}, "
                f"got {json.dumps(name)}"
            )
        values.update(name=name, token_delay=reader.number("token_delay"))
    elif cls is HttpErrorScenario:
        status = reader.integer("status", minimum=400)
        if status is None or status > 599:
            raise ValueError("http_error scenario: 'status' must be an HTTP status from 400 to 599")
        values.update(
            status=status,
            error_type=reader.string("error_type", non_empty=True),
            message=reader.string("message"),
            retry_after=reader.number("retry_after"),
            should_retry=reader.boolean("should_retry"),
        )
    else:
        values.update(_read_reply_fields(reader))
        if cls is not ReplyScenario:
            after_tokens = reader.integer("after_tokens", minimum=0)
            if after_tokens is not None:
                values["after_tokens"] = after_tokens
        if cls is StreamErrorScenario:
            error_type = reader.string("error_type", non_empty=True)
            if error_type is not None:
                values["error_type"] = error_type
            values["message"] = reader.string("message")
        if cls is HangScenario:
            seconds = reader.number("seconds")
            if seconds is not None:
                values["seconds"] = seconds
        if cls is CiteScenario:
            quotes = reader.integer("quotes", minimum=1)
            if quotes is not None:
                values["quotes"] = quotes
            values["documents"] = reader.integers("documents")
        if cls in (WebSearchScenario, WebFetchScenario):
            values.update(_read_server_tool_fields(reader, cls))
    reader.finish(cls)
    return cls(**values)


def parse_scenarios(data: Any) -> list[Scenario]:
    """One scenario object or a list of them; the error names the position of a bad one."""
    if isinstance(data, list):
        scenarios = []
        for position, item in enumerate(data):
            try:
                scenarios.append(parse_scenario(item))
            except ValueError as error:
                raise ValueError(f"scenario {position}: {error}") from None
        return scenarios
    return [parse_scenario(data)]


@dataclass
class _Queued:
    scenario: Scenario
    remaining: int


@dataclass
class ScenarioQueue:
    """FIFO of scenarios; not thread-safe: the server touches it only from its event loop."""

    _items: list[_Queued] = field(default_factory=list)

    def extend(self, scenarios: Iterable[Scenario]) -> None:
        self._items.extend(_Queued(scenario, scenario.times) for scenario in scenarios)

    def take(self, user_text: str) -> Scenario | None:
        """The first queued scenario whose ``match`` is in ``user_text``, counting one use."""
        for position, item in enumerate(self._items):
            if item.scenario.match is None or item.scenario.match in user_text:
                item.remaining -= 1
                if item.remaining <= 0:
                    del self._items[position]
                return item.scenario
        return None

    def clear(self) -> None:
        self._items.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [{**item.scenario.to_dict(), "remaining": item.remaining} for item in self._items]

    def __len__(self) -> int:
        return len(self._items)


# --- inline directives ---------------------------------------------------------------------------

INLINE_PREFIX = "[[fake:"
_INLINE_RE = re.compile(r"\[\[fake:.*?\]\]", re.DOTALL)


def inline_directive(text: str) -> Any:
    """The JSON of a ``[[fake:{...}]]`` directive inside a user message, if there is one
    (``None`` if not); ``ValueError`` if it does not parse."""
    start = text.find(INLINE_PREFIX)
    if start < 0:
        return None
    try:
        data, end = json.JSONDecoder().raw_decode(text, start + len(INLINE_PREFIX))
    except json.JSONDecodeError as error:
        raise ValueError(f"[[fake:...]] directive is not valid JSON: {error.msg}") from None
    if not text.startswith("]]", end):
        raise ValueError("[[fake:...]] directive must end with ']]' right after the JSON object")
    if data is None:
        raise ValueError("a scenario must be a JSON object, got null")
    return data


def find_inline_directive(text: str) -> Scenario | None:
    """The scenario in a ``[[fake:{...}]]`` directive inside a user message, if there is one."""
    data = inline_directive(text)
    return None if data is None else parse_scenario(data)


def strip_inline_directives(text: str) -> str:
    return _INLINE_RE.sub("", text).strip()


# --- tokens --------------------------------------------------------------------------------------

# A token is a run of leading whitespace plus a word (at most 10 characters, longer words are cut)
# or one punctuation character; trailing whitespace becomes a token of its own.
_TOKEN_RE = re.compile(r"\s*(?:\w{1,10}|[^\w\s])|\s+")


def split_tokens(text: str) -> list[str]:
    """Cut text into tokens the way the stream sends them: ``"".join(result) == text``."""
    return _TOKEN_RE.findall(text)


_FILLER_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat"
).split()


@lru_cache(maxsize=64)
def filler_tokens(count: int) -> tuple[str, ...]:
    """``count`` tokens of filler text: "Lorem", " ipsum", " dolor", ..."""
    tokens = [f" {_FILLER_WORDS[i % len(_FILLER_WORDS)]}" for i in range(count)]
    if tokens:
        tokens[0] = tokens[0][1:].capitalize()
    return tuple(tokens)


# --- the demo reply ------------------------------------------------------------------------------

_DEMO_OPENINGS = (
    "Thanks for your message! Here is how a reply would usually be laid out:",
    "Good question. A real answer would normally cover these points:",
    "Happy to help with that. A typical answer would include:",
)
_DEMO_LISTS = (
    ("a short, direct answer first", "an example that shows the idea", "a summary of next steps"),
    ("the key idea in one sentence", "the trade-offs worth knowing", "a link to further reading"),
    ("what the problem really is", "a step-by-step approach", "a way to check the result"),
)
_DEMO_CODE = (
    'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n\n\nprint(greet("demo mode"))',
    "numbers = [3, 1, 2]\nprint(sorted(numbers))  # [1, 2, 3]",
    'words = "the quick brown fox".split()\nprint(len(words), "words")',
)
QUOTE_LENGTH = 80


def _attachments(images: Iterable[Any], documents: Iterable[Any]) -> str:
    """A sentence naming the images and documents read (``media.ImageInfo``, ``DocumentInfo``)."""
    parts = [f"an image ({image.width} x {image.height} px)" for image in images]
    for document in documents:
        title = f" “{document.title}”" if document.title else ""
        if document.kind == "pdf":
            pages = len(document.pages)
            parts.append(f"a PDF{title} ({pages} page{'' if pages == 1 else 's'})")
        else:
            parts.append(f"a document{title}")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"You attached {listed}: the fake API read {'it' if len(parts) == 1 else 'them'}.\n\n"


def demo_reply(prompt: str, images: Iterable[Any] = (), documents: Iterable[Any] = ()) -> str:
    """The simulated reply used when no API key is set: same prompt, same reply. It names the
    images and documents given (those of the last user turn)."""
    words = strip_inline_directives(prompt).split()
    quote = " ".join(words)
    if len(quote) > QUOTE_LENGTH:
        quote = quote[:QUOTE_LENGTH].rstrip() + "…"
    variant = zlib.crc32(prompt.encode("utf-8"))
    opening = _DEMO_OPENINGS[variant % len(_DEMO_OPENINGS)]
    bullets = _DEMO_LISTS[(variant // 3) % len(_DEMO_LISTS)]
    code = _DEMO_CODE[(variant // 9) % len(_DEMO_CODE)]
    bullet_lines = "\n".join(f"- {bullet}" for bullet in bullets)
    return (
        "**This is a simulated reply** (demo mode: no API key is set, "
        "so no real Claude model was called).\n\n"
        f"You wrote:\n\n> {quote or '(no text)'}\n\n"
        f"{_attachments(images, documents)}"
        f"{opening}\n\n{bullet_lines}\n\n"
        f"```python\n{code}\n```\n\n"
        "Set an Anthropic API key to get real answers from Claude."
    )
