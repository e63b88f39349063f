"""A ``/v1/messages`` or ``count_tokens`` body checked as the real API checks it.

First its shape (a 400 naming the field), then against the catalogue: an unknown model is a 404,
a retired one too; ``max_tokens``, ``thinking``, ``output_config``, images, PDFs, citations and
server tools must be what the model's entry allows, a structured output's schema what the API
takes (``structured.py``); thinking blocks sent back must carry the signature the fake gave
them, server tool results the content it gave them; images and documents must read
(``media.py``); the prompt must fit ``max_input_tokens``. Every refusal about the model is one
the caller could have avoided by reading ``GET /v1/models``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalogue import EFFORT_LEVELS, Catalogue
from .files import FileStore
from .media import DocumentInfo, ImageInfo, read_media
from .prompt import Prompt, build_prompt
from .refusals import ApiRefusal
from .server_tools import WEB_TOOLS, ServerTool, check_sent_back, read_tools
from .structured import check_format
from .thinking import redacted_data_matches, signature_matches

MIN_THINKING_BUDGET = 1024
_THINKING_BUDGET_DOCS = (
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    "#max-tokens-and-context-window-size"
)


@dataclass(frozen=True)
class ThinkingRequest:
    type: str  # "adaptive" or "enabled": the kinds that make the model think
    display: str  # "summarized" (text streamed) or "omitted" (signature only)


@dataclass
class MessagesRequest:
    model: dict[str, Any]  # the catalogue's entry; its id is the snapshot's
    max_tokens: int
    stream: bool
    stop_sequences: list[str]
    prompt: Prompt
    user_text: str
    thinking: ThinkingRequest | None
    # The blocks of a last assistant turn (a paused one, or prefill), else None.
    continued_blocks: list[dict[str, Any]] | None
    last_user_message: int  # the position of the last user message
    server_tools: dict[str, ServerTool]  # the web tools offered, by name
    documents: list[DocumentInfo]
    images: list[ImageInfo]
    # The JSON schema of a structured output (``output_config.format``), else None.
    output_schema: dict[str, Any] | None = None

    @property
    def model_id(self) -> str:
        return self.model["id"]

    @property
    def input_tokens(self) -> int:
        return self.prompt.tokens


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_of(content: Any, separator: str = "") -> str:
    """The text blocks of a message's content, joined."""
    if isinstance(content, str):
        return content
    return separator.join(
        block["text"]
        for block in content
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _last_user(messages: list[dict[str, Any]]) -> int:
    """The position of the last user message (its text is what ``match`` and inline
    directives look at)."""
    for position in range(len(messages) - 1, -1, -1):
        if messages[position].get("role") == "user":
            return position
    return -1


def _continued_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The blocks of the assistant turn at the end, if any (consecutive assistant messages are
    one turn, as the API merges them)."""
    blocks: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message["role"] != "assistant":
            break
        content = message["content"]
        blocks[:0] = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return blocks if messages[-1]["role"] == "assistant" else None


def validate_request(
    body: Any,
    catalogue: Catalogue,
    *,
    files: FileStore | None = None,
    counting: bool = False,
) -> MessagesRequest:
    """Check a /v1/messages body (``counting``: a count_tokens body, without max_tokens);
    ``files``: the Files API's store, where ``file`` sources are looked up."""
    _check_shape(body, counting=counting)
    model = _resolve_model(body["model"], catalogue)
    max_tokens = body.get("max_tokens", 1)
    if not counting and max_tokens > model["max_tokens"]:
        raise ApiRefusal(
            f"max_tokens: {max_tokens} > {model['max_tokens']}, which is the maximum allowed "
            f"number of output tokens for {model['id']}"
        )
    thinking = _check_thinking(body.get("thinking"), model, None if counting else max_tokens)
    output_schema = _check_output_config(body.get("output_config"), model)
    server_tools = read_tools(body.get("tools") or [])
    _check_tools(body, model)
    _check_content(body, model, files)
    media = read_media(body["messages"], files)
    try:
        prompt = build_prompt(body, media.tokens)
    except ValueError as error:
        raise ApiRefusal(str(error)) from None
    if not counting and prompt.tokens > model["max_input_tokens"]:
        raise ApiRefusal(
            f"prompt is too long: {prompt.tokens} tokens > {model['max_input_tokens']} maximum"
        )
    messages = body["messages"]
    last_user = _last_user(messages)
    stop_sequences = body.get("stop_sequences") or []
    return MessagesRequest(
        model=model,
        max_tokens=max_tokens,
        stream=bool(body.get("stream", False)),
        stop_sequences=[item for item in stop_sequences if item],
        prompt=prompt,
        user_text=_text_of(messages[last_user]["content"], "\n") if last_user >= 0 else "",
        thinking=thinking,
        continued_blocks=_continued_blocks(messages),
        last_user_message=last_user,
        server_tools=server_tools,
        documents=media.documents,
        images=media.images,
        output_schema=output_schema,
    )


def check_shape(body: Any) -> None:
    """Only the shape of a /v1/messages body (what a batch checks when it is created):
    ``ApiRefusal`` naming the field."""
    _check_shape(body, counting=False)


def _check_shape(body: Any, *, counting: bool) -> None:
    if not isinstance(body, dict):
        raise ApiRefusal("Request body must be a JSON object")
    required = ("model", "messages") if counting else ("model", "max_tokens", "messages")
    for name in required:
        if name not in body:
            raise ApiRefusal(f"{name}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise ApiRefusal("model: Input should be a valid string")
    max_tokens = body.get("max_tokens", 1)
    if not _is_int(max_tokens):
        raise ApiRefusal("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise ApiRefusal("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise ApiRefusal("messages: Input should be a valid list")
    if not messages:
        raise ApiRefusal("messages: at least one message is required")
    for position, message in enumerate(messages):
        where = f"messages.{position}"
        if not isinstance(message, dict):
            raise ApiRefusal(f"{where}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise ApiRefusal(f"{where}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise ApiRefusal(f"{where}.content: Field required")
        _check_blocks(f"{where}.content", message["content"])
    system = body.get("system")
    if system is not None:
        _check_blocks("system", system)
    for name, kind in (("tools", list), ("thinking", dict), ("output_config", dict)):
        if body.get(name) is not None and not isinstance(body[name], kind):
            what = "list" if kind is list else "dictionary"
            raise ApiRefusal(f"{name}: Input should be a valid {what}")
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict):
            raise ApiRefusal(f"tools.{index}: Input should be a valid dictionary")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise ApiRefusal("stream: Input should be a valid boolean")
    stop_sequences = body.get("stop_sequences") or []
    if not isinstance(stop_sequences, list) or not all(
        isinstance(item, str) for item in stop_sequences
    ):
        raise ApiRefusal("stop_sequences: Input should be a valid list of strings")


def _check_blocks(where: str, content: Any) -> None:
    if isinstance(content, list):
        for index, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise ApiRefusal(f"{where}.{index}.type: Field required")
    elif not isinstance(content, str):
        raise ApiRefusal(f"{where}: Input should be a valid string or list")


def _resolve_model(name: str, catalogue: Catalogue) -> dict[str, Any]:
    model = catalogue.get(name)
    if model is None:
        raise ApiRefusal(f"model: {name}", status=404, error_type="not_found_error")
    if model["lifecycle"] == "retired":
        retired_on = (model.get("retires_at") or "")[:10] or "an earlier date"
        raise ApiRefusal(
            f"model: {model['id']} was retired on {retired_on} and is no longer available. "
            "See GET /v1/models for the models you can use.",
            status=404,
            error_type="not_found_error",
        )
    return model


def _supported(model: dict[str, Any], *path: str) -> bool:
    """Whether ``capabilities.<path>.supported`` holds (a missing key means no)."""
    node: Any = model["capabilities"]
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return bool(isinstance(node, dict) and node.get("supported"))


def _accepted(group: dict[str, Any]) -> str:
    names = [name for name, flag in group.items() if isinstance(flag, dict) and flag["supported"]]
    return ", ".join(names) or "none"


def _check_thinking(
    thinking: dict[str, Any] | None, model: dict[str, Any], max_tokens: int | None
) -> ThinkingRequest | None:
    if thinking is None:
        return None
    types = model["capabilities"]["thinking"]["types"]
    kind = thinking.get("type")
    if kind not in ("adaptive", "enabled", "disabled", "between_tools"):
        raise ApiRefusal(
            "thinking.type: Input should be 'adaptive', 'enabled', 'disabled' or 'between_tools'"
        )
    if not _supported(model, "thinking", "types", kind):
        raise ApiRefusal(
            f"thinking.type.{kind} is not supported for this model ({model['id']}); "
            f"it accepts: {_accepted(types)}"
        )
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if budget is None:
            raise ApiRefusal("thinking.enabled.budget_tokens: Field required")
        if not _is_int(budget):
            raise ApiRefusal("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < MIN_THINKING_BUDGET:
            raise ApiRefusal(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to "
                f"{MIN_THINKING_BUDGET}"
            )
        if max_tokens is not None and budget >= max_tokens:
            raise ApiRefusal(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
                f"our documentation at {_THINKING_BUDGET_DOCS}"
            )
    if kind not in ("adaptive", "enabled"):
        return None
    display = thinking.get("display")
    if display not in (None, "summarized", "omitted"):
        raise ApiRefusal(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    if display is None:
        # The newest models (adaptive only) omit the thinking text unless asked to summarize.
        display = "summarized" if _supported(model, "thinking", "types", "enabled") else "omitted"
    return ThinkingRequest(kind, display)


def _check_output_config(
    config: dict[str, Any] | None, model: dict[str, Any]
) -> dict[str, Any] | None:
    """Effort and format checked against the model; the format's schema, if one is given."""
    if not config:
        return None
    effort = config.get("effort")
    if effort is not None:
        if effort not in EFFORT_LEVELS:
            raise ApiRefusal(
                "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
            )
        if not _supported(model, "effort"):
            raise ApiRefusal(
                f"output_config.effort: effort is not supported for this model ({model['id']})"
            )
        if not _supported(model, "effort", effort):
            levels = {
                level: flag
                for level, flag in model["capabilities"]["effort"].items()
                if level != "supported"
            }
            raise ApiRefusal(
                f"output_config.effort: '{effort}' is not supported for this model "
                f"({model['id']}); it accepts: {_accepted(levels)}"
            )
    if config.get("format") is None:
        return None
    if not _supported(model, "structured_outputs"):
        raise ApiRefusal(
            "output_config.format: structured outputs are not supported for this model "
            f"({model['id']})"
        )
    return check_format(config["format"])


def _refused_block(
    block: dict[str, Any], model: dict[str, Any], files: FileStore | None
) -> str | None:
    """What a content block asks of the model that its capabilities do not allow."""
    kind = block.get("type")
    if kind == "image" and not _supported(model, "image_input"):
        return "image input is not supported"
    if kind == "document":
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        media_type = source.get("media_type")
        if source.get("type") == "file" and files is not None:
            stored = files.get(str(source.get("file_id")))
            media_type = stored.mime_type if stored is not None else None
        is_pdf = source.get("type") == "url" or media_type == "application/pdf"
        if is_pdf and not _supported(model, "pdf_input"):
            return "PDF input is not supported"
        citations = block.get("citations")
        if isinstance(citations, dict) and citations.get("enabled"):
            if not _supported(model, "citations"):
                return "citations are not supported"
    return None


def _check_tools(body: dict[str, Any], model: dict[str, Any]) -> None:
    """Server tools need ``server_tools.<name>``; web fetch goes with web search (the
    capabilities have no key of its own)."""
    prefixes = (*WEB_TOOLS.values(), "code_execution_")
    for index, tool in enumerate(body.get("tools") or []):
        kind = str(tool.get("type", ""))
        for prefix in prefixes:
            name = prefix.rstrip("_")
            capability = "code_execution" if name == "code_execution" else "web_search"
            if kind.startswith(prefix) and not _supported(model, "server_tools", capability):
                raise ApiRefusal(
                    f"tools.{index}: the {name} tool is not supported for this model "
                    f"({model['id']})"
                )


def _check_content(body: dict[str, Any], model: dict[str, Any], files: FileStore | None) -> None:
    tool_ids: set[str] = set()
    for position, message in enumerate(body["messages"]):
        content = message["content"]
        if isinstance(content, str):
            continue
        for index, block in enumerate(content):
            where = f"messages.{position}.content.{index}"
            nested = block.get("content") if block.get("type") == "tool_result" else None
            for inner in [block, *(nested if isinstance(nested, list) else [])]:
                if isinstance(inner, dict) and (refused := _refused_block(inner, model, files)):
                    raise ApiRefusal(f"{where}: {refused} for this model ({model['id']})")
            if message["role"] == "assistant":
                _check_signed(where, block)
                check_sent_back(where, block, tool_ids)


def _check_signed(where: str, block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind == "thinking" and not signature_matches(block.get("thinking"), block.get("signature")):
        raise ApiRefusal(f"{where}: Invalid `signature` in `thinking` block")
    if kind == "redacted_thinking" and not redacted_data_matches(block.get("data")):
        raise ApiRefusal(f"{where}: Invalid `data` in `redacted_thinking` block")
