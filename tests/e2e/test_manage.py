"""Managing conversations in real headless Chromium against the real server: rename and
pin, delete after a confirmation, search, edit and switch between versions, regenerate,
rate a reply. Each test checks what the person sees and what the database holds, and
leaves screenshots (light, dark, phone) in tests/e2e/screenshots/ to look at."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from chatapp.chat.models import Conversation, Feedback, Message

from . import test_browser

pytestmark = pytest.mark.browser

# The live server and the browser page of the first browser tests.
live_server_url = test_browser.live_server_url
page = test_browser.page

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def shoot(page, name: str, *, schemes=("light", "dark")) -> None:
    """Screenshots of the page as it is, in each colour scheme the system may prefer."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for scheme in schemes:
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(300)  # the colours' transitions end
        page.screenshot(path=SCREENSHOTS / f"{name}-{scheme}.png")
    page.emulate_media(color_scheme="light")


def log_in(page, base_url: str, path: str = "/") -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(base_url + path)
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner")
    page.click("button[type=submit]")
    page.wait_for_selector("#composer:not([readonly])")


def conversation(owner, title: str, *, days_ago: int = 0, pinned: bool = False) -> Conversation:
    made = Conversation.objects.create(
        owner=owner,
        title=title,
        model=settings.CHAT_DEFAULT_MODEL,
        max_tokens=settings.CHAT_DEFAULT_MAX_TOKENS,
        pinned=pinned,
    )
    Conversation.objects.filter(pk=made.pk).update(
        updated_at=timezone.now() - timedelta(days=days_ago)
    )
    return made


def send(page, text: str, reply: str) -> None:
    """Sends a message and waits for its whole reply."""
    page.fill("#composer", text)
    page.press("#composer", "Enter")
    last_reply = page.locator('.message[data-role="assistant"]').last
    expect(last_reply).to_have_attribute("data-status", "complete")
    expect(last_reply.locator(".message-body")).to_have_text(reply)


def chat_with_two_replies(page, base_url: str, fake_api, question: str, first: str, second: str):
    """Logs in and asks `question`, answered `first`; the next reply (of an edit or a
    regeneration) will be `second`, streamed slowly enough to be seen streaming."""
    fake_api.enqueue({"kind": "reply", "text": first})
    fake_api.enqueue({"kind": "reply", "text": second, "token_delay": 0.05})
    log_in(page, base_url)
    send(page, question, first)


def unnamed_controls(page) -> list[str]:
    """The controls shown without a name a screen reader could read (the batch pages'
    check, test_batches.UNNAMED_CONTROLS)."""
    from .test_batches import UNNAMED_CONTROLS  # imported here: test_batches imports us

    return page.evaluate(UNNAMED_CONTROLS)


def menu_of(page, title: str):
    return page.get_by_role("button", name=f"More for “{title}”")


