"""One short, non-streaming call to the Messages API (e.g. a conversation's title)."""

from dataclasses import dataclass

import anthropic

from .client import async_client
from .stream import ReplyRequest, UpstreamError, raise_upstream, rate_limit_headers


@dataclass(frozen=True)
class Completion:
    text: str
    usage: dict
    model: str
    stop_reason: str
    request_id: str
    rate_limits: dict


async def complete(request: ReplyRequest) -> Completion:
    """The whole answer at once. Raises UpstreamError for every failure."""
    client = async_client()
    try:
        raw = await client.messages.with_raw_response.create(**request.params())
    except Exception as exc:
        raise_upstream(exc)
    message = await raw.parse()
    if not isinstance(message, anthropic.types.Message):
        raise UpstreamError("upstream_error", "The API answered with something else.")
    return Completion(
        text="".join(block.text for block in message.content if block.type == "text"),
        usage=message.usage.model_dump(exclude_none=True),
        model=message.model,
        stop_reason=message.stop_reason or "",
        request_id=raw.headers.get("request-id", ""),
        rate_limits=rate_limit_headers(raw),
    )
