"""Requests checked against the model's entry in the catalogue, as the real API checks them:
every refusal is one the app can avoid by reading ``GET /v1/models``."""

from __future__ import annotations

import anthropic
import pytest

from .helpers import HELLO, image_block, pdf_block

HAIKU = "claude-haiku-4-5"  # enabled thinking, no effort, max_tokens 64,000
SONNET = "claude-sonnet-5"  # adaptive thinking, effort low to max without xhigh
OPUS = "claude-opus-4-8"  # adaptive thinking, every effort level, max_tokens 128,000


def refusal(client, error_class=anthropic.BadRequestError, **params):
    """The API message of the error the SDK raises for a streamed request with ``params``."""
    params = {"max_tokens": 4000, "messages": HELLO, **params}
    with pytest.raises(error_class) as refused:
        with client.messages.stream(**params) as stream:
            stream.get_final_message()
    assert refused.value.type == (
        "not_found_error" if error_class is anthropic.NotFoundError else "invalid_request_error"
    )
    return refused.value.api_message


def accepted(client, **params):
    params = {"max_tokens": 4000, "messages": HELLO, **params}
    with client.messages.stream(**params) as stream:
        return stream.get_final_message()


def test_an_unknown_model_is_not_found(client):
    message = refusal(client, anthropic.NotFoundError, model="claude-nonexistent")
    assert message == "model: claude-nonexistent"


@pytest.mark.parametrize("name", ["claude-3-7-sonnet", "claude-3-5-haiku-20241022"])
def test_a_retired_model_is_not_found_and_says_it_was_retired(client, name):
    message = refusal(client, anthropic.NotFoundError, model=name)
    assert "was retired on 2026-02-19" in message


def test_a_deprecated_model_still_answers(client):
    with pytest.warns(DeprecationWarning):  # the SDK knows it too
        message = accepted(client, model="claude-sonnet-4-5")
    assert message.model == "claude-sonnet-4-5-20250929"


def test_max_tokens_above_the_models_maximum_is_refused(client):
    message = refusal(client, model=HAIKU, max_tokens=64_001)
    assert message == (
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens "
        "for claude-haiku-4-5-20251001"
    )
    assert accepted(client, model=OPUS, max_tokens=128_000).stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        (SONNET, {"type": "enabled", "budget_tokens": 2000}, "thinking.type.enabled is not"),
        (HAIKU, {"type": "adaptive"}, "thinking.type.adaptive is not supported"),
        (HAIKU, {"type": "between_tools"}, "thinking.type.between_tools is not supported"),
        (HAIKU, {"type": "enabled", "budget_tokens": 1023}, "greater than or equal to 1024"),
        (HAIKU, {"type": "enabled", "budget_tokens": 4000}, "`max_tokens` must be greater"),
        (HAIKU, {"type": "enabled"}, "thinking.enabled.budget_tokens: Field required"),
        (SONNET, {"type": "sometimes"}, "thinking.type: Input should be"),
    ],
)
def test_thinking_the_model_does_not_take_is_refused(client, model, thinking, message):
    assert message in refusal(client, model=model, thinking=thinking)


def test_the_refusal_names_the_thinking_types_the_model_accepts(client):
    message = refusal(client, model=SONNET, thinking={"type": "enabled", "budget_tokens": 2000})
    assert message.endswith("it accepts: adaptive, disabled, between_tools")


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        (HAIKU, {"type": "enabled", "budget_tokens": 1024}),
        (SONNET, {"type": "adaptive"}),
        (SONNET, {"type": "disabled"}),
        (OPUS, {"type": "between_tools"}),
    ],
)
def test_thinking_the_model_takes_is_accepted(client, model, thinking):
    assert accepted(client, model=model, thinking=thinking).stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("model", "effort", "message"),
    [
        (HAIKU, "low", "output_config.effort: effort is not supported for this model"),
        (SONNET, "xhigh", "'xhigh' is not supported for this model"),
        (SONNET, "extreme", "output_config.effort: Input should be"),
    ],
)
def test_effort_the_model_does_not_take_is_refused(client, model, effort, message):
    assert message in refusal(client, model=model, output_config={"effort": effort})