def test_rename_and_pin_a_conversation_from_its_menu(live_server_url, page, owner):
    trip = conversation(owner, "Trip plans")
    conversation(owner, "Recipes", days_ago=1)
    conversation(owner, "Old notes", days_ago=40)
    log_in(page, live_server_url, f"/c/{trip.pk}/")

    headings = page.locator(".conversation-group-title")
    expect(headings).to_have_text(["Today", "Yesterday", re.compile(r"^\w+ \d{4}$")])

    menu_of(page, "Trip plans").click()
    expect(page.get_by_role("button", name="Rename")).to_be_focused()
    markdown = page.get_by_role("link", name="Export as Markdown")
    expect(markdown).to_have_attribute("href", f"/c/{trip.pk}/export/?format=md")
    expect(markdown).to_have_attribute("download", "")
    expect(page.get_by_role("link", name="Export as JSON")).to_have_attribute(
        "href", f"/c/{trip.pk}/export/?format=json"
    )
    shoot(page, "rename-menu")
    page.get_by_role("button", name="Rename").click()
    title = page.get_by_role("textbox", name="Conversation title")
    expect(title).to_be_focused()
    expect(title).to_have_value("Trip plans")

    # Too long: the server's error stands next to the field, and nothing is saved.
    title.fill("x" * 201)
    title.press("Enter")
    expect(page.locator(".rename-form .field-error")).to_contain_text("at most 200 characters")
    shoot(page, "rename-error")
    assert Conversation.objects.get(pk=trip.pk).title == "Trip plans"

    title.fill("Holiday in Lisbon")
    title.press("Enter")
    link = page.locator(f'.conversation-link[data-conversation-id="{trip.pk}"]')
    expect(link.locator(".conversation-title")).to_have_text("Holiday in Lisbon")
    expect(link).to_be_focused()
    expect(page.locator("#conversation-title")).to_have_text("Holiday in Lisbon")
    saved = Conversation.objects.get(pk=trip.pk)
    assert saved.title == "Holiday in Lisbon" and saved.title_set_by_user

    # Escape cancels a rename.
    menu_of(page, "Recipes").click()
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("textbox", name="Conversation title").fill("Never saved")
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Recipes")).to_be_visible()
    assert Conversation.objects.filter(title="Never saved").count() == 0

    # Pin: the conversation moves to a Pinned group at the top.
    menu_of(page, "Recipes").click()
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(headings.first).to_have_text("Pinned")
    first_group = page.locator(".conversation-group").first
    expect(first_group.locator(".conversation-title")).to_have_text(["Recipes"])
    assert Conversation.objects.get(title="Recipes").pinned
    shoot(page, "sidebar-pinned")

    # The grouping and the pin survive a reload (the server's order agrees).
    page.reload()
    expect(page.locator(".conversation-group-title").first).to_have_text("Pinned")
    menu_of(page, "Recipes").click()
    page.get_by_role("button", name="Unpin").click()
    expect(page.locator(".conversation-group-title").first).not_to_have_text("Pinned")
    assert not Conversation.objects.get(title="Recipes").pinned

    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Show conversations").click()
    menu_of(page, "Holiday in Lisbon").click()
    shoot(page, "rename-menu-phone")


def test_delete_a_conversation_after_confirming(live_server_url, page, owner):
    kept = conversation(owner, "Keep me")
    doomed = conversation(owner, "Delete me", days_ago=2)
    log_in(page, live_server_url, f"/c/{kept.pk}/")

    menu_of(page, "Delete me").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog", name="Delete this conversation?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("“Delete me” and all its messages will be deleted")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    shoot(page, "delete-dialog")

    # Cancelled: nothing happens, and the focus is back on the menu's button.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(menu_of(page, "Delete me")).to_be_focused()
    assert Conversation.objects.filter(pk=doomed.pk).exists()

    menu_of(page, "Delete me").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("link", name="Delete me")).to_have_count(0)
    assert not Conversation.objects.filter(pk=doomed.pk).exists()
    assert page.url.endswith(f"/c/{kept.pk}/")

    # Deleting the conversation shown goes to a new chat.
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Show conversations").click()
    menu_of(page, "Keep me").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    shoot(page, "delete-dialog-phone")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url(live_server_url + "/")
    expect(page.locator(".conversation-empty")).to_have_text("No conversations yet")
    assert not Conversation.objects.filter(owner=owner).exists()


def test_search_finds_a_conversation_by_a_word_of_a_reply(live_server_url, page, fake_api, owner):
    conversation(owner, "Unrelated")
    fake_api.enqueue(
        {"kind": "reply", "text": "The first zeppelin flew over Lake Constance in 1900."}
    )
    log_in(page, live_server_url)
    send(page, "Tell me about airships", "The first zeppelin flew over Lake Constance in 1900.")
    found = Message.objects.get(role="assistant").conversation

    search = page.get_by_role("searchbox", name="Search conversations")
    search.fill("zeppelin")
    result = page.locator(".search-result")
    expect(result).to_have_count(1)
    expect(result).to_have_attribute("href", f"/c/{found.pk}/")
    expect(result.locator("mark")).to_have_text("zeppelin")
    expect(result.locator(".search-snippet")).to_contain_text(
        "first zeppelin flew over Lake Constance"
    )
    expect(page.locator("#search-status")).to_have_text("1 conversation found")
    expect(page.locator("#conversation-list")).to_be_hidden()
    shoot(page, "search-results")

    # Escape brings the list back.
    search.press("Escape")
    expect(search).to_have_value("")
    expect(page.locator("#conversation-list")).to_be_visible()
    expect(page.locator(".conversation-link")).to_have_count(2)

    # The server's refusal is shown.
    search.fill("z" * 201)
    expect(page.locator("#search-status")).to_contain_text("the limit is 200")
    search.fill("xylophone")
    expect(page.locator("#search-status")).to_have_text("No conversations found")

    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Show conversations").click()
    search.fill("zeppelin")
    expect(result).to_have_count(1)
    shoot(page, "search-results-phone")
    result.click()
    page.wait_for_url(f"{live_server_url}/c/{found.pk}/")


