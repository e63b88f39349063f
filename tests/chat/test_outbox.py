"""One socket's outbox (chatapp/chat/outbox.py), driven with a fake `send`: what a tab
receives when it keeps up, when it falls behind, and when deltas may be joined."""

import asyncio
import json

import pytest

from chatapp.chat import protocol
from chatapp.chat.outbox import Frame, Outbox

CONVERSATION, MESSAGE = 3, 7


class Tab:
    """A socket whose sends can be held, as a slow network holds them."""

    def __init__(self):
        self.sent: list[dict] = []
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def send(self, text: str) -> None:
        await self.flowing.wait()
        self.sent.append(json.loads(text))

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.sent]

    def text(self) -> str:
        """The reply's text as a tab shows it: a resync replaces, a delta appends."""
        shown = ""
        for frame in self.sent:
            if frame["type"] == "resync":
                shown = frame["message"]["content"][0]["text"]
            elif frame["type"] == "content_block_delta":
                shown += frame["delta"]["text"]
        return shown


class Reply:
    """A reply streaming in this process: it can always say what it holds so far."""

    def __init__(self, message_id: int = MESSAGE):
        self.message_id = message_id
        self.seq = 0
        self.text = ""
        self.events = protocol.ReplyEvents(CONVERSATION, message_id)

    def delta(self, text: str) -> Frame:
        self.seq += 1
        self.text += text
        data = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }
        self.events.stamp(data, self.seq)
        return Frame(data, message_id=self.message_id, seq=self.seq, reply=self)

    def stop(self) -> Frame:
        self.seq += 1
        message = {"status": "complete", "content": [{"type": "text", "text": self.text}]}
        data = protocol.message_stop_frame(message)
        self.events.stamp(data, self.seq)
        return Frame(data, message_id=self.message_id, seq=self.seq, reply=self)

    def resync_frame(self) -> dict:
        message = {"status": "streaming", "content": [{"type": "text", "text": self.text}]}
        return protocol.resync_frame(
            conversation_id=CONVERSATION,
            message_id=self.message_id,
            seq=self.seq,
            message=message,
        )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def tab():
    return Tab()


@pytest.fixture
async def outboxes():
    made = []

    def make(tab: Tab, capacity: int = 64, join_window: float = 0.0, **hooks) -> Outbox:
        outbox = Outbox(tab.send, capacity, join_window, **hooks)
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        outbox.close()


class Relayed:
    """A reply streaming in another process: its frames come relayed, with no source here
    to ask what it holds (`reply=None`), and a resync of it comes relayed too."""

    def __init__(self):
        self.texts: list[str] = []

    def delta(self, seq: int) -> Frame:
        """The delta of `seq`; the same seq gives the same frame, as a late relay does."""
        while len(self.texts) < seq:
            self.texts.append(f"w{len(self.texts) + 1} ")
        data = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": self.texts[seq - 1]},
        }
        protocol.ReplyEvents(CONVERSATION, MESSAGE).stamp(data, seq)
        return Frame(data, message_id=MESSAGE, seq=seq, reply=None)

    def resync(self, seq: int) -> Frame:
        message = {"status": "streaming", "content": [{"type": "text", "text": self.text(seq)}]}
        data = protocol.resync_frame(
            conversation_id=CONVERSATION, message_id=MESSAGE, seq=seq, message=message
        )
        return Frame(data, message_id=MESSAGE, seq=seq, reply=None)

    def text(self, seq: int) -> str:
        return "".join(self.texts[:seq])


def assert_seq_never_goes_back(tab: Tab) -> None:
    seqs = [f["seq"] for f in tab.sent if f.get("message_id") == MESSAGE and f["seq"] is not None]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


async def test_a_tab_that_keeps_up_gets_every_delta_as_its_own_frame(tab, outboxes):
    outbox, reply = outboxes(tab), Reply()
    for word in ("one ", "two ", "three"):
        outbox.push(reply.delta(word))
        await settle()
    outbox.push(reply.stop())
    await settle()
    assert tab.types() == ["content_block_delta"] * 3 + ["message_stop"]
    assert [f["seq"] for f in tab.sent] == [1, 2, 3, 4]
    assert tab.text() == "one two three"


async def test_deltas_that_queue_up_are_joined_into_one_frame_of_the_last_seq(tab, outboxes):
    outbox, reply = outboxes(tab), Reply()
    outbox.push(reply.delta("first "))
    await settle()
    tab.flowing.clear()  # the network stalls
    outbox.push(reply.delta("held "))  # taken by the writer, waiting on the send
    await settle()
    for word in ("a ", "b ", "c"):
        outbox.push(reply.delta(word))
    tab.flowing.set()
    await settle()
    assert [f["delta"]["text"] for f in tab.sent] == ["first ", "held ", "a b c"]
    assert tab.sent[-1]["seq"] == 5 and tab.sent[-1]["delta"]["type"] == "text_delta"
    assert tab.text() == reply.text
    assert_seq_never_goes_back(tab)


async def test_the_first_delta_is_never_held_back_by_the_join_window(tab, outboxes):
    outbox, reply = outboxes(tab, join_window=0.2), Reply()
    outbox.push(reply.delta("now"))
    await settle()
    assert [f["delta"]["text"] for f in tab.sent] == ["now"]
    # The next ones, within the window, wait to be joined into one frame.
    outbox.push(reply.delta(" and"))
    outbox.push(reply.delta(" later"))
    await settle()
    assert len(tab.sent) == 1
    await asyncio.sleep(0.3)
    assert [f["delta"]["text"] for f in tab.sent] == ["now", " and later"]


