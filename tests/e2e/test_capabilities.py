"""What the models can do, in real headless Chromium against the real server: thinking and
effort for a new chat, the thinking block as it streams and folds, the context gauge, a
refusal, and the picker's deprecated and no-longer-offered models. Each test checks what
the person sees, what was sent upstream and what the database holds, and leaves
screenshots (light, dark, phone) in tests/e2e/screenshots/."""

import re
import time

import pytest

from chatapp.chat.models import Conversation, Message
from chatapp.llm.models import ClaudeModel

from . import test_browser
from .test_manage import PHONE, conversation, expect, log_in, shoot

pytestmark = pytest.mark.browser

live_server_url = test_browser.live_server_url
page = test_browser.page

THOUGHT = " ".join(f"step{i}" for i in range(80))
ANSWER = "Seventeen is prime: " + " ".join(f"no{i} divides it" for i in range(15)) + "."
ASSISTANT = '.message[data-role="assistant"]'


def settings_panel(page):
    panel = page.locator("#system-prompt-panel")
    if panel.get_attribute("open") is None:
        page.get_by_text("Conversation settings").click()
    return panel


def test_think_before_answering_streams_folds_and_is_sent_back(
    live_server_url, page, fake_api, owner
):
    fake_api.enqueue(
        {"kind": "reply", "text": ANSWER, "thinking": THOUGHT, "token_delay": 0.06},
        {"kind": "reply", "text": "Nineteen is prime too.", "thinking": "Check 19 as well."},
    )
    log_in(page, live_server_url)
    settings_panel(page)
    think = page.get_by_role("checkbox", name="Think before answering")
    effort = page.get_by_role("combobox", name="Effort")
    expect(think).not_to_be_checked()
    expect(effort.locator("option")).to_have_text(["Default", "Low", "Medium", "High", "Max"])

    # A model without effort levels hides the setting; one with more levels offers them.
    page.get_by_role("combobox", name="Model").select_option(label="Claude Haiku 4.5")
    expect(effort).to_be_hidden()
    expect(think).to_be_visible()
    page.get_by_role("combobox", name="Model").select_option(label="Claude Opus 4.8")
    expect(effort.locator("option")).to_have_text(
        ["Default", "Low", "Medium", "High", "Extra high", "Max"]
    )
    think.check()
    effort.select_option(label="High")
    shoot(page, "thinking-settings-new-chat")
    page.get_by_text("Conversation settings").click()  # folded, for room

    page.fill("#composer", "Is 17 prime?")
    page.press("#composer", "Enter")

    # The thinking streams, open, into its block.
    thinking = page.locator(f"{ASSISTANT} details.thinking")
    expect(thinking).to_have_attribute("open", "")
    summary = thinking.locator("summary")
    expect(summary).to_have_text("Thinking…")
    text = thinking.locator(".thinking-text")
    lengths = []
    while len(lengths) < 6:
        lengths.append(len(text.inner_text()))
        time.sleep(0.08)
    assert len(set(lengths)) >= 3, f"the thinking did not stream: {lengths}"
    shoot(page, "thinking-streaming")

    # Folded from the keyboard, it stays folded while the thinking goes on.
    summary.focus()
    page.keyboard.press("Enter")
    expect(thinking).not_to_have_attribute("open", "")
    before = len(text.text_content())
    page.wait_for_function(
        "n => document.querySelector('details.thinking .thinking-text').textContent.length > n",
        arg=before,
    )
    expect(thinking).not_to_have_attribute("open", "")

    # Unfolded again while the answer streams, it stays open when the reply ends (and its
    # elements are rebuilt from the saved message).
    body_text = page.locator(f"{ASSISTANT} .block-text")
    expect(body_text).not_to_be_empty()
    assert page.locator(ASSISTANT).get_attribute("data-status") == "streaming"
    page.keyboard.press("Space")
    expect(thinking).to_have_attribute("open", "")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    expect(body_text).to_have_text(ANSWER)
    expect(thinking).to_have_attribute("open", "")
    expect(summary).to_have_text("Thinking")
    expect(text).to_have_text(THOUGHT)

    sent = fake_api.requests[-1]["body"]
    assert sent["model"] == "claude-opus-4-8"
    assert sent["thinking"]["type"] == "adaptive"
    assert sent["output_config"] == {"effort": "high"}
    chat = Conversation.objects.get()
    assert (chat.model, chat.thinking, chat.effort) == ("claude-opus-4-8", True, "high")

    # The context gauge: the reply's whole usage out of the model's window.
    reply = Message.objects.get(role="assistant")
    size = sum(reply.usage.values())
    gauge = page.locator("#context-gauge")
    expect(gauge).to_contain_text(f"{size:,} / 200,000 tokens")
    meter = page.get_by_role("meter", name="Context window used")
    expect(meter).to_have_attribute("max", "200000")
    expect(meter).to_have_attribute("value", str(size))
    shoot(page, "thinking-done")

    # After a reload the thinking is there, folded; the settings are the conversation's.
    page.reload()
    page.wait_for_selector("#composer:not([readonly])")
    expect(thinking).not_to_have_attribute("open", "")
    expect(summary).to_have_text("Thinking")
    settings_panel(page)
    expect(think).to_be_checked()
    expect(effort).to_have_value("high")
    page.get_by_text("Conversation settings").click()
    expect(gauge).to_contain_text(f"{size:,} / 200,000 tokens")
    summary.focus()
    page.keyboard.press("Enter")
    expect(text).to_have_text(THOUGHT)

    # A second turn sends the signed thinking back, and thinks again.
    page.fill("#composer", "And 19?")
    page.press("#composer", "Enter")
    expect(page.locator(ASSISTANT)).to_have_count(2)
    expect(page.locator(ASSISTANT).last).to_have_attribute("data-status", "complete")
    expect(page.locator(f"{ASSISTANT} details.thinking")).to_have_count(2)
    expect(page.locator(f"{ASSISTANT} details.thinking").last).not_to_have_attribute("open", "")
    history = fake_api.requests[-1]["body"]["messages"]
    assert history[1]["content"][0]["type"] == "thinking"
    assert history[1]["content"][0]["thinking"] == THOUGHT
    assert fake_api.requests[-1]["outcome"] == "completed"
    latest = Message.objects.filter(role="assistant").latest("id")
    expect(gauge).to_contain_text(f"{sum(latest.usage.values()):,} / 200,000 tokens")
    page.set_viewport_size(PHONE)
    shoot(page, "thinking-phone")