def test_edit_a_message_then_switch_between_its_versions(live_server_url, page, fake_api, owner):
    chat_with_two_replies(page, live_server_url, fake_api, "What is 2 + 2?", "Four.", "Six.")

    question = page.locator('.message[data-role="user"]')
    question.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("What is 2 + 2?")
    shoot(page, "edit-open")
    editor.fill("What is 3 + 3?")
    editor.press("Enter")

    reply = page.locator('.message[data-role="assistant"]')
    expect(reply).to_have_count(1)
    expect(reply.locator(".message-body")).to_have_text("Six.")
    expect(reply).to_have_attribute("data-status", "complete")
    expect(question.locator(".message-body")).to_have_text("What is 3 + 3?")
    expect(question.locator(".version-text")).to_have_text("2 / 2")
    expect(question.get_by_role("button", name="Next version")).to_be_disabled()

    first, second = Message.objects.filter(role="user").order_by("id")
    assert first.parent_id == second.parent_id is None
    new_reply = Message.objects.get(parent=second)
    assert new_reply.text == "Six."
    assert Conversation.objects.get().active_leaf_id == new_reply.pk
    shoot(page, "edit-version-2")

    question.get_by_role("button", name="Previous version").click()
    expect(question.locator(".message-body")).to_have_text("What is 2 + 2?")
    expect(question.locator(".version-text")).to_have_text("1 / 2")
    expect(reply.locator(".message-body")).to_have_text("Four.")
    expect(question.get_by_role("button", name="Next version")).to_be_focused()
    assert Conversation.objects.get().active_leaf_id == Message.objects.get(parent=first).pk

    # The branch shown is the one the server keeps.
    page.reload()
    expect(question.locator(".message-body")).to_have_text("What is 2 + 2?")
    expect(question.locator(".version-text")).to_have_text("1 / 2")

    # ↑ in the empty composer edits the last message; Escape cancels.
    page.focus("#composer")
    page.keyboard.press("ArrowUp")
    expect(editor).to_be_focused()
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(question.locator(".message-body")).to_have_text("What is 2 + 2?")

    page.set_viewport_size(PHONE)
    shoot(page, "edit-versions-phone")


def test_regenerate_a_reply(live_server_url, page, fake_api, owner):
    chat_with_two_replies(
        page, live_server_url, fake_api, "Say something", "First answer.", "Second answer."
    )

    reply = page.locator('.message[data-role="assistant"]')
    reply.get_by_role("button", name="Regenerate").click()
    expect(reply.locator(".message-body")).to_have_text("Second answer.")
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".version-text")).to_have_text("2 / 2")
    expect(page.locator('.message[data-role="user"]')).to_have_count(1)

    replies = list(Message.objects.filter(role="assistant").order_by("id"))
    assert [r.text for r in replies] == ["First answer.", "Second answer."]
    assert replies[0].parent_id == replies[1].parent_id
    assert Conversation.objects.get().active_leaf_id == replies[1].pk
    shoot(page, "regenerated")

    reply.get_by_role("button", name="Previous version").click()
    expect(reply.locator(".message-body")).to_have_text("First answer.")
    expect(reply.locator(".version-text")).to_have_text("1 / 2")
    assert Conversation.objects.get().active_leaf_id == replies[0].pk


