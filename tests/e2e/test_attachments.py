"""Images, PDFs and web search in real headless Chromium against the real server: a file
dropped on the chat uploads at once and shows as a chip, goes with the message, shows as a
thumbnail in the history and again after a reload; a refused upload says why and holds Send
back; an edit keeps, removes and adds files; a web-search conversation shows the search, its
results and numbered citations. Each test checks what the person sees, what was sent
upstream and what the database holds, and leaves screenshots (light, dark, phone) in
tests/e2e/screenshots/."""

import base64
import io
import re

import pytest

from chatapp.attachments.models import Attachment
from chatapp.chat.models import Conversation, Message
from chatapp.llm.models import ClaudeModel

from . import test_browser
from .test_manage import DESKTOP, PHONE, conversation, expect, log_in, shoot

pytestmark = pytest.mark.browser

live_server_url = test_browser.live_server_url
page = test_browser.page

ASSISTANT = '.message[data-role="assistant"]'
USER = '.message[data-role="user"]'


def png(width: int = 640, height: int = 400) -> bytes:
    """A small picture: a sky, a sun and a field."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (86, 146, 200))
    draw = ImageDraw.Draw(image)
    sun = (width // 3, height // 5, width // 3 + height // 2, height // 5 + height // 2)
    draw.ellipse(sun, fill=(245, 200, 70))
    draw.rectangle((0, height * 3 // 4, width, height), fill=(60, 120, 70))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdf(lines: list[str]) -> bytes:
    """A PDF with one line of text (Helvetica) on each page, its cross-reference table
    exact: what pypdf reads as a real document."""
    font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", font]
    kids = []
    for line in lines:
        stream = f"BT /F1 14 Tf 72 720 Td ({line}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R"
            " /Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    table = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{table}\n%%EOF\n".encode()
    return bytes(out)


# Files dragged over the chat and let go, as a browser dispatches them: the drop target shows
# on dragover; `drop` lets them go.
DRAG_FILES = """([files, selector]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  const target = document.querySelector(selector);
  for (const type of ["dragenter", "dragover"]) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    target.dispatchEvent(new DragEvent(type, init));
  }
  window.draggedFiles = [transfer, target];
}"""
DROP = """() => {
  const [transfer, target] = window.draggedFiles;
  const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
  target.dispatchEvent(new DragEvent("drop", init));
}"""


# What the server tool calls said while they were pending, noted at every change of the
# history (they last a few animation frames: too short to poll for).
NOTE_PENDING_CALLS = """() => {
  window.pendingCalls = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll(".server-tool.is-pending")) {
      window.pendingCalls.push(el.textContent);
    }
  }).observe(document.getElementById("history"), { subtree: true, childList: true });
}"""


def loaded(page, img) -> None:
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())


def drag(page, *files, selector="#history"):
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    page.evaluate(DRAG_FILES, [encoded, selector])


def test_an_image_dropped_on_the_chat_is_sent_and_shown_again_after_a_reload(
    live_server_url, page, fake_api, owner
):
    fake_api.enqueue({"kind": "reply", "text": "A blue sky, a yellow sun and a green field."})
    log_in(page, live_server_url)
    attach = page.get_by_role("button", name="Attach files")
    expect(attach).to_be_visible()

    drag(page, ("sky.png", "image/png", png()))
    expect(page.locator("#drop-target")).to_be_visible()
    expect(page.locator("#drop-target")).to_have_text("Drop files to attach them")
    shoot(page, "attachments-drop-target", schemes=("light",))
    page.evaluate(DROP)
    expect(page.locator("#drop-target")).to_be_hidden()

    chip = page.locator(".chip")
    expect(chip).to_have_attribute("data-state", "ready")
    expect(chip.locator(".chip-name")).to_have_text("sky.png")
    expect(chip.locator(".chip-detail")).to_have_text(
        re.compile(r"^Image · 640\u00d7400 · \d+ (B|KB)$")
    )
    expect(page.get_by_role("button", name="Remove sky.png")).to_be_visible()
    stored = Attachment.objects.get()
    assert (stored.owner, stored.kind, stored.name) == (owner, "image", "sky.png")
    # The context gauge counts the image before it is sent.
    expect(page.locator("#context-text")).to_contain_text(f"{stored.tokens:,} in files")

    page.fill("#composer", "What is in this picture?")
    shoot(page, "attachments-composer")
    page.set_viewport_size(PHONE)
    shoot(page, "attachments-composer-phone")
    page.set_viewport_size(DESKTOP)
    page.press("#composer", "Enter")

    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    expect(page.locator(".chip")).to_have_count(0)
    thumbnail = page.locator(f"{USER} .message-attachments img")
    expect(thumbnail).to_have_attribute("alt", "sky.png")
    expect(thumbnail).to_have_attribute("src", re.compile(rf"/attachments/{stored.pk}/thumbnail/$"))
    link = page.locator(f"{USER} .message-attachments a")
    expect(link).to_have_attribute("href", re.compile(rf"/attachments/{stored.pk}/$"))
    expect(link).to_have_attribute("target", "_blank")
    loaded(page, thumbnail)

    sent = fake_api.requests[-1]["body"]["messages"][0]["content"]
    assert [block["type"] for block in sent] == ["image", "text"]
    saved = Message.objects.get(role="user")
    assert saved.content[0]["type"] == "image"
    assert saved.content[0]["attachment"]["id"] == stored.pk
    shoot(page, "attachments-sent")
    page.set_viewport_size(PHONE)
    shoot(page, "attachments-sent-phone")
    page.set_viewport_size(DESKTOP)

    # After a reload the thumbnail comes from the page's data, and loads for its owner.
    page.reload()
    page.wait_for_selector("#composer:not([readonly])")
    expect(thumbnail).to_have_attribute("alt", "sky.png")
    loaded(page, thumbnail)
    expect(page.locator(f"{USER} .message-body")).to_have_text("What is in this picture?")


def test_a_refused_file_says_why_and_holds_send_back_until_removed(
    live_server_url, page, fake_api, owner
):
    fake_api.enqueue({"kind": "reply", "text": "Noted."})
    log_in(page, live_server_url)
    # The button's way: the hidden file input.
    page.set_input_files(
        "#attach-input",
        files=[
            {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 not really"},
            {"name": "notes.md", "mimeType": "text/markdown", "buffer": b"# Notes\n\nBuy milk.\n"},
        ],
    )
    refused = page.locator('.chip[data-state="failed"]')
    expect(refused.get_by_role("alert")).not_to_be_empty()
    ready = page.locator('.chip[data-state="ready"] .chip-detail')
    expect(ready).to_have_text(re.compile(r"^Text · \d+ B$"))
    send = page.get_by_role("button", name="Send")
    expect(send).to_be_disabled()
    expect(page.locator("#attachment-status")).to_have_text(
        "To send, remove the file that could not be attached."
    )
    assert list(Attachment.objects.values_list("name", flat=True)) == ["notes.md"]
    shoot(page, "attachments-refused")

    # Removed from the keyboard: the focus moves to the next chip's Remove button.
    page.get_by_role("button", name="Remove broken.pdf").focus()
    page.keyboard.press("Enter")
    expect(refused).to_have_count(0)
    expect(page.get_by_role("button", name="Remove notes.md")).to_be_focused()
    expect(send).to_be_enabled()
    page.fill("#composer", "Remember this")
    page.press("#composer", "Enter")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    card = page.locator(f"{USER} .file-card")
    expect(card.locator(".file-card-name")).to_have_text("notes.md")
    expect(card.locator(".file-card-detail")).to_have_text(re.compile(r"^Text · \d+ B$"))
    sent = fake_api.requests[-1]["body"]["messages"][0]["content"]
    assert [block["type"] for block in sent] == ["document", "text"]


def test_a_reply_citing_an_attached_pdf_numbers_its_passages_by_page(
    live_server_url, page, fake_api, owner
):
    fake_api.enqueue({"kind": "cite", "quotes": 2})
    log_in(page, live_server_url)
    lines = ["The harbour opens at six in the morning.", "Boats leave the harbour at noon."]
    page.set_input_files(
        "#attach-input",
        files=[{"name": "harbour.pdf", "mimeType": "application/pdf", "buffer": pdf(lines)}],
    )
    detail = page.locator('.chip[data-state="ready"] .chip-detail')
    expect(detail).to_have_text(re.compile(r"^PDF · 2 pages · \d+ (B|KB)$"))
    page.fill("#composer", "When does the harbour open?")
    page.press("#composer", "Enter")

    reply = page.locator(ASSISTANT)
    expect(reply).to_have_attribute("data-status", "complete")
    card = page.locator(f"{USER} .file-card")
    expect(card.locator(".file-card-name")).to_have_text("harbour.pdf")
    expect(card).to_have_attribute("href", re.compile(r"/attachments/\d+/$"))
    sent = fake_api.requests[-1]["body"]["messages"][0]["content"][0]
    assert (sent["type"], sent["title"], sent["citations"]) == (
        "document",
        "harbour.pdf",
        {"enabled": True},
    )

    # One document, one number; each passage says its page.
    refs = reply.get_by_role("button", name="Source 1")
    expect(refs).to_have_count(2)
    expect(reply.locator(".reply-source")).to_have_count(1)
    expect(reply.locator(".reply-source")).to_contain_text("harbour.pdf, p.\u00a01, p.\u00a02")
    refs.first.focus()
    tip = reply.locator(f"#{refs.first.get_attribute('aria-describedby')}")
    expect(tip).to_contain_text("(p.\u00a01)")
    expect(tip).to_contain_text("harbour.pdf")
    saved = Message.objects.get(role="assistant")
    cited = [c for block in saved.content for c in block.get("citations") or []]
    assert [c["type"] for c in cited] == ["page_location", "page_location"]
    expect(tip).to_contain_text(cited[0]["cited_text"].strip())
    shoot(page, "attachments-pdf-citation")


def test_an_edit_keeps_removes_and_adds_files(live_server_url, page, fake_api, owner):
    fake_api.enqueue(
        {"kind": "reply", "text": "First answer."}, {"kind": "reply", "text": "Second answer."}
    )
    log_in(page, live_server_url)
    plan = b"Step one.\nStep two.\n"
    drag(page, ("sky.png", "image/png", png()), ("plan.txt", "text/plain", plan))
    page.evaluate(DROP)
    expect(page.locator('.chip[data-state="ready"]')).to_have_count(2)
    page.fill("#composer", "Look at these")
    page.press("#composer", "Enter")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    expect(page.locator(f"{USER} .message-attachments > *")).to_have_count(2)

    page.locator(USER).get_by_role("button", name="Edit").click()
    editor = page.locator(".edit-form")
    expect(editor.locator(".chip")).to_have_count(2)
    editor.get_by_role("button", name="Remove sky.png").click()
    editor.locator('input[type="file"]').set_input_files(
        files=[{"name": "more.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"}]
    )
    expect(editor.locator('.chip[data-state="ready"]')).to_have_count(2)
    shoot(page, "attachments-edit")
    editor.get_by_role("button", name="Save and send").click()

    expect(page.locator(ASSISTANT)).to_have_text(re.compile("Second answer."))
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    names = page.locator(f"{USER} .file-card-name")
    expect(names).to_have_text(["plan.txt", "more.csv"])
    expect(page.locator(f"{USER} .attachment-thumb")).to_have_count(0)
    newest = Message.objects.filter(role="user").latest("id")
    kept = [block["attachment"]["name"] for block in newest.content if "attachment" in block]
    assert kept == ["plan.txt", "more.csv"]


def test_a_model_that_cannot_read_images_is_warned_about_and_refused(
    live_server_url, page, fake_api, owner
):
    haiku = ClaudeModel.objects.get(id="claude-haiku-4-5")
    haiku.capabilities = {**haiku.capabilities, "image_input": {"supported": False}}
    haiku.save()
    chat = conversation(owner, "No eyes")
    Conversation.objects.filter(pk=chat.pk).update(model="claude-haiku-4-5")
    log_in(page, live_server_url, f"/c/{chat.pk}/")
    drag(page, ("sky.png", "image/png", png()))
    page.evaluate(DROP)
    chip = page.locator(".chip")
    expect(chip).to_have_attribute("data-state", "ready")
    expect(chip.locator(".chip-warning")).to_have_text("Claude Haiku 4.5 cannot read images.")
    shoot(page, "attachments-model-warning", schemes=("light",))
    page.fill("#composer", "What is this?")
    page.press("#composer", "Enter")
    expect(page.locator(".failed-note")).to_contain_text("Not sent")
    assert fake_api.requests == []
    shoot(page, "attachments-unsupported", schemes=("dark",))

    # Another model reads it: the warning goes.
    page.get_by_role("combobox", name="Model").select_option("claude-sonnet-5")
    page.locator(USER).get_by_role("button", name="Edit").click()  # the unsent message back
    expect(page.locator(".chip .chip-warning")).to_have_count(0)


def test_a_web_search_reply_shows_the_search_its_results_and_numbered_citations(
    live_server_url, page, fake_api, owner
):
    fake_api.enqueue(
        {"kind": "web_search", "queries": ["tides in Brest"], "results": 3, "token_delay": 0.03}
    )
    log_in(page, live_server_url)
    page.get_by_text("Conversation settings").click()
    search = page.get_by_role("checkbox", name="Search the web")
    expect(search).not_to_be_checked()
    search.check()
    page.get_by_text("Conversation settings").click()
    page.evaluate(NOTE_PENDING_CALLS)
    page.fill("#composer", "When is high tide in Brest?")
    page.press("#composer", "Enter")

    reply = page.locator(ASSISTANT)
    expect(reply).to_have_attribute("data-status", "complete", timeout=30000)
    # While the query streamed and the search ran, the call said so.
    pending = page.evaluate("window.pendingCalls")
    assert any(text.startswith("Searching the web") for text in pending), pending
    expect(reply.locator(".server-tool")).to_have_text("Searched the web for “tides in Brest”")
    chat = Conversation.objects.get()
    assert chat.web_search
    tools = fake_api.requests[-1]["body"]["tools"]
    assert [tool["name"] for tool in tools] == ["web_search", "web_fetch"]

    # The results, folded; unfolded from the keyboard.
    fold = reply.locator("details.web-results-fold")
    expect(fold).not_to_have_attribute("open", "")
    summary = fold.locator("summary")
    expect(summary).to_have_text("3 results from example.com, example.org and 1 more")
    summary.focus()
    page.keyboard.press("Enter")
    expect(fold).to_have_attribute("open", "")
    results = fold.locator(".web-result a")
    expect(results).to_have_count(3)
    expect(results.first).to_have_attribute("rel", "noopener noreferrer")
    expect(results.first).to_have_attribute("target", "_blank")
    hosts = ["example.com", "example.org", "example.net"]
    expect(fold.locator(".web-result-host")).to_have_text(hosts)

    # Numbered references: one number per source, a popover on focus, Escape hides it.
    refs = reply.get_by_role("button", name=re.compile(r"^Source \d+$"))
    expect(refs.first).to_be_visible()
    saved = Message.objects.get(role="assistant")
    cited = [c for block in saved.content for c in block.get("citations") or []]
    sources = list(dict.fromkeys(c["url"] for c in cited))
    assert cited, "the fake's answer cites its results"
    expect(reply.locator(".reply-source")).to_have_count(len(sources))
    expect(reply.locator(".reply-source .source-title").first).to_have_attribute("href", sources[0])
    first = refs.first
    expect(first).to_have_text("1")
    first.focus()
    tip = reply.locator(f"#{first.get_attribute('aria-describedby')}")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(cited[0]["cited_text"])
    expect(tip.get_by_role("link")).to_have_attribute("href", sources[0])
    shoot(page, "web-search-citation")
    page.keyboard.press("Escape")
    expect(tip).to_be_hidden()
    expect(first).to_be_focused()
    # Pinned open by a press; its link is the next stop of the keyboard; leaving unpins it.
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("aria-expanded", "true")
    expect(tip).to_be_visible()
    page.keyboard.press("Tab")
    expect(tip.get_by_role("link")).to_be_focused()
    page.keyboard.press("Tab")
    expect(first).to_have_attribute("aria-expanded", "false")
    expect(tip).to_be_hidden()

    shown_refs = refs.count()
    searches = saved.usage["server_tool_use"]["web_search_requests"]
    expect(reply.locator(".usage")).to_contain_text(f"{searches} web search")
    page.evaluate("document.getElementById('history').scrollTop = 1e6")
    shoot(page, "web-search")
    page.set_viewport_size(PHONE)
    shoot(page, "web-search-phone")
    page.set_viewport_size(DESKTOP)

    # After a reload, the same from the saved message.
    page.reload()
    page.wait_for_selector("#composer:not([readonly])")
    expect(reply.locator(".server-tool")).to_have_text("Searched the web for “tides in Brest”")
    expect(refs).to_have_count(shown_refs)
    expect(reply.locator(".reply-source")).to_have_count(len(sources))


def test_web_search_in_a_conversations_settings_follows_in_another_tab(
    live_server_url, page, fake_api, owner
):
    haiku = ClaudeModel.objects.get(id="claude-haiku-4-5")
    haiku.capabilities = {
        **haiku.capabilities,
        "server_tools": {**haiku.capabilities["server_tools"], "web_search": {"supported": False}},
    }
    haiku.save()
    chat = conversation(owner, "Searching")
    log_in(page, live_server_url, f"/c/{chat.pk}/")
    # Another tab of the same session (the page's own context takes no second page).
    tab = page.context.browser.new_context(storage_state=page.context.storage_state())
    other = tab.new_page()
    other.goto(f"{live_server_url}/c/{chat.pk}/")
    other.wait_for_selector("#composer:not([readonly])")

    page.get_by_text("Conversation settings").click()
    page.get_by_role("checkbox", name="Search the web").check()
    expect(page.locator("#settings-status")).to_have_text("Saved")
    assert Conversation.objects.get(pk=chat.pk).web_search
    other.get_by_text("Conversation settings").click()
    expect(other.get_by_role("checkbox", name="Search the web")).to_be_checked()

    # A model without web search hides it, and the change turns it off.
    page.get_by_role("combobox", name="Model").select_option("claude-haiku-4-5")
    expect(page.locator("#settings-status")).to_have_text("Saved")
    expect(page.get_by_role("checkbox", name="Search the web")).to_be_hidden()
    saved = Conversation.objects.get(pk=chat.pk)
    assert (saved.model, saved.web_search) == ("claude-haiku-4-5", False)
    expect(other.get_by_role("checkbox", name="Search the web")).to_be_hidden()
    tab.close()


def test_an_image_pasted_in_the_message_box_is_attached(live_server_url, page, fake_api, owner):
    log_in(page, live_server_url)
    page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
          const init = { clipboardData: transfer, bubbles: true, cancelable: true };
          document.getElementById("composer").dispatchEvent(new ClipboardEvent("paste", init));
        }""",
        base64.b64encode(png(320, 200)).decode(),
    )
    chip = page.locator(".chip")
    expect(chip).to_have_attribute("data-state", "ready")
    expect(chip.locator(".chip-detail")).to_contain_text("320\u00d7200")
    assert Attachment.objects.get().name == "pasted.png"