def test_a_refusal_is_shown_as_a_refusal_not_as_an_error(live_server_url, page, fake_api, owner):
    fake_api.enqueue({"kind": "recording", "name": "refusal_response"})
    log_in(page, live_server_url)
    page.fill("#composer", "Something it will not do")
    page.press("#composer", "Enter")
    reply = page.locator(ASSISTANT)
    expect(reply).to_have_attribute("data-status", "complete")
    refusal = reply.locator(".refusal-note")
    expect(refusal).to_contain_text("Declined")
    expect(refusal).to_contain_text(
        "Claude declined to answer this request. The 120 tokens it wrote are billed."
    )
    expect(reply.locator(".error-note")).to_have_count(0)
    expect(reply.get_by_role("alert")).to_have_count(0)
    expect(reply.locator(".usage")).to_contain_text("20 in · 120 out tokens")
    assert Message.objects.get(role="assistant").stop_reason == "refusal"
    shoot(page, "refusal")

    page.reload()
    expect(page.locator(f"{ASSISTANT} .refusal-note")).to_contain_text("120 tokens")
    page.set_viewport_size(PHONE)
    shoot(page, "refusal-phone", schemes=("dark",))


def test_a_stop_sequence_and_a_cut_off_reply_say_why_they_ended(
    live_server_url, page, fake_api, owner
):
    chat = conversation(owner, "Stops")
    Conversation.objects.filter(pk=chat.pk).update(stop_sequences=["END"])
    fake_api.enqueue(
        {"kind": "reply", "text": "One two END three"},
        {"kind": "reply", "tokens": 40, "stop_reason": "max_tokens"},
        {"kind": "reply", "text": "Odd.", "stop_reason": "tea_break"},
    )
    log_in(page, live_server_url, f"/c/{chat.pk}/")
    replies = page.locator(ASSISTANT)
    for n, (question, note) in enumerate(
        [
            ("Count", "Stopped at the stop sequence “END”"),
            ("Write a lot", "Cut off at 40 tokens"),
            ("Anything new?", "Stopped: tea_break"),
        ]
    ):
        page.fill("#composer", question)
        page.press("#composer", "Enter")
        expect(replies.nth(n)).to_have_attribute("data-status", "complete")
        expect(replies.nth(n).locator(".stop-note")).to_have_text(note)
    shoot(page, "stop-reasons")
    # Reloaded, the saved message names the sequence.
    page.reload()
    expect(replies.first.locator(".stop-note")).to_have_text("Stopped at the stop sequence “END”")
    expect(replies.nth(1).locator(".stop-note")).to_have_text("Cut off at 40 tokens")