def test_thumbs_down_with_a_comment(live_server_url, page, fake_api, owner):
    fake_api.enqueue({"kind": "reply", "text": "The moon is made of cheese."})
    log_in(page, live_server_url)
    send(page, "What is the moon made of?", "The moon is made of cheese.")

    reply = page.locator('.message[data-role="assistant"]')
    down = reply.get_by_role("button", name="Bad response")
    up = reply.get_by_role("button", name="Good response")
    expect(down).to_have_attribute("aria-pressed", "false")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    comment = reply.get_by_role("textbox", name="What was wrong with this reply? (optional)")
    expect(comment).to_be_focused()
    assert Feedback.objects.get().rating == "down"
    comment.fill("It is rock, not cheese.")
    shoot(page, "feedback-comment")
    reply.get_by_role("button", name="Submit").click()
    expect(reply.locator(".feedback-note")).to_have_text("Thanks for your feedback.")
    expect(comment).to_have_count(0)

    saved = Feedback.objects.get()
    assert (saved.rating, saved.comment) == ("down", "It is rock, not cheese.")
    assert saved.message.text == "The moon is made of cheese."

    page.reload()
    expect(reply.get_by_role("button", name="Bad response")).to_have_attribute(
        "aria-pressed", "true"
    )
    shoot(page, "feedback-saved")

    # Pressed again, the rating is cleared.
    reply.get_by_role("button", name="Bad response").click()
    expect(reply.get_by_role("button", name="Bad response")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert not Feedback.objects.exists()
    page.set_viewport_size(PHONE)
    shoot(page, "feedback-phone")


def test_escape_stops_a_reply_wherever_the_focus_is(live_server_url, page, fake_api, owner):
    fake_api.enqueue({"kind": "reply", "tokens": 400, "token_delay": 0.05})
    log_in(page, live_server_url)
    page.fill("#composer", "Write a long story")
    page.press("#composer", "Enter")
    reply = page.locator('.message[data-role="assistant"]')
    expect(reply.locator(".message-body")).not_to_be_empty()
    page.get_by_role("searchbox", name="Search conversations").focus()
    page.keyboard.press("Escape")
    expect(reply).to_have_attribute("data-status", "stopped")
    assert Message.objects.get(role="assistant").status == "stopped"


def test_copy_a_message(live_server_url, page, fake_api, owner):
    fake_api.enqueue({"kind": "reply", "text": "Copy **this**, please."})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server_url)
    send(page, "Something to copy", "Copy this, please.")
    copy = page.locator('.message[data-role="assistant"]').get_by_role("button", name="Copy")
    copy.click()
    expect(page.locator('.message[data-role="assistant"] [data-action="copy"]')).to_have_attribute(
        "aria-label", "Copied"
    )
    assert page.evaluate("navigator.clipboard.readText()") == "Copy **this**, please."


def test_copy_code_puts_only_the_code_on_the_clipboard(live_server_url, page, fake_api, owner):
    code = "def add(a, b):\n    return a + b\n"
    fake_api.enqueue({"kind": "reply", "text": f"Here it is:\n\n```python\n{code}```\n\nEnjoy."})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server_url)
    page.fill("#composer", "A function that adds")
    page.press("#composer", "Enter")
    reply = page.locator('.message[data-role="assistant"]')
    expect(reply).to_have_attribute("data-status", "complete")
    block = reply.locator(".code-block")
    expect(block.locator(".code-header")).to_contain_text("python")
    copy = block.get_by_role("button", name="Copy code")
    copy.click()
    expect(copy).to_have_text("Copied!")
    assert page.evaluate("navigator.clipboard.readText()") == code


def test_every_control_has_a_name_whatever_is_open(live_server_url, page, fake_api, owner):
    fake_api.enqueue({"kind": "reply", "text": "Hello there."})
    log_in(page, live_server_url)
    send(page, "Say hello", "Hello there.")
    assert unnamed_controls(page) == [], "the page as it is"
    title = page.locator("#conversation-title").inner_text()

    menu_of(page, title).click()
    expect(page.get_by_role("button", name="Rename")).to_be_visible()
    assert unnamed_controls(page) == [], "the conversation's menu open"
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Rename")).to_be_hidden()

    question = page.locator('.message[data-role="user"]')
    question.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    assert unnamed_controls(page) == [], "a message being edited"
    editor.press("Escape")
    expect(editor).to_have_count(0)

    reply = page.locator('.message[data-role="assistant"]')
    reply.get_by_role("button", name="Bad response").click()
    comment = reply.get_by_role("textbox", name="What was wrong with this reply? (optional)")
    expect(comment).to_be_focused()
    assert unnamed_controls(page) == [], "the feedback comment open"

    page.get_by_text("Conversation settings").click()
    expect(page.get_by_role("spinbutton", name="Max tokens per reply")).to_be_visible()
    assert unnamed_controls(page) == [], "the settings panel open"


