"""The Message Batches API (`client.messages.batches`): a batch is created whole, watched
until it ends, canceled on request, and its results read back as a stream of JSON lines.
Every call is blocking (the batch worker is a plain loop); every failure is an
UpstreamError, whose code says whether trying again later can help (`RETRYABLE`)."""

import datetime as dt
from collections.abc import Iterator

from .client import sync_client
from .stream import raise_upstream

# A batch's body may be 256 MB: its upload gets more time than a reply's first byte.
CREATE_TIMEOUT_SECONDS = 300.0
# The other calls are small; a results stream may pause between lines, never for long.
CALL_TIMEOUT_SECONDS = 60.0

# Codes of failures that may pass (rate limit, overload, the network, a server error); the
# others (an invalid request, a missing batch, a refused permission) will not.
RETRYABLE = frozenset(
    {
        "upstream_rate_limited",
        "upstream_overloaded",
        "upstream_server_error",
        "upstream_timeout",
        "upstream_connection",
        "upstream_authentication",  # a key being replaced: the job waits for the new one
        "not_configured",
        "upstream_error",
    }
)


def _client():
    return sync_client().with_options(timeout=CALL_TIMEOUT_SECONDS)


def batch_create(requests: list[dict]) -> dict:
    """Creates a batch of `{custom_id, params}` requests; the MessageBatch as JSON."""
    try:
        client = sync_client().with_options(timeout=CREATE_TIMEOUT_SECONDS)
        batch = client.messages.batches.create(requests=requests)
    except Exception as exc:
        raise_upstream(exc)
    return batch.model_dump(mode="json")


def batch_retrieve(batch_id: str) -> dict:
    try:
        batch = _client().messages.batches.retrieve(batch_id)
    except Exception as exc:
        raise_upstream(exc)
    return batch.model_dump(mode="json")


def batch_cancel(batch_id: str) -> dict:
    """Asks the API to cancel a batch: it goes on `canceling` until its requests in
    flight end; those not started come back `canceled`."""
    try:
        batch = _client().messages.batches.cancel(batch_id)
    except Exception as exc:
        raise_upstream(exc)
    return batch.model_dump(mode="json")


def batches_created_since(since: dt.datetime) -> list[dict]:
    """The batches created at or after `since` (the list is newest first: it stops at the
    first older one)."""
    found = []
    try:
        for batch in _client().messages.batches.list(limit=100):
            if batch.created_at < since:
                break
            found.append(batch.model_dump(mode="json"))
    except Exception as exc:
        raise_upstream(exc)
    return found


def batch_results(batch_id: str) -> Iterator[dict]:
    """The results of an ended batch, one `{custom_id, result}` at a time, as the response
    streams in (in no particular order); the response is closed however the caller stops."""
    try:
        decoder = _client().messages.batches.results(batch_id)
    except Exception as exc:
        raise_upstream(exc)
    try:
        for line in decoder:
            yield line.model_dump(mode="json", exclude_none=True)
    except Exception as exc:
        raise_upstream(exc)
    finally:
        decoder.close()
