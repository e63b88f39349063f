"""The Message Batches API's store: batches kept in memory, shaped as the SDK's ``MessageBatch``,
processed over time on the fake's clock.

**Creating** checks what the real API checks at once: the body's shape, 1 to 100,000 requests,
each a ``custom_id`` matching ``^[a-zA-Z0-9_-]{1,64}$`` (unique in the batch) and ``params``
shaped as a Messages request, without ``stream``. Everything else about a request (its model,
the model's capabilities, ``max_tokens``, images, the schema...) is checked when it is
processed, as the real API does: a refusal becomes that request's ``errored`` result.

**Processing** runs at a speed (requests per second; ``INSTANT``; 0 holds a batch still), for
the store or for one batch, and is worked out whenever a batch is looked at: by then ``speed *
elapsed`` requests have been answered, in the order they were sent, each by ``answer`` (the
server's reply machinery). Batches end when every request is answered (``ended_at`` is when the
last one was), or at ``expires_at`` (24 hours after creation, on the fake's clock), the rest
then ``expired``. A cancel makes a batch ``canceling`` until the request under way is answered;
it then ends with the rest ``canceled``.

**Counts** are those of the SDK's documentation: every request counts as ``processing`` until
the batch ends (``live_counts`` shows them as they move instead).

**Results** are kept as encoded JSON lines, one per request answered, and given in an order
that is not the requests' (the API promises none).
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .caching import FakeClock
from .files import rfc3339
from .refusals import ApiRefusal
from .scenarios import Scenario, parse_scenario
from .validation import check_shape

MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024  # the whole body of a create
BATCH_LIFETIME = 24 * 60 * 60
CUSTOM_ID_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
_CUSTOM_ID_RE = re.compile(CUSTOM_ID_PATTERN)
INSTANT = math.inf
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")
_ID_ALPHABET = string.ascii_letters + string.digits
# Floating-point slack when turning elapsed time into whole requests.
_EPSILON = 1e-9

# What answers one request: (custom_id, params, its scenario) -> its ``result`` object.
Answer = Callable[[str, dict[str, Any], Scenario | None], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class ExpiredScenario(Scenario):
    """A batch-only scenario: the request is never answered, its result is ``expired``."""

    kind: ClassVar[str] = "expired"


def parse_batch_scenario(data: Any) -> Scenario:
    """A scenario for a request of a batch: any kind ``/v1/messages`` knows, or ``expired``."""
    if isinstance(data, dict) and data.get("kind") == ExpiredScenario.kind:
        extra = sorted(set(data) - {"kind"})
        if extra:
            raise ValueError(f"expired scenario: unknown field(s) {', '.join(extra)}")
        return ExpiredScenario()
    return parse_scenario(data)


def parse_requests(body: Any) -> list[dict[str, Any]]:
    """The requests of a create body, checked as the API checks them at once; ``ApiRefusal``
    naming the field otherwise."""
    if not isinstance(body, dict):
        raise ApiRefusal("Request body must be a JSON object")
    _no_extra("", body, ("requests",))
    requests = body.get("requests")
    if requests is None:
        raise ApiRefusal("requests: Field required")
    if not isinstance(requests, list):
        raise ApiRefusal("requests: Input should be a valid list")
    if not requests:
        raise ApiRefusal("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > MAX_BATCH_REQUESTS:
        raise ApiRefusal(
            f"requests: List should have at most {MAX_BATCH_REQUESTS} items after validation, "
            f"not {len(requests)}"
        )
    first_seen: dict[str, int] = {}
    for index, item in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(item, dict):
            raise ApiRefusal(f"{where}: Input should be a valid dictionary")
        for name in ("custom_id", "params"):
            if name not in item:
                raise ApiRefusal(f"{where}.{name}: Field required")
        _no_extra(f"{where}.", item, ("custom_id", "params"))
        custom_id = item["custom_id"]
        if not isinstance(custom_id, str):
            raise ApiRefusal(f"{where}.custom_id: Input should be a valid string")
        if not _CUSTOM_ID_RE.match(custom_id):
            raise ApiRefusal(
                f"{where}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN}'"
            )
        if custom_id in first_seen:
            raise ApiRefusal(
                f"{where}.custom_id: '{custom_id}' is already the custom_id of "
                f"requests.{first_seen[custom_id]}; each request of a batch needs its own"
            )
        first_seen[custom_id] = index
        params = item["params"]
        if not isinstance(params, dict):
            raise ApiRefusal(f"{where}.params: Input should be a valid dictionary")
        if params.get("stream"):
            raise ApiRefusal(f"{where}.params.stream: streaming is not supported in a batch")
        try:
            check_shape(params)
        except ApiRefusal as error:
            raise ApiRefusal(f"{where}.params.{error}") from None
    return requests


def _no_extra(where: str, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise ApiRefusal(f"{where}{extra[0]}: Extra inputs are not permitted")


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@dataclass(eq=False)
class Batch:
    id: str
    seq: int  # creation order, for listing and cursors
    requests: list[dict[str, Any]]
    created_at: float
    expires_at: float
    speed: float | None = None  # its own requests per second, else the store's
    status: str = "in_progress"
    done: int = 0  # requests answered, in order
    progress: float = 0.0  # requests answered at ``anchor``, with the one under way's share
    anchor: float = 0.0  # when ``progress`` was worked out
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULT_TYPES, 0))
    lines: list[bytes | None] = field(default_factory=list)  # each request's result line
    unanswered: str = "canceled"  # the result of requests never answered, once ended
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    cancel_ends_at: float | None = None
    in_flight: bool = False  # a request under way when the cancel came

    @property
    def size(self) -> int:
        return len(self.requests)

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    def request_counts(self, live: bool) -> dict[str, int]:
        if not (self.ended or live):
            return {"processing": self.size, **dict.fromkeys(RESULT_TYPES, 0)}
        return {"processing": self.size - sum(self.counts.values()), **self.counts}

    def to_dict(self, base_url: str, *, live_counts: bool = False) -> dict[str, Any]:
        """The ``MessageBatch`` JSON; ``base_url`` is where the results are fetched from."""
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": self.request_counts(live_counts),
            "ended_at": _stamp(self.ended_at),
            "created_at": _stamp(self.created_at),
            "expires_at": _stamp(self.expires_at),
            "cancel_initiated_at": _stamp(self.cancel_initiated_at),
            "archived_at": None,
            "results_url": (
                f"{base_url}/v1/messages/batches/{self.id}/results" if self.ended else None
            ),
        }

    def result_lines(self) -> Iterator[bytes]:
        """The JSONL results of an ended batch, one encoded line at a time, in an order of
        their own (the same for each download)."""
        order = sorted(range(self.size), key=lambda i: zlib.crc32(f"{self.id}\0{i}".encode()))
        for index in order:
            line = self.lines[index]
            if line is None:
                custom_id = self.requests[index]["custom_id"]
                line = _line({"custom_id": custom_id, "result": {"type": self.unanswered}})
            yield line


def _checked(speed: float) -> float:
    if not speed >= 0:  # NaN too
        raise ValueError(f"a batch speed is a number of requests per second >= 0, got {speed}")
    return speed


def _stamp(timestamp: float | None) -> str | None:
    return rfc3339(timestamp) if timestamp is not None else None


class BatchStore:
    """Touched only from the server's event loop. ``speed`` is the default requests per second
    (``INSTANT``, 0 to hold); ``live_counts`` shows counts as they move instead of at the end."""

    def __init__(
        self, clock: FakeClock, answer: Answer, *, speed: float, live_counts: bool
    ) -> None:
        self._clock = clock
        self._answer = answer
        self._default_speed = _checked(speed)
        self._default_live_counts = live_counts
        self.clear()

    def clear(self) -> None:
        self._batches: dict[str, Batch] = {}
        self._seqs: dict[str, int] = {}  # every id given, deleted ones too, for list cursors
        self.speed = self._default_speed
        self.live_counts = self._default_live_counts
        # custom_id -> the scenario of every request with that custom_id
        self.scenarios: dict[str, Scenario] = {}

    # --- the API -----------------------------------------------------------------------------

    def create(self, requests: list[dict[str, Any]]) -> Batch:
        """A new batch of requests already checked by ``parse_requests``; it starts now."""
        now = self._clock.now()
        batch_id = "msgbatch_01" + "".join(random.choices(_ID_ALPHABET, k=22))
        batch = Batch(
            id=batch_id,
            seq=len(self._seqs),
            requests=requests,
            created_at=now,
            expires_at=now + BATCH_LIFETIME,
            anchor=now,
            lines=[None] * len(requests),
        )
        self._batches[batch_id] = batch
        self._seqs[batch_id] = batch.seq
        return batch

    def get(self, batch_id: str) -> Batch | None:
        """The batch as it is now, or None (never created, or deleted)."""
        batch = self._batches.get(batch_id)
        if batch is not None:
            self._settle(batch, self._clock.now())
        return batch

    def newest_first(self) -> list[Batch]:
        now = self._clock.now()
        batches = sorted(self._batches.values(), key=lambda batch: batch.seq, reverse=True)
        for batch in batches:
            self._settle(batch, now)
        return batches

    def page(
        self, *, limit: int, after_id: str | None = None, before_id: str | None = None
    ) -> tuple[list[Batch], bool]:
        """One page of ``GET /v1/messages/batches``, newest first, and whether there is more
        beyond it. A cursor may name a deleted batch; one never given is an ``ApiRefusal``."""
        batches = self.newest_first()
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and cursor not in self._seqs:
                raise ApiRefusal(f"{name}: no message batch {cursor!r}")
        if before_id is not None:
            newer = [batch for batch in batches if batch.seq > self._seqs[before_id]]
            return newer[-limit:], len(newer) > limit
        if after_id is not None:
            batches = [batch for batch in batches if batch.seq < self._seqs[after_id]]
        return batches[:limit], len(batches) > limit

    def cancel(self, batch: Batch) -> Batch:
        """Start canceling a batch in progress (one already canceling or ended is left as it
        is): it ends once the request under way is answered, the others ``canceled``."""
        now = self._clock.now()
        self._settle(batch, now)
        if batch.status != "in_progress":
            return batch
        speed = self._speed(batch)
        batch.status = "canceling"
        batch.cancel_initiated_at = now
        batch.in_flight = batch.progress > batch.done + _EPSILON
        batch.cancel_ends_at = now
        if batch.in_flight and 0 < speed < INSTANT:
            batch.cancel_ends_at = now + (batch.done + 1 - batch.progress) / speed
        return batch

    def delete(self, batch_id: str) -> None:
        del self._batches[batch_id]

    # --- what tests and the control API change -----------------------------------------------

    def requests_of(self, batch_id: str) -> list[dict[str, Any]]:
        """The requests of a batch, as they were sent (``KeyError`` if there is no such batch)."""
        return self._batches[batch_id].requests

    def set_speed(self, speed: float, batch_id: str | None = None) -> None:
        """Requests per second from now on: of one batch, or the default (which every batch
        without a speed of its own follows). Time already gone is counted at the old speed."""
        speed = _checked(speed)
        now = self._clock.now()
        if batch_id is None:
            for batch in self._batches.values():
                if batch.speed is None:
                    self._settle(batch, now)
            self.speed = speed
            return
        batch = self._batches[batch_id]
        self._settle(batch, now)
        batch.speed = speed

    def finish(self, batch_id: str | None = None) -> None:
        """End a batch (or every one) now: all its requests answered, or, canceling, the one
        under way answered and the rest canceled."""
        now = self._clock.now()
        for batch in self._chosen(batch_id):
            self._settle(batch, now)
            if batch.status == "in_progress":
                self._answer_up_to(batch, batch.size)
                self._end(batch, now)
            elif batch.status == "canceling":
                self._end_cancel(batch, now)

    def expire(self, batch_id: str | None = None) -> None:
        """Make a batch in progress (or every one) reach its ``expires_at`` now: the requests
        not answered yet are ``expired``."""
        now = self._clock.now()
        for batch in self._chosen(batch_id):
            self._settle(batch, now)
            if batch.status == "in_progress":
                batch.expires_at = now
                self._settle(batch, now)

    def _chosen(self, batch_id: str | None) -> list[Batch]:
        return list(self._batches.values()) if batch_id is None else [self._batches[batch_id]]

    # --- processing ----------------------------------------------------------------------------

    def _speed(self, batch: Batch) -> float:
        return self.speed if batch.speed is None else batch.speed

    def _settle(self, batch: Batch, now: float) -> None:
        """Work out what has happened to a batch by ``now``."""
        if batch.status == "canceling":
            assert batch.cancel_ends_at is not None
            if now >= batch.cancel_ends_at:
                self._end_cancel(batch, batch.cancel_ends_at)
            return
        if batch.status != "in_progress":
            return
        until = max(batch.anchor, min(now, batch.expires_at))
        speed = self._speed(batch)
        if speed == INSTANT:
            finished_at = batch.anchor
            target = float(batch.size)
        else:
            target = min(float(batch.size), batch.progress + speed * (until - batch.anchor))
            finished_at = batch.anchor + (batch.size - batch.progress) / speed if speed else until
            batch.anchor = until
        batch.progress = target
        self._answer_up_to(batch, math.floor(target + _EPSILON))
        if batch.done == batch.size:
            self._end(batch, min(finished_at, until))
        elif now >= batch.expires_at:
            batch.unanswered = "expired"
            self._end(batch, batch.expires_at)

    def _answer_up_to(self, batch: Batch, count: int) -> None:
        while batch.done < count:
            index = batch.done
            request = batch.requests[index]
            custom_id = request["custom_id"]
            result = self._answer(custom_id, request["params"], self.scenarios.get(custom_id))
            batch.lines[index] = _line({"custom_id": custom_id, "result": result})
            batch.counts[result["type"]] += 1
            batch.done += 1
        batch.progress = max(batch.progress, float(batch.done))

    def _end_cancel(self, batch: Batch, at: float) -> None:
        if batch.in_flight:
            self._answer_up_to(batch, batch.done + 1)
        batch.unanswered = "canceled"
        self._end(batch, at)

    def _end(self, batch: Batch, at: float) -> None:
        batch.counts[batch.unanswered] += batch.size - batch.done
        batch.status = "ended"
        batch.ended_at = at
