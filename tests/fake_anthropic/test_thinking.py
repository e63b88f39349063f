"""Thinking: streamed before the text when a request asks for it, signed, and the signature
checked when the block comes back in a later turn, as the real API requires."""

from __future__ import annotations

import anthropic
import pytest

from chatapp.fake_anthropic.scenarios import split_tokens
from chatapp.fake_anthropic.thinking import default_thinking

from .helpers import HELLO, http, sse_events

HAIKU = "claude-haiku-4-5"  # thinking "enabled", shown by default
SONNET = "claude-sonnet-5"  # thinking "adaptive", omitted unless display is "summarized"
ENABLED = {"type": "enabled", "budget_tokens": 1024}
SUMMARIZED = {"type": "adaptive", "display": "summarized"}


def streamed(fake, body):
    status, _, raw = http(
        fake, "POST", "/v1/messages", {"stream": True, **body}, {"x-api-key": "k"}
    )
    assert status == 200
    return sse_events(raw)


def test_thinking_streams_as_deltas_then_a_signature_then_the_text(fake):
    fake.enqueue({"kind": "reply", "thinking": "First, the facts.", "text": "Paris."})
    body = {"model": HAIKU, "max_tokens": 2000, "messages": HELLO, "thinking": ENABLED}
    events = [event for event in streamed(fake, body) if event[0] != "ping"]
    thinking_events = [e for e in events if e[1].get("index") == 0]
    assert thinking_events[0][1]["content_block"] == {
        "type": "thinking",
        "thinking": "",
        "signature": "",
    }
    deltas = [data["delta"] for name, data in thinking_events if name == "content_block_delta"]
    assert [d["type"] for d in deltas] == ["thinking_delta"] * 5 + ["signature_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == "First, the facts."
    assert deltas[-1]["signature"]
    assert thinking_events[-1][0] == "content_block_stop"
    text_start = next(e for e in events if e[1].get("index") == 1)
    assert text_start[1]["content_block"] == {"type": "text", "text": ""}


def test_without_a_scenario_the_thinking_is_the_default_and_counts_as_output(client):
    with client.messages.stream(
        model=SONNET, max_tokens=2000, messages=HELLO, thinking=SUMMARIZED
    ) as stream:
        thoughts = "".join(event.thinking for event in stream if event.type == "thinking")
        message = stream.get_final_message()
    assert thoughts == default_thinking("Hello there") == message.content[0].thinking
    _, text = message.content
    assert message.usage.output_tokens == len(split_tokens(thoughts)) + len(split_tokens(text.text))


def test_adaptive_thinking_on_the_newest_models_is_omitted_unless_summarized(fake, client):
    fake.enqueue({"kind": "reply", "thinking": "Hidden reasoning here.", "text": "Done."})
    body = {"model": SONNET, "max_tokens": 100, "messages": HELLO, "thinking": {"type": "adaptive"}}
    events = streamed(fake, body)
    assert not any(data.get("delta", {}).get("type") == "thinking_delta" for _, data in events)
    final = client.messages.create(**body)
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "" and thinking.signature
    assert text.text.startswith("**This is a simulated reply**")
    # The hidden thinking is billed all the same.
    fake.enqueue({"kind": "reply", "thinking": "Hidden reasoning here.", "text": "Done."})
    billed = client.messages.create(**body).usage.output_tokens
    assert billed == len(split_tokens("Hidden reasoning here.")) + len(split_tokens("Done."))


def test_a_scenarios_thinking_needs_a_request_that_asks_for_it(fake, client):
    fake.enqueue({"kind": "reply", "thinking": "Unasked.", "text": "Plain."})
    message = client.messages.create(model=HAIKU, max_tokens=100, messages=HELLO)
    assert [block.type for block in message.content] == ["text"]
    fake.enqueue({"kind": "reply", "thinking": "", "text": "No need to think."})
    message = client.messages.create(
        model=SONNET, max_tokens=100, messages=HELLO, thinking=SUMMARIZED
    )
    assert [block.type for block in message.content] == ["text"]  # adaptive chose not to


def conversation(first_reply_content, question="And then?"):
    return [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": first_reply_content},
        {"role": "user", "content": question},
    ]


def test_thinking_sent_back_unchanged_is_accepted_and_changed_is_refused(fake, client):
    fake.enqueue({"kind": "reply", "thinking": "Step one.", "text": "Answer."})
    first = client.messages.create(model=HAIKU, max_tokens=2000, messages=HELLO, thinking=ENABLED)
    again = client.messages.create(
        model=HAIKU, max_tokens=2000, messages=conversation(first.content), thinking=ENABLED
    )
    assert again.stop_reason == "end_turn"

    thinking = first.content[0].model_dump()
    for changed in (
        {**thinking, "thinking": "Step one, edited."},
        {**thinking, "signature": "c2lnbmF0dXJl"},
        {**thinking, "signature": ""},
    ):
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(
                model=HAIKU,
                max_tokens=2000,
                messages=conversation([changed, {"type": "text", "text": "Answer."}]),
            )
        assert refused.value.api_message == (
            "messages.1.content.0: Invalid `signature` in `thinking` block"
        )


def test_an_omitted_thinking_block_goes_back_with_its_signature(fake, client):
    first = client.messages.create(
        model=SONNET, max_tokens=2000, messages=HELLO, thinking={"type": "adaptive"}
    )
    assert first.content[0].thinking == ""
    second = client.messages.create(
        model=SONNET,
        max_tokens=2000,
        messages=conversation(first.content),
        thinking={"type": "adaptive"},
    )
    assert second.stop_reason == "end_turn"


def test_redacted_thinking_arrives_whole_and_must_come_back_unchanged(fake, client):
    fake.enqueue(
        {"kind": "reply", "thinking": "Visible part.", "redacted_thinking": True, "text": "Hi."}
    )
    with client.messages.stream(
        model=HAIKU, max_tokens=2000, messages=HELLO, thinking=ENABLED
    ) as s:
        events = list(s)
        message = s.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "redacted_thinking", "text"]
    start = next(e for e in events if e.type == "content_block_start" and e.index == 1)
    assert start.content_block.type == "redacted_thinking" and start.content_block.data
    assert not [e for e in events if e.type == "content_block_delta" and e.index == 1]

    client.messages.create(model=HAIKU, max_tokens=2000, messages=conversation(message.content))
    redacted = {"type": "redacted_thinking", "data": message.content[1].data[:-4] + "AAA="}
    with pytest.raises(anthropic.BadRequestError, match="Invalid `data` in `redacted_thinking`"):
        client.messages.create(model=HAIKU, max_tokens=2000, messages=conversation([redacted]))


def test_thinking_counts_against_max_tokens(fake, client):
    fake.enqueue({"kind": "reply", "tokens": 2000, "thinking": "word " * 1500})
    message = client.messages.create(model=HAIKU, max_tokens=1100, messages=HELLO, thinking=ENABLED)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 1100
    (thinking,) = message.content  # cut short while thinking: no text block
    assert thinking.type == "thinking" and len(split_tokens(thinking.thinking)) == 1100