def test_the_effort_refusal_names_the_levels_and_each_offered_level_is_accepted(client):
    message = refusal(client, model=SONNET, output_config={"effort": "xhigh"})
    assert message.endswith("it accepts: low, medium, high, max")
    for level in ("low", "medium", "high", "xhigh", "max"):
        accepted(client, model=OPUS, output_config={"effort": level})
    with pytest.warns(DeprecationWarning):
        message = refusal(client, model="claude-opus-4-5", output_config={"effort": "max"})
    assert message.endswith("it accepts: low, medium, high")


def test_a_prompt_over_max_input_tokens_is_refused_but_still_counted(fake, client):
    fake.update_model("claude-haiku-4-5-20251001", max_input_tokens=100)
    long = [{"role": "user", "content": "x" * 404}]
    assert refusal(client, model=HAIKU, messages=long) == (
        "prompt is too long: 101 tokens > 100 maximum"
    )
    assert client.messages.count_tokens(model=HAIKU, messages=long).input_tokens == 101
    assert accepted(client, model=HAIKU, messages=[{"role": "user", "content": "x" * 400}])


IMAGE = image_block()
PDF = pdf_block()
CITED = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": "Some text."},
    "citations": {"enabled": True},
}


@pytest.mark.parametrize(
    ("capability", "block", "message"),
    [
        ("image_input", IMAGE, "image input is not supported"),
        ("pdf_input", PDF, "PDF input is not supported"),
        ("citations", CITED, "citations are not supported"),
    ],
)
def test_content_the_model_cannot_read_is_refused(fake, client, capability, block, message):
    messages = [{"role": "user", "content": [block, {"type": "text", "text": "What is it?"}]}]
    assert accepted(client, model=HAIKU, messages=messages)
    fake.update_model("claude-haiku-4-5-20251001", capabilities={capability: {"supported": False}})
    assert refusal(client, model=HAIKU, messages=messages) == (
        f"messages.0.content.0: {message} for this model (claude-haiku-4-5-20251001)"
    )


def test_a_server_tool_the_model_lacks_is_refused(fake, client):
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    assert accepted(client, model=HAIKU, tools=tools)
    fake.update_model(
        "claude-haiku-4-5-20251001",
        capabilities={"server_tools": {"web_search": {"supported": False}}},
    )
    assert "tools.0: the web_search tool is not supported" in refusal(
        client, model=HAIKU, tools=tools
    )


def test_structured_outputs_need_the_capability(fake, client):
    schema = {
        "type": "json_schema",
        "schema": {"type": "object", "properties": {}, "additionalProperties": False},
    }
    assert accepted(client, model=HAIKU, output_config={"format": schema})
    fake.update_model(
        "claude-haiku-4-5-20251001", capabilities={"structured_outputs": {"supported": False}}
    )
    assert "output_config.format: structured outputs are not supported" in refusal(
        client, model=HAIKU, output_config={"format": schema}
    )


def test_count_tokens_checks_the_model_as_messages_does(client):
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nonexistent"):
        client.messages.count_tokens(model="claude-nonexistent", messages=HELLO)
    with pytest.raises(anthropic.NotFoundError, match="retired"):
        client.messages.count_tokens(model="claude-3-7-sonnet-20250219", messages=HELLO)
    with pytest.raises(anthropic.BadRequestError, match=r"thinking\.type\.enabled is not"):
        client.messages.count_tokens(
            model=SONNET, messages=HELLO, thinking={"type": "enabled", "budget_tokens": 2000}
        )
    with pytest.raises(anthropic.BadRequestError, match="effort is not supported"):
        client.messages.count_tokens(model=HAIKU, messages=HELLO, output_config={"effort": "low"})


def test_a_refused_request_leaves_its_scenario_queued(fake, client):
    fake.enqueue({"kind": "reply", "text": "Still here."})
    refusal(client, model=HAIKU, max_tokens=70_000)
    assert accepted(client, model=HAIKU).content[0].text == "Still here."
