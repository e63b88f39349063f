import uuid

from chatapp.chat.models import Message

TIMEOUT = 10


async def receive_until(communicator, frame_type: str, *, wait: float = TIMEOUT) -> list[dict]:
    """All frames up to and including the first of `frame_type`."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=wait)
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


def user_message(text: str = "Hello", conversation_id=None, **extra) -> dict:
    return {
        "type": "user_message",
        "conversation_id": conversation_id,
        "text": text,
        "client_id": str(uuid.uuid4()),
        **extra,
    }


def joined_text(frames: list[dict]) -> str:
    return "".join(
        f["delta"]["text"]
        for f in frames
        if f["type"] == "content_block_delta" and f["delta"]["type"] == "text_delta"
    )


def of_type(frames: list[dict], frame_type: str) -> list[dict]:
    return [f for f in frames if f["type"] == frame_type]


async def saved(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


async def converse(communicator, text: str = "Hello", conversation_id=None, **extra):
    """Sends a message and reads its whole reply; returns (frames, saved reply)."""
    await communicator.send_json_to(user_message(text, conversation_id, **extra))
    frames = await receive_until(communicator, "message_stop")
    stop = frames[-1]
    return frames, await saved(stop["message_id"])
