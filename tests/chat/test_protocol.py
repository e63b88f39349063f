"""docs/protocol.md is the spec: each frame type it documents, both ways and between server
processes, is handled by chatapp/chat/protocol.py with exactly the documented fields. The
tables are read from the page itself, so a type added to one and not the other fails."""

import json
import re
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import override_settings

from chatapp.chat import protocol
from chatapp.chat.models import Message

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "protocol.md").read_text()
RECORDINGS = ROOT / "chatapp" / "fake_anthropic" / "recordings"


def table(heading: str) -> dict[str, set[str]]:
    """The type column and the top-level field names of the table under `heading`: the
    first name in each pair of backticks (`delta {stop_reason, stop_sequence}` documents
    `delta`), less those inside parentheses (which describe nested values)."""
    section = SPEC.split(f"## {heading}", 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        kind = cells[0].strip("`")
        fields = re.sub(r"\([^()]*\)", "", cells[1])
        rows[kind] = set(re.findall(r"`([a-z_]+)\b[^`]*`", fields)) - {"null", "true", "false"}
    assert rows, f"no table under {heading}"
    return rows


SERVER = table("Server → client")
CLIENT = table("Client → server")
LAYER = table("Between server processes")
# "Every frame about a reply carries the assistant message's message_id and a seq."
REPLY_FIELDS = {"conversation_id", "message_id", "seq"}


def upstream_events() -> dict[str, tuple[dict, str]]:
    """One recorded upstream event of each type, as parsed and as sent."""
    events = {}
    for recording in sorted(RECORDINGS.glob("*.sse")):
        for line in recording.read_text().splitlines():
            if line.startswith("data: "):
                raw = line[len("data: ") :]
                data = json.loads(raw)
                events.setdefault(data["type"], (data, raw))
    return events


def stamped(data: dict, raw: str | None = None) -> list[dict]:
    """A reply event as the hub stamps it: the dict, and the text sent when the
    upstream's own JSON is reused."""
    data = json.loads(json.dumps(data))
    text = protocol.ReplyEvents(4, 9).stamp(data, 12, raw)
    return [data] if text is None else [data, json.loads(text)]


CONVERSATION = SimpleNamespace(
    pk=4,
    title="Plans",
    model="claude-sonnet-5",
    pinned=False,
    thinking=True,
    effort="high",
    web_search=True,
    updated_at=None,
)
MESSAGE = {"id": 9, "role": "assistant", "status": "complete", "content": []}


def server_frames(kind: str) -> list[dict]:
    if kind == "conversation":
        return [protocol.conversation_frame(CONVERSATION, client_id=uuid.uuid4())]
    if kind == "user_message":
        return [
            protocol.user_message_frame(
                conversation_id=4, message=MESSAGE, client_id=uuid.uuid4(), duplicate=False
            )
        ]
    if kind == "branch":
        return [
            protocol.branch_frame(
                conversation_id=4, active_leaf_id=9, messages=[MESSAGE], client_id=uuid.uuid4()
            )
        ]
    if kind == "resync":
        return [protocol.resync_frame(conversation_id=4, message_id=9, seq=3, message=MESSAGE)]
    if kind == "message_stop":
        return stamped(protocol.message_stop_frame(MESSAGE))
    if kind == "error":
        return [
            protocol.error_frame(
                "busy", "Busy.", conversation_id=4, message_id=9, client_id=str(uuid.uuid4())
            )
        ]
    data, raw = upstream_events()[kind]  # relayed from upstream, stamped with our ids
    return stamped(data, raw)


@pytest.mark.parametrize("kind", sorted(SERVER))
def test_each_documented_server_frame_is_built_with_its_fields(kind):
    documented = SERVER[kind] | {"type"}
    if kind not in ("conversation", "user_message", "branch", "error"):
        documented |= REPLY_FIELDS
    for frame in server_frames(kind):
        assert frame["type"] == kind
        assert frame.keys() == documented, (
            f"{kind}: undocumented {frame.keys() - documented}, lacks {documented - frame.keys()}"
        )
        json.loads(protocol.encode(frame))


def test_the_server_types_are_those_documented():
    relayed = {"message_start", "content_block_start", "content_block_delta"}
    relayed |= {"content_block_stop", "message_delta"}
    built = {"conversation", "user_message", "branch", "resync", "message_stop", "error"}
    assert set(SERVER) == built | relayed
    assert relayed <= upstream_events().keys()


def test_a_joined_delta_keeps_the_shape_of_a_delta():
    (first,) = stamped(upstream_events()["content_block_delta"][0])
    joined = protocol.joined_text_delta(first, "Hello there", 15)
    assert joined.keys() == first.keys() and joined["seq"] == 15
    assert joined["delta"] == {"type": "text_delta", "text": "Hello there"}
    assert first["delta"]["text"] != "Hello there"  # the original frame is left alone


def client_example(kind: str) -> dict:
    values = {
        "conversation_id": 4,
        "text": "Hi",
        "client_id": str(uuid.uuid4()),
        "model": "claude-sonnet-5",
        "system": "Be brief.",
        "thinking": True,
        "effort": "high",
        "web_search": True,
        "attachments": [3, 5],
        "message_id": 9,
    }
    return {"type": kind, **{name: values[name] for name in CLIENT[kind]}}


@pytest.mark.parametrize("kind", sorted(CLIENT))
def test_each_documented_client_frame_is_parsed_with_its_fields(kind):
    frame = client_example(kind)
    with override_settings(CHAT_MAX_MESSAGE_CHARS=100):
        parsed = protocol.parse_client_frame(json.dumps(frame))
    for name, value in frame.items():
        if name == "type" and kind != "user_message":
            assert parsed.type == kind  # the verbs on a conversation or a message
        elif name == "attachments":
            assert list(parsed.attachments) == value
        elif name != "type":
            assert str(getattr(parsed, name)) == str(value)


def test_an_undocumented_client_type_is_refused_naming_the_documented_ones():
    with pytest.raises(protocol.FrameError) as refused:
        protocol.parse_client_frame(json.dumps({"type": "shout"}))
    assert refused.value.code == "unknown_type"
    for kind in CLIENT:
        assert kind in refused.value.message


LAYER_EXAMPLES = {
    "chat.relay": lambda: protocol.relay_message(
        origin="hub", conversation_id=4, message_id=9, frames=[[1, "{}"]]
    ),
    "chat.conversation": lambda: protocol.conversation_message(
        protocol.conversation_frame(CONVERSATION), origin="specific.abc"
    ),
    "chat.resync_request": lambda: protocol.resync_request(conversation_id=4, reply_to="x"),
    "chat.stop_request": lambda: protocol.stop_request(conversation_id=4, owner_id=2),
}


def test_the_channel_layer_messages_are_those_documented():
    assert set(LAYER) == set(LAYER_EXAMPLES)
    for kind, build in LAYER_EXAMPLES.items():
        message = build()
        assert message["type"] == kind
        assert message.keys() - {"type"} == LAYER[kind], kind


def test_the_message_object_has_the_documented_keys(db):
    example = json.loads(
        SPEC.split("### Message object", 1)[1].split("```json", 1)[1].split("```")[0]
    )
    assert Message(role="assistant").to_dict().keys() == example.keys()


@pytest.mark.parametrize(
    ("attachments", "code"),
    [
        ("3", "invalid_attachment"),
        ([3, True], "invalid_attachment"),
        ([0], "invalid_attachment"),
        ([1.5], "invalid_attachment"),
        (list(range(1, 22)), "too_many_attachments"),
    ],
)
def test_attachments_that_are_not_a_short_list_of_ids_are_refused(attachments, code):
    frame = {**client_example("user_message"), "attachments": attachments}
    with pytest.raises(protocol.FrameError) as refused:
        protocol.parse_client_frame(json.dumps(frame))
    assert refused.value.code == code
    assert refused.value.client_id == frame["client_id"]


def test_the_same_attachment_twice_is_sent_once():
    frame = {**client_example("user_message"), "attachments": [5, 3, 5]}
    assert protocol.parse_client_frame(json.dumps(frame)).attachments == (5, 3)


@pytest.mark.parametrize("effort", ["extreme", "ultra-maximum", "HIGH", 3, True])
def test_an_effort_that_is_no_level_is_refused_with_the_frames_client_id(effort):
    frame = {**client_example("user_message"), "effort": effort}
    with pytest.raises(protocol.FrameError) as refused:
        protocol.parse_client_frame(json.dumps(frame))
    assert refused.value.code == "invalid_field" and "xhigh" in refused.value.message
    assert refused.value.client_id == frame["client_id"]


@pytest.mark.parametrize("effort", ["", "low", "medium", "high", "xhigh", "max"])
def test_every_effort_level_and_the_default_are_parsed(effort):
    frame = {**client_example("user_message"), "effort": effort}
    assert protocol.parse_client_frame(json.dumps(frame)).effort == effort