def test_a_model_no_longer_offered_asks_for_another_and_settings_follow_the_model(
    live_server_url, page, fake_api, owner
):
    ClaudeModel.objects.filter(id="claude-opus-4-8").update(visible=False)
    ClaudeModel.objects.filter(id="claude-haiku-4-5").update(lifecycle="deprecated")
    chat = conversation(owner, "Old model")
    Conversation.objects.filter(pk=chat.pk).update(
        model="claude-opus-4-8", thinking=True, effort="xhigh"
    )
    log_in(page, live_server_url, f"/c/{chat.pk}/")

    picker = page.get_by_role("combobox", name="Model")
    notice = page.locator("#model-unavailable")
    expect(notice).to_contain_text("claude-opus-4-8, is no longer offered")
    options = picker.locator("option")
    expect(options).to_have_count(2)
    assert sorted(options.all_inner_texts()) == ["Claude Haiku 4.5 (deprecated)", "Claude Sonnet 5"]
    # The first model offered is shown until the person picks one.
    expect(picker).to_have_value(options.first.get_attribute("value"))
    first = options.first.inner_text().removesuffix(" (deprecated)")
    expect(page.get_by_role("button", name=f"Use {first}")).to_be_visible()

    # A message is refused upstream of the API: the server says to pick another model.
    page.fill("#composer", "Hello?")
    page.press("#composer", "Enter")
    expect(page.locator(".failed-note")).to_contain_text("no longer offered")
    expect(notice).to_contain_text("claude-opus-4-8, is no longer offered")
    expect(page.locator("#alerts .alert")).to_have_count(0)
    assert fake_api.requests == []
    shoot(page, "model-unavailable")
    page.set_viewport_size(PHONE)
    shoot(page, "model-unavailable-phone", schemes=("light",))
    page.set_viewport_size({"width": 1280, "height": 800})

    # The deprecated model: its note; thinking kept (it thinks), effort reset (it has none).
    picker.select_option("claude-haiku-4-5")
    expect(notice).to_be_hidden()
    expect(page.locator("#settings-status")).to_have_text("Saved")
    expect(page.locator("#model-deprecated")).to_contain_text(
        "Claude Haiku 4.5 is deprecated and will be retired"
    )
    saved = Conversation.objects.get(pk=chat.pk)
    assert (saved.model, saved.thinking, saved.effort) == ("claude-haiku-4-5", True, "")
    settings_panel(page)
    expect(page.get_by_role("combobox", name="Effort")).to_be_hidden()
    expect(page.get_by_role("checkbox", name="Think before answering")).to_be_checked()
    shoot(page, "model-deprecated")

    # Thinking on this model needs room for its budget: refused next to the field.
    Conversation.objects.filter(pk=chat.pk).update(thinking=False, max_tokens=1000)
    page.reload()
    settings_panel(page)
    think = page.get_by_role("checkbox", name="Think before answering")
    think.click()  # not check(): the refusal unticks it, maybe before check() looks
    expect(page.locator("#thinking-error")).to_contain_text("needs max_tokens above 1,024")
    expect(think).not_to_be_checked()
    assert not Conversation.objects.get(pk=chat.pk).thinking
    shoot(page, "thinking-refused", schemes=("dark",))

    # Back to a model with effort levels: chosen, saved alone.
    picker.select_option("claude-sonnet-5")
    effort = page.get_by_role("combobox", name="Effort")
    expect(effort).to_be_visible()
    effort.select_option(label="Max")
    expect(page.locator("#settings-status")).to_have_text("Saved")
    expect(page.locator("#model-deprecated")).to_be_hidden()
    saved = Conversation.objects.get(pk=chat.pk)
    assert (saved.model, saved.effort) == ("claude-sonnet-5", "max")

    # A message goes now (the refused one was not kept by the reload).
    fake_api.enqueue({"kind": "reply", "text": "Hello!"})
    page.fill("#composer", "Hello?")
    page.press("#composer", "Enter")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    assert fake_api.requests[-1]["body"]["output_config"] == {"effort": "max"}


def test_the_context_gauge_warns_near_the_model_window(live_server_url, page, fake_api, owner):
    chat = conversation(owner, "Long one")
    Conversation.objects.filter(pk=chat.pk).update(model="claude-haiku-4-5")
    fake_api.enqueue(
        {"kind": "reply", "text": "Still here.", "usage": {"cache_read_input_tokens": 185000}}
    )
    log_in(page, live_server_url, f"/c/{chat.pk}/")
    expect(page.locator("#context-gauge")).to_be_hidden()
    page.fill("#composer", "Go on")
    page.press("#composer", "Enter")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    gauge = page.locator("#context-gauge")
    expect(gauge).to_have_class(re.compile("is-near-full"))
    expect(page.locator("#context-text")).to_have_text(re.compile(r"^185,\d{3} / 200,000 tokens$"))
    expect(page.locator(f"{ASSISTANT} .usage")).to_contain_text("185,000 cached")
    shoot(page, "gauge-near-full")
    page.set_viewport_size(PHONE)
    shoot(page, "gauge-near-full-phone", schemes=("light",))
