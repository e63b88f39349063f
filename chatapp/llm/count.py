"""The exact input size of a request (`POST /v1/messages/count_tokens`), asked only when
the cheap bound comes near a limit: a count is a round trip the user would wait for."""

import logging

from .client import sync_client
from .stream import ReplyRequest

logger = logging.getLogger(__name__)


def input_tokens_counted(request: ReplyRequest) -> int | None:
    """The request's input tokens as the API counts them (same system, messages and
    thinking); None when the count fails, and the caller keeps its bound."""
    params = request.params()
    counted = {
        name: params[name] for name in ("model", "messages", "system", "thinking") if name in params
    }
    try:
        return sync_client().messages.count_tokens(**counted).input_tokens
    except Exception as exc:  # never blocks chatting: the bound stands
        logger.warning("count_tokens failed (%s): keeping the bound", exc)
        return None
