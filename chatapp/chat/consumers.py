"""The chat socket (docs/protocol.md): a thin consumer over the chat services and the
process's live replies."""

import asyncio
import json
import logging
import time

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chatapp.errors import AppError

from . import protocol, selectors
from .db import run_db
from .live import hub
from .outbox import Frame, Outbox
from .protocol import BranchFrame, ConversationFrame, FrameError, UserMessageFrame, error_frame
from .services import (
    ChatError,
    conversation_switch,
    message_accept,
    message_edit,
    reply_regenerate,
)

logger = logging.getLogger(__name__)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("channel layer request failed", exc_info=task.exception())


class ChatConsumer(AsyncWebsocketConsumer):
    # The process's live replies (a test may give a consumer class a hub of its own, to
    # play a second server process).
    hub = hub
    outbox: Outbox | None = None

    async def dispatch(self, message):
        # Channels closes stale database connections, through a thread hop, before every
        # event it dispatches. This consumer's ORM work runs on the chat's own pool, which
        # does that itself, so the hop would only queue frames behind database work.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.user = user
        self.user_group = protocol.user_group_name(user.pk)
        # Joined before the handshake completes, so nothing sent after it is missed.
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        self.hub.keep_leases()
        self.outbox = Outbox(
            self._send_text,
            settings.CHAT_CLIENT_BUFFER_FRAMES,
            settings.CHAT_DELTA_JOIN_MS / 1000,
            request_resync=self._request_resync,
            broken=self._broken,
        )
        self._allowance = float(settings.CHAT_SOCKET_FRAME_BURST)
        self._refilled = time.monotonic()
        self._flood_closing = False
        # Per reply relayed from another process, the last seq taken; and the
        # conversations whose resync has been asked for.
        self._remote_seq: dict[int, int] = {}
        self._resync_asked: set[int] = set()

    async def disconnect(self, code):
        if getattr(self, "user_group", None):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
        if self.outbox is not None:
            watched = list(self.outbox.watching)
            self.hub.unwatch_all(self.outbox)
            self.outbox.close()
            if self.hub.cross_process:
                for conversation_id in watched:
                    await self.channel_layer.group_discard(
                        protocol.conversation_group_name(conversation_id), self.channel_name
                    )

    async def _watch(self, conversation_id: int) -> None:
        """This tab shows the conversation: it gets its live frames, from every process."""
        if conversation_id in self.outbox.watching:
            return
        self.hub.watch(conversation_id, self.outbox)
        if self.hub.cross_process:
            await self.channel_layer.group_add(
                protocol.conversation_group_name(conversation_id), self.channel_name
            )

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    def _close_flooded(self) -> None:
        close = self.close(code=protocol.CLOSE_TOO_MANY_FRAMES)
        asyncio.ensure_future(close).add_done_callback(_log_failure)

    def _broken(self) -> None:
        """A frame could not be sent: the socket is closed with SEND_FAILED, which the
        tab answers by reconnecting and resyncing, rather than left open and mute."""
        send = self.close(code=protocol.CLOSE_SEND_FAILED)
        asyncio.ensure_future(send).add_done_callback(_log_failure)

    def _push(self, data: dict) -> None:
        self.outbox.push(Frame(data))

    def _flooding(self) -> bool:
        """A token bucket per socket: CHAT_SOCKET_FRAME_BURST frames at once, refilled at
        CHAT_SOCKET_FRAMES_PER_SECOND. A person's tab sends a frame now and then."""
        now = time.monotonic()
        rate, burst = settings.CHAT_SOCKET_FRAMES_PER_SECOND, settings.CHAT_SOCKET_FRAME_BURST
        self._allowance = min(burst, self._allowance + (now - self._refilled) * rate)
        self._refilled = now
        if self._allowance < 1:
            return True
        self._allowance -= 1
        return False

    async def receive(self, text_data=None, bytes_data=None):
        if self._flooding():
            if not self._flood_closing:
                self._flood_closing = True
                self._push(
                    error_frame("too_many_frames", "This tab sent too many frames: it is closed.")
                )
                # The error frame goes first: the close waits for the outbox to send it.
                asyncio.get_running_loop().call_later(0.2, self._close_flooded)
            return
        if text_data is None:
            self._push(error_frame("invalid_json", "Binary frames are not accepted."))
            return
        try:
            frame = protocol.parse_client_frame(text_data)
            if isinstance(frame, UserMessageFrame):
                await self._user_message(frame)
            elif isinstance(frame, BranchFrame):
                await self._branch(frame)
            elif frame.type == "stop":
                await self._stop(frame)
            else:
                await self._open(frame)
        except FrameError as exc:
            self._push(
                error_frame(
                    exc.code,
                    exc.message,
                    conversation_id=exc.conversation_id,
                    client_id=exc.client_id,
                )
            )
        except AppError as exc:
            client_id = getattr(frame, "client_id", None)
            self._push(
                error_frame(
                    exc.code,
                    exc.message,
                    conversation_id=frame.conversation_id,
                    client_id=str(client_id) if client_id else None,
                )
            )
        except Exception:
            logger.exception("chat frame failed")
            self._push(error_frame("internal_error", "The server failed to handle that frame."))

    async def _accept(self, service, **fields):
        """Runs an accepting service for this user; this tab then shows the conversation."""
        accepted = await run_db(service, user=self.user, **fields)
        await self._watch(accepted.conversation.pk)
        return accepted

    async def _user_message(self, frame: UserMessageFrame) -> None:
        accepted = await self._accept(
            message_accept,
            conversation_id=frame.conversation_id,
            text=frame.text,
            client_id=frame.client_id,
            model=frame.model,
            system=frame.system,
            thinking=frame.thinking,
            effort=frame.effort,
            web_search=frame.web_search,
            attachments=frame.attachments,
        )
        conversation = accepted.conversation
        if accepted.created_conversation or accepted.duplicate:
            self._push(protocol.conversation_frame(conversation, client_id=frame.client_id))
        user_message = protocol.user_message_frame(
            conversation_id=conversation.pk,
            message=accepted.user_message.to_dict(),
            client_id=frame.client_id,
            duplicate=accepted.duplicate,
        )
        if accepted.duplicate:
            self._push(user_message)
            await self._resync_reply(accepted)
            return
        await self._broadcast(conversation.pk, user_message)
        # The reply starts before the sidebars of other tabs are told.
        self.hub.start(accepted)
        if accepted.created_conversation:
            await self.channel_layer.group_send(
                self.user_group,
                protocol.conversation_message(
                    protocol.conversation_frame(conversation), origin=self.channel_name
                ),
            )

    async def _branch(self, frame: BranchFrame) -> None:
        """An edit or a regeneration (a new branch and its reply), or a switch of branch:
        every tab showing the conversation is sent the new active branch."""
        if frame.type == "switch":
            conversation = await run_db(
                conversation_switch,
                user=self.user,
                conversation_id=frame.conversation_id,
                message_id=frame.message_id,
            )
            await self._watch(conversation.pk)
            await self._broadcast(conversation.pk, await self._branch_frame(conversation))
            return
        service, text = (
            (message_edit, {"text": frame.text, "attachments": frame.attachments})
            if frame.type == "edit"
            else (reply_regenerate, {})
        )
        accepted = await self._accept(
            service,
            conversation_id=frame.conversation_id,
            message_id=frame.message_id,
            client_id=frame.client_id,
            **text,
        )
        conversation = accepted.conversation
        branch = await self._branch_frame(conversation, client_id=frame.client_id)
        if accepted.duplicate:
            self._push(branch)
            await self._resync_reply(accepted)
            return
        await self._broadcast(conversation.pk, branch)
        self.hub.start(accepted)

    async def _branch_frame(self, conversation, *, client_id=None) -> dict:
        path = await run_db(selectors.active_path, conversation=conversation)
        return protocol.branch_frame(
            conversation_id=conversation.pk,
            active_leaf_id=conversation.active_leaf_id,
            messages=[message.to_dict() for message in path],
            client_id=client_id,
        )

    async def _broadcast(self, conversation_id: int, frame: dict) -> None:
        """A frame about no reply, for every tab showing the conversation, in every
        process."""
        self.hub.broadcast(conversation_id, frame)
        if self.hub.cross_process:
            await self.channel_layer.group_send(
                protocol.conversation_group_name(conversation_id),
                protocol.relay_message(
                    origin=self.hub.process_id,
                    conversation_id=conversation_id,
                    message_id=None,
                    frames=[[0, protocol.encode(frame)]],
                ),
            )

    async def _resync_reply(self, accepted) -> None:
        """A resend's reply, as it is now: live in this process, or as saved."""
        if accepted.reply is None:
            return
        live = self.hub.reply_in(accepted.conversation.pk)
        if live is not None and live.message_id == accepted.reply.pk:
            self.outbox.push_resync(live)
        else:
            await self._send_saved_reply(accepted.reply.pk)

    async def _send_saved_reply(self, message_id: int) -> None:
        reply = await run_db(selectors.message_get, message_id=message_id)
        self._push(
            protocol.resync_frame(
                conversation_id=reply.conversation_id,
                message_id=reply.pk,
                seq=None,
                message=reply.to_dict(),
            )
        )

    async def _owned(self, conversation_id: int):
        conversation = await run_db(
            selectors.conversation_get, user=self.user, conversation_id=conversation_id
        )
        if conversation is None:
            raise ChatError("not_found", "No such conversation.")
        return conversation

    async def _stop(self, frame: ConversationFrame) -> None:
        live = self.hub.reply_in(frame.conversation_id)
        if live is not None and live.owner_id == self.user.pk:
            if live.stop():
                return
        conversation = await self._owned(frame.conversation_id)
        if (
            live is None
            and self.hub.cross_process
            and await run_db(selectors.conversation_streams, conversation=conversation)
        ):
            # Streaming in another process: its hub stops it if the owner matches.
            await self.channel_layer.group_send(
                protocol.live_group_name(conversation.pk),
                protocol.stop_request(conversation_id=conversation.pk, owner_id=self.user.pk),
            )
            return
        raise ChatError("not_streaming", "No reply is streaming in this conversation.")

    async def _open(self, frame: ConversationFrame) -> None:
        conversation = await self._owned(frame.conversation_id)
        await self._watch(conversation.pk)
        live = self.hub.reply_in(conversation.pk)
        if live is not None:
            self.outbox.push_resync(live)
        elif self.hub.cross_process:
            # A reply streaming in another process: nothing of it is shown until its
            # resync comes (a reply that starts afresh needs none).
            self._request_resync(conversation.pk, None)

    def _request_resync(self, conversation_id: int, message_id: int | None) -> None:
        """Asks the process running the conversation's reply, if any, for a resync."""
        if conversation_id in self._resync_asked:
            return
        self._resync_asked.add(conversation_id)
        send = self.channel_layer.group_send(
            protocol.live_group_name(conversation_id),
            protocol.resync_request(conversation_id=conversation_id, reply_to=self.channel_name),
        )
        asyncio.ensure_future(send).add_done_callback(_log_failure)

    async def chat_relay(self, event):
        """Frames of a reply streaming in another process (this process's own tabs got
        them directly). Each reply's frames must come with contiguous seq numbers; at a
        gap (the layer drops what a full channel cannot take, silently) the tab skips
        frames until a resync of the whole reply so far arrives."""
        if event["origin"] == self.hub.process_id or self.outbox is None:
            return
        conversation_id, message_id = event["conversation_id"], event["message_id"]
        for seq, text in event["frames"]:
            data = json.loads(text)
            if message_id is not None and not self._remote_in_order(
                conversation_id, message_id, seq, data
            ):
                continue
            self.outbox.push(Frame(data, message_id=message_id, seq=seq, text=text))

    def _remote_in_order(self, conversation_id: int, message_id: int, seq: int, data) -> bool:
        kind = data["type"]
        have = self._remote_seq.get(message_id)
        if kind == "message_stop":
            return True  # carries the whole saved reply
        if kind == "resync":
            if have is not None and data["seq"] is not None and data["seq"] <= have:
                return False  # older than what this tab already has, without a gap
            self._resync_asked.discard(conversation_id)
            self._remote_seq[message_id] = data["seq"]
            return True
        if seq == 1:  # the reply's first event: nothing was missed
            self._resync_asked.discard(conversation_id)
        elif conversation_id in self._resync_asked:
            return False
        elif have is None or seq != have + 1:
            self._request_resync(conversation_id, message_id)
            return False
        self._remote_seq[message_id] = seq
        return True

    async def chat_conversation(self, event):
        """A conversation created in another tab of the same user: the sidebar shows it."""
        if event["origin"] != self.channel_name and self.outbox is not None:
            self._push(event["frame"])
