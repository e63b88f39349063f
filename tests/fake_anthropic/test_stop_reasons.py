"""Every stop reason a reply can end with, streamed and whole, as the app receives them."""

from __future__ import annotations

import anthropic
import pytest

from chatapp.fake_anthropic.replies import DEFAULT_CONTINUATION
from chatapp.fake_anthropic.scenarios import split_tokens

from .helpers import HELLO, MODEL

ANSWER = "The answer is forty-two."


def final_message(client, **params):
    params = {"model": MODEL, "max_tokens": 100, "messages": HELLO, **params}
    with client.messages.stream(**params) as stream:
        events = list(stream)
        message = stream.get_final_message()
    (delta,) = [event for event in events if event.type == "message_delta"]
    assert delta.delta.stop_reason == message.stop_reason
    return message


@pytest.mark.parametrize(
    "stop_reason",
    ["end_turn", "max_tokens", "model_context_window_exceeded", "tool_use", "compaction_paused"],
)
def test_a_scenarios_stop_reason_ends_the_reply(fake, client, stop_reason):
    """Including a value newer than the SDK: it arrives as sent, the app must cope."""
    fake.enqueue({"kind": "reply", "text": ANSWER, "stop_reason": stop_reason})
    message = final_message(client)
    assert message.stop_reason == stop_reason and message.stop_sequence is None
    assert message.content[0].text == ANSWER
    assert message.usage.output_tokens == len(split_tokens(ANSWER))
    fake.enqueue({"kind": "reply", "text": ANSWER, "stop_reason": stop_reason})
    whole = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert whole.stop_reason == stop_reason


def test_stop_sequence_names_the_sequence_given_or_the_requests_own(fake, client):
    fake.enqueue({"kind": "reply", "text": "Counting: one, two", "stop_sequence": "three"})
    message = final_message(client)
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "three")
    fake.enqueue({"kind": "reply", "text": "Listing", "stop_reason": "stop_sequence"})
    message = final_message(client, stop_sequences=["###", "END"])
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")


def test_a_refusal_is_billed_and_says_why(fake, client):
    fake.enqueue({"kind": "reply", "text": "I can start, but", "stop_reason": "refusal"})
    message = final_message(client)
    assert message.stop_reason == "refusal"
    assert message.stop_details.type == "refusal" and message.stop_details.category is None
    assert message.content[0].text == "I can start, but"
    assert message.usage.output_tokens == len(split_tokens("I can start, but"))

    details = {"type": "refusal", "category": "cyber", "explanation": "Policy."}
    fake.enqueue(
        {
            "kind": "reply",
            "stop_reason": "refusal",
            "stop_details": details,
            "usage": {"output_tokens": 120, "output_tokens_details": {"thinking_tokens": 67}},
        }
    )
    message = client.messages.create(model=MODEL, max_tokens=200, messages=HELLO)
    assert message.content[0].text == ""  # as the recorded refusal: nothing shown, 120 billed
    assert message.usage.output_tokens == 120
    assert message.stop_details.category == "cyber"


def test_the_context_window_ends_a_reply_that_would_overflow_it(fake, client):
    fake.update_model("claude-sonnet-5-20260929", max_input_tokens=20)
    fake.enqueue({"kind": "reply", "tokens": 50})
    message = final_message(client, messages=[{"role": "user", "content": "x" * 60}])  # 15
    assert message.stop_reason == "model_context_window_exceeded"
    assert message.usage.output_tokens == 5


def test_a_paused_turn_sent_back_continues_and_ends_the_turn(fake, client):
    fake.enqueue(
        {
            "kind": "reply",
            "text": "Searching the archive",
            "stop_reason": "pause_turn",
            "continuation": " and here is what it holds.",
        },
        {"kind": "reply", "text": "The next question's answer."},
    )
    paused = final_message(client)
    assert paused.stop_reason == "pause_turn"
    resumed_history = [*HELLO, {"role": "assistant", "content": paused.content}]
    resumed = final_message(client, messages=resumed_history)
    assert resumed.stop_reason == "end_turn"
    assert resumed.content[0].text == " and here is what it holds."
    assert [s["text"] for s in fake.pending_scenarios] == ["The next question's answer."]
    # Sent back again (a retry), the same paused turn gets the same continuation.
    assert final_message(client, messages=resumed_history).content[0].text.startswith(" and")


def test_a_paused_turn_without_a_continuation_gets_the_default(fake, client):
    fake.enqueue({"kind": "reply", "text": "Working", "stop_reason": "pause_turn"})
    paused = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    history = [*HELLO, {"role": "assistant", "content": "Working"}]  # a string is the same turn
    resumed = client.messages.create(model=MODEL, max_tokens=100, messages=history)
    assert (paused.stop_reason, resumed.stop_reason) == ("pause_turn", "end_turn")
    assert resumed.content[0].text == DEFAULT_CONTINUATION


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"stop_reason": "End-Turn"}, "'stop_reason' must be one of end_turn"),
        ({"stop_reason": "end_turn", "stop_sequence": "X"}, "'stop_sequence' goes with"),
        ({"stop_details": "cyber"}, "'stop_details' must be an object"),
    ],
)
def test_bad_stop_fields_are_refused_when_queued(fake, scenario, message):
    with pytest.raises(ValueError, match=message):
        fake.enqueue({"kind": "reply", **scenario})


def test_a_stop_sequence_reply_without_any_sequence_is_a_fake_error(fake, client):
    fake.enqueue({"kind": "reply", "stop_reason": "stop_sequence"})
    with pytest.raises(anthropic.BadRequestError, match="fake: a stop_sequence reply needs"):
        client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)


def test_a_paused_turn_without_a_continuation_goes_on_with_the_next_queued_scenario(fake, client):
    fake.enqueue(
        {"kind": "reply", "text": "part one.", "stop_reason": "pause_turn"},
        {"kind": "reply", "text": "part two.", "stop_reason": "pause_turn"},
        {"kind": "reply", "text": "done."},
    )
    first = final_message(client)
    turn = [{"type": "text", "text": "part one."}]
    second = final_message(client, messages=[*HELLO, {"role": "assistant", "content": turn}])
    assert (second.stop_reason, second.content[0].text) == ("pause_turn", "part two.")
    # Sent back whole, as one turn of two blocks (or two assistant messages), it goes on.
    turn.append({"type": "text", "text": "part two."})
    third = final_message(client, messages=[*HELLO, {"role": "assistant", "content": turn}])
    assert (first.stop_reason, third.stop_reason, third.content[0].text) == (
        "pause_turn",
        "end_turn",
        "done.",
    )