async def test_a_tab_that_falls_behind_gets_one_resync_instead_of_the_queued_deltas(tab, outboxes):
    outbox, reply = outboxes(tab, capacity=4), Reply()
    tab.flowing.clear()
    for n in range(50):
        outbox.push(reply.delta(f"w{n} "))
        assert len(outbox) <= 4  # capacity respected, whatever the producer does
    tab.flowing.set()
    await settle()
    assert "resync" in tab.types()
    assert len(tab.sent) < 10
    assert tab.text() == reply.text  # no hole in the text
    assert_seq_never_goes_back(tab)
    # Later deltas carry on from the resync.
    outbox.push(reply.delta("end"))
    await settle()
    assert tab.sent[-1]["seq"] == 51 and tab.text() == reply.text


async def test_message_stop_is_never_dropped_nor_folded_into_a_resync(tab, outboxes):
    outbox, reply = outboxes(tab, capacity=3), Reply()
    tab.flowing.clear()
    outbox.push(reply.delta("a"))
    outbox.push(reply.delta("b"))
    outbox.push(reply.stop())
    for _ in range(5):  # frames of another kind keep filling the queue past capacity
        outbox.push(Frame(protocol.error_frame("busy", "x", conversation_id=CONVERSATION)))
    other = Reply(message_id=8)
    outbox.push(other.delta("z"))  # another reply's delta, past capacity
    tab.flowing.set()
    await settle()
    stops = [f for f in tab.sent if f["type"] == "message_stop"]
    assert len(stops) == 1 and stops[0]["message"]["content"][0]["text"] == "ab"
    assert tab.types().count("error") == 5  # frames about no reply are never dropped
    resync = next(f for f in tab.sent if f["type"] == "resync")
    assert resync["message_id"] == 8 and resync["message"]["content"][0]["text"] == "z"
    assert_seq_never_goes_back(tab)


async def test_a_resync_asked_for_covers_the_deltas_that_follow_it(tab, outboxes):
    outbox, reply = outboxes(tab), Reply()
    tab.flowing.clear()
    outbox.push(reply.delta("x"))
    await settle()  # in flight
    outbox.push(reply.delta("y"))
    outbox.push_resync(reply)  # e.g. the tab opened the conversation again
    outbox.push(reply.delta("z"))  # included in the resync to come: not sent on its own
    tab.flowing.set()
    await settle()
    assert tab.types() == ["content_block_delta", "content_block_delta", "resync"]
    assert tab.sent[-1]["seq"] == 3 and tab.text() == "xyz"
    outbox.push(reply.stop())
    await settle()
    assert tab.types()[-1] == "message_stop"
    assert_seq_never_goes_back(tab)


async def test_a_closed_outbox_takes_nothing_more(tab, outboxes):
    outbox, reply = outboxes(tab), Reply()
    outbox.close()
    outbox.push(reply.delta("late"))
    await settle()
    assert tab.sent == [] and len(outbox) == 0


async def test_a_send_that_fails_closes_the_socket_instead_of_leaving_it_mute():
    broken, sent = [], []

    async def send(text: str) -> None:
        if "boom" in text:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        sent.append(text)

    outbox = Outbox(send, 64, broken=lambda: broken.append(True))
    outbox.push(Frame({"type": "error", "code": "x", "message": "boom"}))
    outbox.push(Frame({"type": "error", "code": "y", "message": "after"}))
    for _ in range(5):
        await asyncio.sleep(0)
    assert broken == [True] and not sent
    outbox.push(Frame({"type": "error", "code": "z", "message": "later"}))
    await asyncio.sleep(0)
    assert not sent  # a broken outbox takes nothing more
    outbox.close()


async def test_relayed_frames_with_nobody_to_ask_for_a_resync_are_never_dropped(tab, outboxes):
    outbox, relayed = outboxes(tab, capacity=3), Relayed()
    tab.flowing.clear()
    for seq in range(1, 11):
        outbox.push(relayed.delta(seq))
    assert len(outbox) >= 9  # past capacity: a hole in the text would be worse
    tab.flowing.set()
    await settle()
    assert "resync" not in tab.types()
    assert tab.text() == relayed.text(10) and tab.sent[-1]["seq"] == 10
    assert_seq_never_goes_back(tab)


async def test_a_relayed_reply_that_falls_behind_is_resynced_by_its_own_process(tab, outboxes):
    asked = []
    outbox = outboxes(tab, capacity=4, request_resync=lambda *ids: asked.append(ids))
    relayed = Relayed()
    tab.flowing.clear()
    for seq in range(1, 21):
        outbox.push(relayed.delta(seq))
    assert asked == [(CONVERSATION, MESSAGE)]  # once, however many frames follow
    assert len(outbox) == 0  # the queued frames of that reply are dropped, not sent
    # The resync comes relayed, then a relay batch already on its way with older events,
    # then the reply goes on.
    outbox.push(relayed.resync(20))
    for seq in (19, 20, 21):
        outbox.push(relayed.delta(seq))
    tab.flowing.set()
    await settle()
    assert tab.types() == ["resync", "content_block_delta"]
    assert [f["seq"] for f in tab.sent] == [20, 21]
    assert tab.text() == relayed.text(21)  # nothing stale after the resync, nothing twice
    assert asked == [(CONVERSATION, MESSAGE)]
