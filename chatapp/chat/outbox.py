"""One socket's outgoing frames, in order, from one writer task.

Frames are queued by whoever produces them (this process's live replies, relays from other
processes, the consumer's own answers) and never awaited by them. When a tab cannot keep
up, the deltas of a reply it has not been sent are replaced by one `resync` of the whole
reply so far, so a tab is never left with a hole in the text; a `message_stop` is never
dropped nor folded into a resync. Pure asyncio: no Django, no channel layer.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from .protocol import encode, joined_text_delta

logger = logging.getLogger(__name__)


class ResyncSource(Protocol):
    """A reply streaming in this process, which can always say what it holds so far."""

    message_id: int

    def resync_frame(self) -> dict: ...


class Frame:
    """One frame for the sockets, encoded once however many sockets get it."""

    __slots__ = ("data", "message_id", "reply", "seq", "text")

    def __init__(
        self,
        data: dict,
        *,
        message_id: int | None = None,
        seq: int = 0,
        text: str | None = None,
        reply: ResyncSource | None = None,
    ):
        self.data = data
        self.text = encode(data) if text is None else text
        self.message_id = message_id
        self.seq = seq
        # The live reply of this process the frame belongs to; None for a frame relayed
        # from another process.
        self.reply = reply

    def joins_with(self, other: "Frame") -> bool:
        """Whether `other` is a text delta that directly continues this one."""
        mine, theirs = self.data, other.data
        return (
            mine["type"] == "content_block_delta"
            and theirs["type"] == "content_block_delta"
            and self.message_id == other.message_id
            and mine["index"] == theirs["index"]
            and mine["delta"].get("type") == "text_delta"
            and theirs["delta"].get("type") == "text_delta"
        )


class Outbox:
    """The frames waiting for one socket, sent in order by one writer task."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        capacity: int,
        join_window: float = 0.0,
        request_resync: Callable[[int, int], None] | None = None,
        broken: Callable[[], None] | None = None,
    ):
        self._send = send
        # Called once if a send fails while the socket may still be open: the socket is
        # then closed, so that the tab reconnects and resyncs instead of waiting forever.
        self._broken = broken
        # Asks the process that runs a reply for a resync of it (conversation, message).
        self._request_resync = request_resync
        self._capacity = capacity
        # Seconds a text delta may wait for the next ones to join it into one frame; the
        # first delta after a quiet spell is never held back.
        self._join_window = join_window
        self._last_delta_sent = 0.0
        self._queue: deque[Frame | ResyncSource] = deque()
        self._wake = asyncio.Event()
        self._resync_pending: set[int] = set()
        # Per reply, the seq of the last event this socket has been given.
        self._sent_seq: dict[int, int] = {}
        self._closed = False
        self.watching: set[int] = set()
        self._task = asyncio.create_task(self._write())

    def __len__(self) -> int:
        """Frames and resyncs waiting to be sent."""
        return len(self._queue)

    def push(self, frame: Frame) -> None:
        if self._closed:
            return
        message_id = frame.message_id
        if frame.data.get("type") == "resync":  # a resync from another process
            self._resync_pending.discard(message_id)
        elif message_id is not None and not is_stop(frame):
            if message_id in self._resync_pending:
                return  # the resync that will be sent includes this event
            if len(self._queue) >= self._capacity:
                self._replace_with_resync(message_id, frame)
                return
        self._queue.append(frame)
        self._wake.set()

    def push_resync(self, reply: ResyncSource) -> None:
        if self._closed or reply.message_id in self._resync_pending:
            return
        self._resync_pending.add(reply.message_id)
        self._queue.append(reply)
        self._wake.set()

    def _replace_with_resync(self, message_id: int, frame: Frame) -> None:
        reply = frame.reply
        if reply is None and self._request_resync is None:
            self._queue.append(frame)  # nobody to ask for a resync: never drop
            self._wake.set()
            return
        logger.info("socket cannot keep up; message %s will be resynced", message_id)
        self._queue = deque(
            item
            for item in self._queue
            if not (isinstance(item, Frame) and item.message_id == message_id) or is_stop(item)
        )
        if reply is not None:
            self.push_resync(reply)
        else:
            self._resync_pending.add(message_id)
            self._request_resync(frame.data["conversation_id"], message_id)

    async def _write(self) -> None:
        queue_wait = self._wake.wait
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await queue_wait()
                    if self._closed:
                        return
                if self._join_window and self._holds_back(self._queue[0]):
                    await asyncio.sleep(
                        self._last_delta_sent + self._join_window - time.monotonic()
                    )
                    if self._closed:
                        return
                text = self._next_text()
                if text is not None:
                    await self._send(text)
        except asyncio.CancelledError:
            pass
        except Exception:  # nothing more can be sent on this socket
            logger.warning("a frame could not be sent; the socket is closed", exc_info=True)
            self._closed = True
            if self._broken is not None:
                self._broken()

    def _holds_back(self, item) -> bool:
        """Whether a text delta should wait to be joined by the ones that follow it."""
        if not isinstance(item, Frame) or item.data.get("type") != "content_block_delta":
            return False
        return time.monotonic() < self._last_delta_sent + self._join_window

    def _next_text(self) -> str | None:
        item = self._queue.popleft()
        if not isinstance(item, Frame):  # a reply to resync: what it holds by now
            self._resync_pending.discard(item.message_id)
            frame = item.resync_frame()
            self._sent_seq[item.message_id] = frame["seq"]
            return encode(frame)
        message_id = item.message_id
        if message_id is None:
            return item.text
        if item.data.get("type") == "resync":  # from another process: always applies
            if item.seq is not None:
                self._sent_seq[message_id] = item.seq
            return item.text
        if item.seq <= self._sent_seq.get(message_id, 0):
            return None  # already covered by a resync
        last = item
        joined_text = None
        queue = self._queue
        while queue and isinstance(queue[0], Frame) and item.joins_with(queue[0]):
            following = queue.popleft()
            if joined_text is None:
                joined_text = [item.data["delta"]["text"]]
            joined_text.append(following.data["delta"]["text"])
            last = following
        self._sent_seq[message_id] = last.seq
        if item.data["type"] == "content_block_delta":
            self._last_delta_sent = time.monotonic()
        if joined_text is None:
            return item.text
        return encode(joined_text_delta(item.data, "".join(joined_text), last.seq))

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._task.cancel()


def is_stop(frame: Frame) -> bool:
    """`message_stop` ends a reply in every tab: it is never dropped nor folded into a
    resync (a resync never includes it)."""
    return frame.data.get("type") == "message_stop"
