"""Replies streaming in this process, and the sockets watching them.

A reply runs in its own task, independent of the socket that asked for it: a tab that
goes away does not stop it. Each upstream event is encoded once and handed straight to the
outbox of every socket in this process that shows the conversation; nothing goes through
the channel layer or the database per event. An outbox sends in order; when a tab cannot
keep up, the deltas it has not been sent are replaced by one `resync` frame carrying the
whole reply so far, so a tab is never left with a hole in the text.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from chatapp.llm.stream import ReplyState, UpstreamError, stream_events, upstream_error
from chatapp.usage.services import month_to_date

from .db import run_db
from .frames import encode, error_frame
from .models import Message
from .services import AcceptedMessage, reply_finalize

logger = logging.getLogger(__name__)


class Frame:
    """One frame for the sockets, encoded once however many sockets get it."""

    __slots__ = ("data", "message_id", "seq", "text")

    def __init__(
        self, data: dict, *, message_id: int | None = None, seq: int = 0, text: str | None = None
    ):
        self.data = data
        self.text = encode(data) if text is None else text
        self.message_id = message_id
        self.seq = seq

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
        self, send: Callable[[str], Awaitable[None]], capacity: int, join_window: float = 0.0
    ):
        self._send = send
        self._capacity = capacity
        # Seconds a text delta may wait for the next ones to join it into one frame; the
        # first delta after a quiet spell is never held back.
        self._join_window = join_window
        self._last_delta_sent = 0.0
        self._queue: deque[Frame | LiveReply] = deque()
        self._wake = asyncio.Event()
        self._resync_pending: set[int] = set()
        # Per reply, the seq of the last event this socket has been given.
        self._sent_seq: dict[int, int] = {}
        self._closed = False
        self.watching: set[int] = set()
        self.resyncs_sent = 0
        self._task = asyncio.create_task(self._write())

    def push(self, frame: Frame) -> None:
        if self._closed:
            return
        message_id = frame.message_id
        if message_id is not None and not _is_stop(frame):
            if message_id in self._resync_pending:
                return  # the resync that will be sent includes this event
            if len(self._queue) >= self._capacity:
                self._replace_with_resync(message_id, frame)
                return
        self._queue.append(frame)
        self._wake.set()

    def push_resync(self, reply: "LiveReply") -> None:
        if self._closed or reply.message_id in self._resync_pending:
            return
        self._resync_pending.add(reply.message_id)
        self._queue.append(reply)
        self._wake.set()

    def _replace_with_resync(self, message_id: int, frame: Frame) -> None:
        reply = hub.reply_by_message(message_id)
        if reply is None:
            # Not a live reply of this process (cannot happen for relayed events): never drop.
            self._queue.append(frame)
            self._wake.set()
            return
        logger.info("socket cannot keep up; message %s will be resynced", message_id)
        self._queue = deque(
            item
            for item in self._queue
            if not (isinstance(item, Frame) and item.message_id == message_id) or _is_stop(item)
        )
        self.push_resync(reply)

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
        except Exception:  # the socket is gone: nothing more can be sent on it
            logger.debug("outbox writer ended", exc_info=True)
            self._closed = True

    def _holds_back(self, item) -> bool:
        """Whether a text delta should wait to be joined by the ones that follow it."""
        if not isinstance(item, Frame) or item.data.get("type") != "content_block_delta":
            return False
        return time.monotonic() < self._last_delta_sent + self._join_window

    def _next_text(self) -> str | None:
        item = self._queue.popleft()
        if isinstance(item, LiveReply):
            self._resync_pending.discard(item.message_id)
            frame = item.resync_frame()
            self._sent_seq[item.message_id] = frame["seq"]
            self.resyncs_sent += 1
            return encode(frame)
        message_id = item.message_id
        if message_id is None:
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
        joined = dict(item.data)
        joined["delta"] = {"type": "text_delta", "text": "".join(joined_text)}
        joined["seq"] = last.seq
        return encode(joined)

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._task.cancel()


def _is_stop(frame: Frame) -> bool:
    """`message_stop` ends a reply in every tab: it is never dropped nor folded into a
    resync (a resync never includes it)."""
    return frame.data.get("type") == "message_stop"


class LiveReply:
    """One assistant reply streaming from upstream in this process."""

    def __init__(self, accepted: AcceptedMessage):
        self.reply: Message = accepted.reply
        self.usage_record = accepted.usage_record
        self.conversation_id = accepted.conversation.pk
        self.owner_id = accepted.conversation.owner_id
        self.message_id = accepted.reply.pk
        self.state = ReplyState(model=accepted.reply.model)
        self.seq = 0
        self.final: dict | None = None
        self.task: asyncio.Task | None = None
        self._streaming = True
        self._stop_requested = False
        self._frame_prefix = (
            f'{{"conversation_id":{self.conversation_id},"message_id":{self.message_id},"seq":'
        )

    def stop(self) -> bool:
        """Asks the reply to stop; the partial reply is saved as stopped."""
        if not self._streaming or self.task is None:
            return False
        self._stop_requested = True
        self.task.cancel()
        return True

    def message_dict(self) -> dict:
        if self.final is not None:
            return self.final
        message = self.reply.to_dict()
        message["content"] = self.state.content
        message["usage"] = dict(self.state.usage)
        message["model"] = self.state.model
        return message

    def resync_frame(self) -> dict:
        # An ended reply's resync covers every event but the message_stop that follows it.
        seq = self.seq if self.final is None else self.seq - 1
        return {
            "type": "resync",
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "seq": seq,
            "message": self.message_dict(),
        }

    def _relay(self, data: dict, upstream_json: str | None = None) -> None:
        self.seq = seq = self.seq + 1
        data["conversation_id"] = self.conversation_id
        data["message_id"] = self.message_id
        data["seq"] = seq
        text = None
        if upstream_json is not None and upstream_json.startswith('{"'):
            # The upstream's own JSON with our ids put in front: no re-encoding per event.
            text = f"{self._frame_prefix}{seq},{upstream_json[1:]}"
        hub.deliver(
            self.conversation_id, Frame(data, message_id=self.message_id, seq=seq, text=text)
        )

    async def run(self, request) -> None:
        started = time.monotonic()
        first_token_ms = None
        status = Message.Status.COMPLETE
        error: UpstreamError | None = None
        saw_stop = False
        try:
            async for event in stream_events(request, self.state):
                kind = event.data["type"]
                if kind == "message_stop":
                    saw_stop = True  # our own message_stop follows, once the reply is saved
                    continue
                if first_token_ms is None and kind == "content_block_delta":
                    first_token_ms = int((time.monotonic() - started) * 1000)
                self._relay(event.data, event.json)
            if not saw_stop:
                raise UpstreamError(
                    "upstream_connection", "The API ended the reply before it was finished."
                )
        except asyncio.CancelledError:
            if self._stop_requested:
                status = Message.Status.STOPPED
            else:
                status = Message.Status.ERROR
                error = UpstreamError("interrupted", "The server stopped during this reply.")
        except UpstreamError as exc:
            status, error = Message.Status.ERROR, exc
        except Exception as exc:
            logger.exception("reply %s failed", self.message_id)
            status, error = Message.Status.ERROR, upstream_error(exc)
        self._streaming = False
        duration_ms = int((time.monotonic() - started) * 1000)
        month = None
        try:
            message = await run_db(
                reply_finalize,
                reply=self.reply,
                usage_record=self.usage_record,
                status=status,
                state=self.state,
                error=error,
                time_to_first_token_ms=first_token_ms,
                duration_ms=duration_ms,
            )
        except Exception:
            logger.exception("could not save reply %s", self.message_id)
            message = self.reply
            message.status = Message.Status.ERROR
            error = UpstreamError("save_failed", "The reply could not be saved.")
        try:
            month = (await run_db(month_to_date, user=self.owner_id)).to_dict()
        except Exception:
            logger.exception("could not total the month of user %s", self.owner_id)
        self.final = message.to_dict()
        if self.final["status"] == Message.Status.ERROR and error is not None:
            self._relay(
                error_frame(
                    error.code,
                    error.message,
                    conversation_id=self.conversation_id,
                    message_id=self.message_id,
                )
            )
        self._relay({"type": "message_stop", "message": self.final, "month_to_date": month})


class Hub:
    """This process's live replies and the outboxes watching each conversation."""

    def __init__(self):
        self._watchers: dict[int, set[Outbox]] = {}
        self._replies: dict[int, LiveReply] = {}

    def watch(self, conversation_id: int, outbox: Outbox) -> None:
        self._watchers.setdefault(conversation_id, set()).add(outbox)
        outbox.watching.add(conversation_id)

    def unwatch_all(self, outbox: Outbox) -> None:
        for conversation_id in outbox.watching:
            watchers = self._watchers.get(conversation_id)
            if watchers is not None:
                watchers.discard(outbox)
                if not watchers:
                    del self._watchers[conversation_id]
        outbox.watching.clear()

    def deliver(self, conversation_id: int, frame: Frame) -> None:
        for outbox in self._watchers.get(conversation_id, ()):
            outbox.push(frame)

    def broadcast(self, conversation_id: int, data: dict) -> None:
        self.deliver(conversation_id, Frame(data))

    def reply_in(self, conversation_id: int) -> LiveReply | None:
        return self._replies.get(conversation_id)

    def reply_by_message(self, message_id: int) -> LiveReply | None:
        for reply in self._replies.values():
            if reply.message_id == message_id:
                return reply
        return None

    def start(self, accepted: AcceptedMessage) -> LiveReply:
        reply = LiveReply(accepted)
        conversation_id = reply.conversation_id
        self._replies[conversation_id] = reply

        async def run_and_forget():
            try:
                await reply.run(accepted.request)
            finally:
                if self._replies.get(conversation_id) is reply:
                    del self._replies[conversation_id]

        reply.task = asyncio.create_task(run_and_forget(), name=f"reply-{reply.message_id}")
        return reply

    async def wait_idle(self) -> None:
        """Waits for every live reply to end (tests and shutdown)."""
        while self._replies:
            await asyncio.gather(
                *(r.task for r in list(self._replies.values()) if r.task),
                return_exceptions=True,
            )


hub = Hub()
