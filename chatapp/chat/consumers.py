"""The chat socket (docs/protocol.md): a thin consumer over the chat services and the
process's live replies."""

import logging

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import selectors
from .db import run_db
from .frames import (
    ConversationFrame,
    FrameError,
    UserMessageFrame,
    conversation_frame,
    error_frame,
    parse_client_frame,
)
from .live import Frame, Outbox, hub
from .models import Message
from .services import ChatError, message_accept

logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
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
        self.user_group = f"chat.user.{user.pk}"
        await self.accept()
        self.outbox = Outbox(
            self._send_text,
            settings.CHAT_CLIENT_BUFFER_FRAMES,
            settings.CHAT_DELTA_JOIN_MS / 1000,
        )
        await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def disconnect(self, code):
        if self.outbox is not None:
            hub.unwatch_all(self.outbox)
            self.outbox.close()
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    def _push(self, data: dict) -> None:
        self.outbox.push(Frame(data))

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            self._push(error_frame("invalid_json", "Binary frames are not accepted."))
            return
        try:
            frame = parse_client_frame(text_data)
            if isinstance(frame, UserMessageFrame):
                await self._user_message(frame)
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
        except ChatError as exc:
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

    async def _user_message(self, frame: UserMessageFrame) -> None:
        accepted = await run_db(
            message_accept,
            user=self.user,
            conversation_id=frame.conversation_id,
            text=frame.text,
            client_id=frame.client_id,
            model=frame.model,
            system=frame.system,
        )
        conversation = accepted.conversation
        hub.watch(conversation.pk, self.outbox)
        if accepted.created_conversation or accepted.duplicate:
            self._push(conversation_frame(conversation, client_id=frame.client_id))
        if accepted.created_conversation:
            await self.channel_layer.group_send(
                self.user_group,
                {
                    "type": "chat.conversation",
                    "frame": conversation_frame(conversation),
                    "origin": self.channel_name,
                },
            )
        user_message = {
            "type": "user_message",
            "conversation_id": conversation.pk,
            "message": accepted.user_message.to_dict(),
            "client_id": str(frame.client_id),
            "duplicate": accepted.duplicate,
        }
        if not accepted.duplicate:
            hub.broadcast(conversation.pk, user_message)
            hub.start(accepted)
            return
        self._push(user_message)
        live = hub.reply_in(conversation.pk)
        if live is not None and live.message_id == accepted.reply.pk:
            self.outbox.push_resync(live)
        else:
            await self._send_saved_reply(accepted.reply.pk)

    async def _send_saved_reply(self, message_id: int) -> None:
        reply = await run_db(Message.objects.select_related("usage_record").get, pk=message_id)
        self._push(
            {
                "type": "resync",
                "conversation_id": reply.conversation_id,
                "message_id": reply.pk,
                "seq": None,
                "message": reply.to_dict(),
            }
        )

    async def _owned(self, conversation_id: int):
        conversation = await run_db(
            selectors.conversation_get, user=self.user, conversation_id=conversation_id
        )
        if conversation is None:
            raise ChatError("not_found", "No such conversation.")
        return conversation

    async def _stop(self, frame: ConversationFrame) -> None:
        live = hub.reply_in(frame.conversation_id)
        if live is not None and live.owner_id == self.user.pk:
            if live.stop():
                return
        await self._owned(frame.conversation_id)
        raise ChatError("not_streaming", "No reply is streaming in this conversation.")

    async def _open(self, frame: ConversationFrame) -> None:
        conversation = await self._owned(frame.conversation_id)
        hub.watch(conversation.pk, self.outbox)
        live = hub.reply_in(conversation.pk)
        if live is not None:
            self.outbox.push_resync(live)

    async def chat_conversation(self, event):
        """A conversation created in another tab of the same user: the sidebar shows it."""
        if event["origin"] != self.channel_name and self.outbox is not None:
            self._push(event["frame"])
