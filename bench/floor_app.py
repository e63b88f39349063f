"""The framework floor for `bench/relay.py --floor`: the app's stack (daphne, Channels'
AsyncWebsocketConsumer, the SDK's raw event stream through `chatapp.llm.stream`) relaying
one reply per socket, with nothing of the app itself: no login, no database, no ledger, no
outbox, no other tabs. What the app adds over this is the app's own cost; what this adds
over the direct SDK reader is the cost of the fixed stack."""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from django.conf import settings  # noqa: E402

from chatapp.llm.stream import ReplyRequest, ReplyState, stream_events  # noqa: E402


class FloorConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        text = json.loads(text_data)["text"]
        request = ReplyRequest(
            model=settings.CHAT_DEFAULT_MODEL,
            max_tokens=settings.CHAT_DEFAULT_MAX_TOKENS,
            messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        )
        state = ReplyState()
        async for event in stream_events(request, state):
            if event.data["type"] != "message_stop":
                await self.send(text_data=event.json)
        message = {"status": "complete", "content": state.saved_content()}
        await self.send(text_data=json.dumps({"type": "message_stop", "message": message}))


application = FloorConsumer.as_asgi()