def test_theme_choice_and_shortcuts_help(live_server_url, page, owner):
    log_in(page, live_server_url)
    theme = page.locator("#theme-toggle")
    expect(theme).to_have_text("Theme: System")
    theme.click()
    expect(theme).to_have_text("Theme: Light")
    theme.click()
    expect(theme).to_have_text("Theme: Dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    # The system prefers light, the choice is dark: the page and its code are dark.
    page.emulate_media(color_scheme="light")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(38, 38, 36)"
    assert page.evaluate("document.querySelector('link[data-color-scheme=dark]').media") == "all"

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text("New chat")
    page.screenshot(path=SCREENSHOTS / "shortcuts-chosen-dark.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Keyboard shortcuts")).to_be_focused()

    page.keyboard.press("Shift+Escape")
    expect(page.locator("#composer")).to_be_focused()
    theme.click()
    expect(theme).to_have_text("Theme: System")
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile("."))

    chat = conversation(owner, "Somewhere else")
    page.goto(f"{live_server_url}/c/{chat.pk}/")
    page.wait_for_selector("#composer:not([readonly])")
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(live_server_url + "/")


def test_reply_settings_are_saved_and_refused_next_to_their_field(live_server_url, page, owner):
    chat = conversation(owner, "Settings")
    log_in(page, live_server_url, f"/c/{chat.pk}/")
    page.get_by_text("Conversation settings").click()
    max_tokens = page.get_by_role("spinbutton", name="Max tokens per reply")
    expect(max_tokens).to_have_value(str(settings.CHAT_DEFAULT_MAX_TOKENS))

    max_tokens.fill("999999999")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#max-tokens-error")).to_be_visible()
    expect(page.locator("#max-tokens-error")).to_have_text(re.compile(r"\d"))
    shoot(page, "settings-error")
    assert Conversation.objects.get(pk=chat.pk).max_tokens == settings.CHAT_DEFAULT_MAX_TOKENS

    max_tokens.fill("2048")
    page.get_by_role("textbox", name="Stop sequences").fill("END\n\nSTOP HERE")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#settings-status")).to_have_text("Saved")
    expect(page.locator("#max-tokens-error")).to_be_hidden()
    saved = Conversation.objects.get(pk=chat.pk)
    assert (saved.max_tokens, saved.stop_sequences) == (2048, ["END", "STOP HERE"])

    page.reload()
    page.get_by_text("Conversation settings").click()
    expect(max_tokens).to_have_value("2048")
    expect(page.get_by_role("textbox", name="Stop sequences")).to_have_value("END\nSTOP HERE")
    page.set_viewport_size(PHONE)
    shoot(page, "settings-phone")


def test_the_list_loads_more_conversations_as_its_end_scrolls_into_view(
    live_server_url, page, owner
):
    for n in range(120):
        conversation(owner, f"Conversation {n:03}", days_ago=n // 3)
    log_in(page, live_server_url)
    links = page.locator(".conversation-link")
    for _ in range(10):
        page.locator("#conversation-more").scroll_into_view_if_needed()
        if links.count() == 120:
            break
        page.wait_for_timeout(200)
    expect(links).to_have_count(120)
    ids = [link.get_attribute("data-conversation-id") for link in links.all()]
    assert len(set(ids)) == 120
    assert set(map(int, ids)) == set(Conversation.objects.values_list("id", flat=True))
    # Newest first: the oldest conversation is the last one.
    expect(links.last.locator(".conversation-title")).to_have_text(
        Conversation.objects.order_by("updated_at", "id").first().title
    )
