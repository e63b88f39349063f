"""A reply's content blocks as the fake builds them: what each streams and what it is whole.

Text, thinking and a server tool's input are streamed as deltas and billed as output, one token
per piece of ``tokens``; a redacted thinking block and a server tool's result arrive whole in
``content_block_start`` and cost no output. A text block that cites carries its citations, sent
as ``citations_delta`` events before its text.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from typing import Any

from .scenarios import split_tokens

_ID_ALPHABET = string.ascii_letters + string.digits


def random_id(prefix: str) -> str:
    return prefix + "".join(random.choices(_ID_ALPHABET, k=24))


STREAMED = ("thinking", "text", "server_tool_use")
WHOLE = ("redacted_thinking", "web_search_tool_result", "web_fetch_tool_result")


@dataclass
class Block:
    kind: str  # one of STREAMED or WHOLE
    tokens: list[str] = field(default_factory=list)  # the output, as the stream cuts it
    hidden: int = 0  # thinking billed but not shown (display "omitted")
    signature: str = ""  # a thinking block's
    citations: list[dict[str, Any]] | None = None  # a text block that cites
    data: dict[str, Any] | None = None  # a whole block; a server_tool_use's id and name

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def output_tokens(self) -> int:
        return len(self.tokens) + self.hidden if self.kind in STREAMED else 0

    def whole(self) -> dict[str, Any]:
        """The block as the whole Message holds it."""
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        if self.kind == "text":
            block: dict[str, Any] = {"type": "text", "text": self.text}
            if self.citations is not None:
                block["citations"] = self.citations
            return block
        if self.kind == "server_tool_use":
            assert self.data is not None
            return {**self.data, "input": json.loads(self.text) if self.tokens else {}}
        assert self.data is not None
        return self.data

    def start(self) -> dict[str, Any]:
        """The block as ``content_block_start`` announces it: empty, or whole."""
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": "", "signature": ""}
        if self.kind == "text":
            return {"type": "text", "text": ""} if self.citations is None else _CITED_START
        if self.kind == "server_tool_use":
            return {**(self.data or {}), "input": {}}
        return self.whole()


_CITED_START = {"type": "text", "text": "", "citations": []}


def text_block(tokens: list[str], citation: dict[str, Any] | None = None) -> Block:
    return Block("text", tokens, citations=None if citation is None else [citation])


def server_tool_use(tool_id: str, name: str, tool_input: dict[str, Any]) -> Block:
    """A server tool call whose input JSON streams as ``input_json_delta`` pieces."""
    return Block(
        "server_tool_use",
        split_tokens(json.dumps(tool_input, ensure_ascii=False)),
        data={"type": "server_tool_use", "id": tool_id, "name": name},
    )


def turn_key(blocks: list[Any]) -> str:
    """What identifies the end of an assistant turn, to find the continuation of a paused one:
    the id of its last server tool call (use or result) and the text after it, or, without
    one, all its text. The same for the turn the fake sent and the turn sent back."""
    tool_id: str | None = None
    texts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "server_tool_use" or kind in WHOLE[1:]:
            found = block.get("id") if kind == "server_tool_use" else block.get("tool_use_id")
            tool_id, texts = str(found), []
        elif kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
    text = "".join(texts)
    return text if tool_id is None else f"{tool_id}\0{text}"