def test_a_page_read_and_a_failed_search_are_said_in_words(live_server_url, page, fake_api, owner):
    chat = conversation(owner, "Reading")
    Conversation.objects.filter(pk=chat.pk).update(web_search=True)
    fake_api.enqueue(
        {"kind": "web_fetch", "url": "https://example.com/timetable"},
        {"kind": "web_search", "queries": ["ferry times"], "error": "too_many_requests"},
    )
    log_in(page, live_server_url, f"/c/{chat.pk}/")
    page.fill("#composer", "Read https://example.com/timetable please")
    page.press("#composer", "Enter")
    reply = page.locator(ASSISTANT)
    expect(reply).to_have_attribute("data-status", "complete")
    call = reply.locator(".server-tool")
    expect(call).to_have_text("Read https://example.com/timetable")
    expect(call.get_by_role("link")).to_have_attribute("rel", "noopener noreferrer")
    expect(reply.locator(".server-tool-result .web-result-host")).to_have_text("example.com")

    page.fill("#composer", "And the ferry times?")
    page.press("#composer", "Enter")
    second = page.locator(ASSISTANT).last
    expect(second).to_have_attribute("data-status", "complete")
    expect(second.locator(".server-tool-error")).to_have_text(
        "The web search failed: too many requests for now."
    )
    shoot(page, "web-fetch-and-search-error")
