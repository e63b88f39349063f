"""Replies streaming in this process, and the sockets watching them.

A reply runs in its own task, independent of the socket that asked for it: a tab that
goes away does not stop it. Each upstream event is encoded once and handed straight to the
outbox (outbox.py) of every socket in this process that shows the conversation; nothing
goes through the channel layer or the database per event. Once the reply ends, it is saved
and costed through the chat services, and its `message_stop` follows.
"""

import asyncio
import copy
import dataclasses
import logging
import time
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

from chatapp.llm.stream import ReplyState, UpstreamError, stream_events, upstream_error

from . import protocol
from .db import run_db, run_settlement
from .models import Message
from .outbox import Frame, Outbox, is_stop
from .services import (
    AcceptedMessage,
    replies_checkpoint,
    replies_lease_renew,
    replies_recover,
    reply_finalize,
)
from .titles import title_write

logger = logging.getLogger(__name__)


# How long the first checkpoint to fall due waits for others: the replies of a burst reach
# theirs within moments of each other, and share one write.
CHECKPOINT_GATHER_SECONDS = 0.05


class LiveReply:
    """One assistant reply streaming from upstream in this process."""

    def __init__(self, accepted: AcceptedMessage, hub: "Hub"):
        self.hub = hub
        self.reply: Message = accepted.reply
        self.usage_record = accepted.usage_record
        # A conversation's first complete reply is followed by its title (titles.py).
        self._question = accepted.user_message.text
        self.conversation_id = accepted.conversation.pk
        self.owner_id = accepted.conversation.owner_id
        self.message_id = accepted.reply.pk
        self.state = ReplyState(model=accepted.reply.model)
        self.seq = 0
        self.final: dict | None = None
        self.task: asyncio.Task | None = None
        self._streaming = True
        self._stop_requested = False
        self._events = protocol.ReplyEvents(self.conversation_id, self.message_id)
        # Frames waiting to go to the tabs of other processes, and the send under way.
        self._batch: list[list] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._forwarding: asyncio.Task | None = None
        # When the reply so far was last handed to the hub to be saved.
        self._checkpointed_at = time.monotonic()

    def _save_checkpoint(self) -> None:
        """Asks for the reply so far to be saved (what a crash keeps); the hub writes the
        checkpoints that fall due together in one batch, one batch at a time."""
        self._checkpointed_at = time.monotonic()
        self.hub.checkpoint(self)

    def checkpoint(self) -> dict:
        """The reply so far, as `replies_checkpoint` saves it."""
        state = self.state
        return {
            "reply_id": self.message_id,
            "content": copy.deepcopy(state.saved_content()),
            "usage": state.usage_so_far(),
            "server_tool_use": state.total_server_tool_use(),
        }

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
        message["usage"] = self.state.total_usage()
        if self.state.total_server_tool_use():
            message["usage"]["server_tool_use"] = self.state.total_server_tool_use()
        message["model"] = self.state.model
        return message

    def resync_frame(self) -> dict:
        # An ended reply's resync covers every event but the message_stop that follows it.
        seq = self.seq if self.final is None else self.seq - 1
        return protocol.resync_frame(
            conversation_id=self.conversation_id,
            message_id=self.message_id,
            seq=seq,
            message=self.message_dict(),
        )

    def _relay(self, data: dict, upstream_json: str | None = None) -> None:
        self.seq = seq = self.seq + 1
        text = self._events.stamp(data, seq, upstream_json)
        frame = Frame(data, message_id=self.message_id, seq=seq, text=text, reply=self)
        self.hub.deliver(self.conversation_id, frame)
        if self.hub.cross_process:
            self._forward(frame)

    def _forward(self, frame: Frame) -> None:
        """Batches frames for the tabs connected to other processes: one channel-layer
        message per batch, never one per delta."""
        self._batch.append([frame.seq, frame.text])
        if is_stop(frame) or len(self._batch) >= 100:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(
                self.hub.batch_seconds, self._flush
            )

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._batch = self._batch, []
        if batch:
            # Each batch waits for the one before it: the layer keeps the order of sends.
            self._forwarding = asyncio.create_task(
                self.hub.forward(self._forwarding, self.conversation_id, self.message_id, batch)
            )

    async def run(self, request) -> None:
        started = time.monotonic()
        first_token_ms = None
        status = Message.Status.COMPLETE
        error: UpstreamError | None = None
        continued = 0
        asked = request.messages
        checkpoint_every = settings.CHAT_CHECKPOINT_SECONDS
        try:
            while True:
                saw_stop = False
                offset = self.state.index_offset
                async for event in stream_events(request, self.state):
                    kind = event.data["type"]
                    if kind == "message_stop":
                        saw_stop = True  # our own message_stop follows, once it is saved
                        continue
                    if first_token_ms is None and kind == "content_block_delta":
                        first_token_ms = int((time.monotonic() - started) * 1000)
                    if not offset:
                        self._relay(event.data, event.json)
                    elif kind != "message_start":  # a continuation: one reply on the page
                        if "index" in event.data:
                            event.data["index"] += offset
                        self._relay(event.data)
                    if kind == "content_block_stop" or (
                        time.monotonic() - self._checkpointed_at >= checkpoint_every
                    ):
                        self._save_checkpoint()
                if not saw_stop:
                    raise UpstreamError(
                        "upstream_connection", "The API ended the reply before it was finished."
                    )
                if self.state.stop_reason != "pause_turn":
                    break
                if continued >= settings.CHAT_PAUSE_TURN_CONTINUES:
                    break  # saved as paused: the user may send again to go on
                continued += 1
                # The turn so far, whole, after the request's own messages (not after
                # the last continuation's: that would repeat what it held).
                turn = self.state.continue_turn()
                request = dataclasses.replace(
                    request, messages=[*asked, {"role": "assistant", "content": turn}]
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
        try:
            message = await run_settlement(
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
        self.final = message.to_dict()
        if self.final["status"] == Message.Status.ERROR and error is not None:
            self._relay(
                protocol.error_frame(
                    error.code,
                    error.message,
                    conversation_id=self.conversation_id,
                    message_id=self.message_id,
                )
            )
        self._relay(protocol.message_stop_frame(self.final))
        if getattr(message, "needs_title", False):  # decided by reply_finalize
            self.hub.later(
                title_write(
                    conversation_id=self.conversation_id,
                    question=self._question,
                    answer=message.text,
                )
            )
        if self._forwarding is not None:
            await self._forwarding


class Hub:
    """This process's live replies and the outboxes watching each conversation.

    With more than one server process (the Redis channel layer, CHAT_CROSS_PROCESS), a
    reply's frames also go, in batches, to the channel-layer group of its conversation,
    which the sockets of every process showing it join; each frame keeps its `seq`, so a
    socket that sees a gap asks the reply's process for a resync (through the group
    `chat.live.<conversation>`, which that process's hub joins while the reply runs)."""

    def __init__(self):
        self._watchers: dict[int, set[Outbox]] = {}
        self._replies: dict[int, LiveReply] = {}
        self.process_id = uuid.uuid4().hex
        self._channel: str | None = None
        self._listener: asyncio.Task | None = None
        # Work that follows a reply (its title), kept until done.
        self._after: set[asyncio.Task] = set()
        # Renews the leases of this process's replies, and recovers those of dead ones.
        self._keeper: asyncio.Task | None = None
        # Per conversation: the lock that keeps this hub's joins and leaves of its live
        # group in order, and how many are waiting for it.
        self._membership: dict[int, tuple[asyncio.Lock, list[int]]] = {}
        # Replies whose checkpoint is due, and the task that writes them.
        self._due: dict[int, LiveReply] = {}
        self._checkpointing: asyncio.Task | None = None

    def later(self, work) -> None:
        task = asyncio.create_task(work)
        self._after.add(task)
        task.add_done_callback(self._after.discard)

    @property
    def cross_process(self) -> bool:
        return settings.CHAT_CROSS_PROCESS

    @property
    def batch_seconds(self) -> float:
        return settings.CHAT_RELAY_BATCH_MS / 1000

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

    def checkpoint(self, reply: LiveReply) -> None:
        """The reply's checkpoint is due: it is written with the others due by then."""
        self._due[reply.message_id] = reply
        task = self._checkpointing
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._checkpointing = asyncio.create_task(
                self._write_checkpoints(), name="reply-checkpoints"
            )

    async def _write_checkpoints(self) -> None:
        """Writes the due checkpoints in batches until none is due: one transaction and one
        round trip per batch instead of one per reply, and a slow database is never asked
        for more than one batch at a time. Each is the reply as it is when written."""
        while self._due:
            await asyncio.sleep(CHECKPOINT_GATHER_SECONDS)
            due, self._due = self._due, {}
            checkpoints = [reply.checkpoint() for reply in due.values() if reply._streaming]
            if not checkpoints:
                continue
            try:
                await run_db(replies_checkpoint, checkpoints=checkpoints)
            except Exception:
                logger.exception("could not save the checkpoints of %d replies", len(checkpoints))

    def keep_leases(self) -> None:
        """Starts the task that keeps this process's replies leased to it, once."""
        keeper = self._keeper
        if keeper is None or keeper.done() or keeper.get_loop() is not asyncio.get_running_loop():
            self._keeper = asyncio.create_task(self._keep(), name="reply-leases")

    async def _keep(self) -> None:
        """Every third of a lease: renews the leases of the replies streaming here, then
        recovers any reply whose process died (its lease ran out), and tells the tabs
        showing it here and in other processes."""
        while True:
            await asyncio.sleep(settings.CHAT_REPLY_LEASE_SECONDS / 3)
            try:
                mine = [reply.message_id for reply in self._replies.values()]
                await run_db(replies_lease_renew, reply_ids=mine)
                recovered = await run_db(replies_recover, exclude=tuple(mine), unleased=False)
                for message in recovered:
                    await self.announce_ended(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not renew or recover reply leases")

    async def announce_ended(self, message: Message) -> None:
        """A reply ended elsewhere (recovered): every tab showing it gets its final
        state, as a resync of an ended reply."""
        frame = protocol.resync_frame(
            conversation_id=message.conversation_id,
            message_id=message.pk,
            seq=None,
            message=message.to_dict(),
        )
        self.broadcast(message.conversation_id, frame)
        if self.cross_process:
            await get_channel_layer().group_send(
                protocol.conversation_group_name(message.conversation_id),
                protocol.relay_message(
                    origin=self.process_id,
                    conversation_id=message.conversation_id,
                    message_id=message.pk,
                    frames=[[None, protocol.encode(frame)]],
                ),
            )

    def start(self, accepted: AcceptedMessage) -> LiveReply:
        self.keep_leases()
        reply = LiveReply(accepted, self)
        conversation_id = reply.conversation_id
        self._replies[conversation_id] = reply

        async def run_and_forget():
            try:
                if self.cross_process:
                    await self._live_group(conversation_id, join=True)
                await reply.run(accepted.request)
            finally:
                if self._replies.get(conversation_id) is reply:
                    del self._replies[conversation_id]
                if self.cross_process and self._channel is not None:
                    await self._live_group(conversation_id, join=False)

        reply.task = asyncio.create_task(run_and_forget(), name=f"reply-{reply.message_id}")
        return reply

    async def _live_group(self, conversation_id: int, *, join: bool) -> None:
        """Joins or leaves the conversation's live group, in the order asked. The next
        reply of a conversation often starts while the last one still leaves: that leave
        must neither be skipped nor land after the next reply's join, or the other
        processes' resync and stop requests would reach no one."""
        lock, waiting = self._membership.setdefault(conversation_id, (asyncio.Lock(), [0]))
        waiting[0] += 1
        try:
            async with lock:
                layer = get_channel_layer()
                group = protocol.live_group_name(conversation_id)
                if join:
                    await layer.group_add(group, await self._listening())
                elif conversation_id not in self._replies:  # no newer reply joined since
                    await layer.group_discard(group, self._channel)
        finally:
            waiting[0] -= 1
            if not waiting[0]:
                del self._membership[conversation_id]

    async def forward(self, previous, conversation_id: int, message_id: int, frames) -> None:
        if previous is not None:
            await previous
        try:
            await get_channel_layer().group_send(
                protocol.conversation_group_name(conversation_id),
                protocol.relay_message(
                    origin=self.process_id,
                    conversation_id=conversation_id,
                    message_id=message_id,
                    frames=frames,
                ),
            )
        except Exception:  # the tabs elsewhere will see the gap and ask for a resync
            logger.exception("could not forward frames of message %s", message_id)

    async def _listening(self) -> str:
        """This hub's own channel, read by a listener task that answers other processes'
        requests about the replies running here."""
        if self._listener is None or self._listener.done():
            layer = get_channel_layer()
            # The layer's default prefix: channels_redis reads all of a process's channels
            # through one receive loop, which only knows that prefix.
            self._channel = await layer.new_channel()
            self._listener = asyncio.create_task(self._listen(layer, self._channel))
        return self._channel

    async def _listen(self, layer, channel: str) -> None:
        while True:
            try:
                request = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. a Redis read that timed out: keep listening
                logger.warning("hub listener: receive failed", exc_info=True)
                await asyncio.sleep(0.1)
                continue
            reply = self._replies.get(request.get("conversation_id"))
            if reply is None:
                continue
            if request["type"] == "chat.resync_request":
                frame = reply.resync_frame()
                await layer.send(
                    request["reply_to"],
                    protocol.relay_message(
                        origin=self.process_id,
                        conversation_id=reply.conversation_id,
                        message_id=reply.message_id,
                        frames=[[frame["seq"], protocol.encode(frame)]],
                    ),
                )
            elif request["type"] == "chat.stop_request" and request["owner_id"] == reply.owner_id:
                reply.stop()

    async def wait_idle(self) -> None:
        """Waits for every live reply, and the work that follows them, to end; then stops
        keeping leases (tests and shutdown)."""
        while self._replies or self._after:
            await asyncio.gather(
                *(r.task for r in list(self._replies.values()) if r.task),
                *self._after,
                return_exceptions=True,
            )
        writer = self._checkpointing
        if writer is not None and writer.get_loop() is asyncio.get_running_loop():
            await asyncio.gather(writer, return_exceptions=True)
        keeper, self._keeper = self._keeper, None
        if keeper is not None and keeper.get_loop() is asyncio.get_running_loop():
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)


hub = Hub()
