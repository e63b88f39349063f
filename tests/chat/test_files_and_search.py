"""Attachments in the chat and web search: what the API is sent, what is refused before
any call, and what a reply with server tools and citations leaves behind (frames, the
saved message, the ledger)."""

import base64
import io
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfWriter

from chatapp.attachments.services import attachment_create
from chatapp.chat.models import Conversation, Message
from chatapp.llm import catalogue
from chatapp.llm.models import ClaudeModel
from chatapp.usage.models import UsageRecord

from .helpers import converse, of_type, receive_until, user_message


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def png(width=40, height=30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def pdf(pages=2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(200, 200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@sync_to_async
def upload(user, name: str, data: bytes):
    return attachment_create(owner=user, upload=SimpleUploadedFile(name, data))


@sync_to_async
def without(capability: str, model_id: str = "claude-sonnet-5"):
    """The model, as a sync would leave it after the API dropped a capability."""
    row = ClaudeModel.objects.get(pk=model_id)
    capabilities = dict(row.capabilities)
    if capability == "web_search":
        capabilities["server_tools"] = {
            **capabilities["server_tools"],
            "web_search": {"supported": False},
        }
    else:
        capabilities[capability] = {"supported": False}
    row.capabilities = capabilities
    row.save()
    catalogue.forget()


def user_turn(request: dict) -> list[dict]:
    return request["body"]["messages"][-1]["content"]


async def test_an_image_goes_upstream_as_an_image_block_and_stays_in_the_history(
    fake_api, sockets, owner
):
    image = await upload(owner, "red.png", png())
    tab = await sockets(owner)
    frames, reply = await converse(tab, "What colour is this?", attachments=[image.pk])

    sent = user_turn(fake_api.requests[-1])
    assert sent[0]["type"] == "image"
    assert sent[0]["source"]["media_type"] == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(sent[0]["source"]["data"]))).size == (40, 30)
    assert sent[-1] == {"type": "text", "text": "What colour is this?"}

    shown = of_type(frames, "user_message")[0]["message"]["content"]
    assert shown[0]["type"] == "image" and shown[0]["attachment"]["id"] == image.pk
    assert shown[0]["attachment"]["url"] and "data" not in str(shown[0])
    stored = await Message.objects.aget(pk=reply.parent_id)
    assert stored.content[0]["attachment"]["name"] == "red.png"
    assert reply.status == "complete"


async def test_a_pdf_is_sent_as_a_document_with_citations_and_the_reply_cites_it(
    fake_api, sockets, owner
):
    document = await upload(owner, "notes.txt", b"The launch is on Tuesday. Bring snacks.")
    tab = await sockets(owner)
    frames, reply = await converse(tab, "When is the launch?", attachments=[document.pk])

    block = user_turn(fake_api.requests[-1])[0]
    assert block["type"] == "document" and block["citations"] == {"enabled": True}
    assert block["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "The launch is on Tuesday. Bring snacks.",
    }
    deltas = [f["delta"] for f in of_type(frames, "content_block_delta")]
    relayed = [d["citation"] for d in deltas if d["type"] == "citations_delta"]
    assert relayed, "the fake's reply cites the document"
    saved_citations = [c for b in reply.content for c in b.get("citations") or ()]
    assert saved_citations == relayed
    assert relayed[0]["cited_text"] in "The launch is on Tuesday. Bring snacks."


async def test_a_pdf_goes_as_a_base64_document(fake_api, sockets, owner):
    document = await upload(owner, "blank.pdf", pdf(pages=3))
    tab = await sockets(owner)
    await converse(tab, "Summarise", attachments=[document.pk])
    block = user_turn(fake_api.requests[-1])[0]
    assert block["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(block["source"]["data"]).startswith(b"%PDF-")


async def test_another_users_attachment_is_refused_and_nothing_is_stored(
    fake_api, sockets, owner, stranger
):
    theirs = await upload(stranger, "theirs.png", png())
    tab = await sockets(owner)
    frame = user_message("Look", attachments=[theirs.pk])
    await tab.send_json_to(frame)
    error = (await receive_until(tab, "error"))[-1]
    assert error["code"] == "invalid_attachment" and error["client_id"] == frame["client_id"]
    assert not await Message.objects.aexists() and not fake_api.requests


async def test_an_attachment_cannot_be_slipped_into_another_users_conversation(
    fake_api, sockets, owner, stranger
):
    mine = await upload(owner, "mine.png", png())
    tab = await sockets(owner)
    _, reply = await converse(tab, "Hello")
    intruder = await sockets(stranger)
    await intruder.send_json_to(
        user_message(
            "Mine now",
            (await Message.objects.aget(pk=reply.pk)).conversation_id,
            attachments=[mine.pk],
        )
    )
    assert (await receive_until(intruder, "error"))[-1]["code"] in (
        "invalid_attachment",
        "not_found",
    )
    assert await Message.objects.acount() == 2


async def test_a_hundred_attachments_are_refused(fake_api, sockets, owner):
    tab = await sockets(owner)
    await tab.send_json_to(user_message("So many", attachments=list(range(1, 101))))
    error = (await receive_until(tab, "error"))[-1]
    assert error["code"] == "too_many_attachments" and "100" in error["message"]
    assert not await Message.objects.aexists()


@pytest.mark.parametrize(
    ("capability", "name", "data"),
    [("image_input", "red.png", png()), ("pdf_input", "blank.pdf", pdf())],
)
async def test_a_model_that_cannot_read_the_file_is_refused_before_any_call(
    fake_api, sockets, owner, capability, name, data
):
    await without(capability)
    attachment = await upload(owner, name, data)
    tab = await sockets(owner)
    await tab.send_json_to(
        user_message("Read this", model="claude-sonnet-5", attachments=[attachment.pk])
    )
    error = (await receive_until(tab, "error"))[-1]
    assert error["code"] == "unsupported_input"
    assert "Claude Sonnet 5 does not read" in error["message"]
    assert not await Message.objects.aexists() and not fake_api.requests


async def test_an_edit_keeps_the_files_unless_it_names_others(fake_api, sockets, owner):
    first, second = await upload(owner, "a.png", png()), await upload(owner, "b.png", png(20, 20))
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Look", attachments=[first.pk])
    conversation_id, asked = frames[-1]["conversation_id"], reply.parent_id

    async def edit(**extra):
        await tab.send_json_to(
            {
                "type": "edit",
                "conversation_id": conversation_id,
                "message_id": asked,
                "text": "Look again",
                "client_id": str(uuid.uuid4()),
                **extra,
            }
        )
        branch = (await receive_until(tab, "branch"))[-1]
        await receive_until(tab, "message_stop")
        return [
            b["attachment"]["id"] for b in branch["messages"][-2]["content"] if "attachment" in b
        ]

    assert await edit() == [first.pk]
    assert await edit(attachments=[second.pk]) == [second.pk]
    assert await edit(attachments=[]) == []
    assert [b["type"] for b in user_turn(fake_api.requests[-1])] == ["text"]


async def test_count_tokens_sees_the_same_blocks(fake_api, sockets, owner, settings):
    # A window so small (200) that the bound (160 for the image, plus a byte a token for
    # the rest) comes near it: the request is counted exactly, and fits.
    await ClaudeModel.objects.filter(pk="claude-sonnet-5").aupdate(max_input_tokens=200)
    await sync_to_async(catalogue.forget)()
    image = await upload(owner, "red.png", png(400, 300))
    tab = await sockets(owner)
    await converse(tab, "What is it?", attachments=[image.pk], model="claude-sonnet-5")
    # The count is of the request itself (an image the API counts, not its base64), so
    # the exact size fits where the base64 alone would not.
    assert fake_api.count_tokens_calls == 1
    assert user_turn(fake_api.requests[-1])[0]["type"] == "image"


async def test_web_search_reply_is_relayed_stored_and_costed(fake_api, sockets, owner):
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Latest Django release?", web_search=True)

    tools = fake_api.requests[-1]["body"]["tools"]
    assert {tool["name"] for tool in tools} == {"web_search", "web_fetch"}
    kinds = [b["type"] for b in reply.content]
    assert "server_tool_use" in kinds and "web_search_tool_result" in kinds
    started = [f["content_block"]["type"] for f in of_type(frames, "content_block_start")]
    assert "web_search_tool_result" in started
    cited = [c for b in reply.content for c in b.get("citations") or ()]
    assert cited and cited[0]["type"] == "web_search_result_location"

    assert reply.server_tool_use["web_search_requests"] == 1
    message = frames[-1]["message"]
    assert message["usage"]["server_tool_use"]["web_search_requests"] == 1
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.web_search_requests == 1
    tokens_only = record.cost - Decimal("0.01")
    assert tokens_only > 0 and Decimal(message["cost"]) == record.cost
    conversation = await Conversation.objects.aget(pk=frames[-1]["conversation_id"])
    assert conversation.web_search


async def test_the_next_turn_sends_the_search_back_and_without_web_search_leaves_it_out(
    fake_api, sockets, owner
):
    tab = await sockets(owner)
    frames, _ = await converse(tab, "Search something", web_search=True)
    conversation_id = frames[-1]["conversation_id"]
    await converse(tab, "And then?", conversation_id)
    resent = fake_api.requests[-1]["body"]["messages"][1]["content"]
    assert [b["type"] for b in resent if b["type"] != "text"] == [
        "server_tool_use",
        "web_search_tool_result",
    ]
    assert all("citations" not in b for b in resent if b["type"] == "text")

    await Conversation.objects.filter(pk=conversation_id).aupdate(web_search=False)
    await converse(tab, "Without search", conversation_id)
    body = fake_api.requests[-1]["body"]
    assert "tools" not in body
    assert {b["type"] for turn in body["messages"] for b in turn["content"]} == {"text"}


async def test_web_search_on_a_model_without_it_is_refused(fake_api, sockets, owner):
    await without("web_search")
    tab = await sockets(owner)
    await tab.send_json_to(user_message("Search", model="claude-sonnet-5", web_search=True))
    error = (await receive_until(tab, "error"))[-1]
    assert error["code"] == "unsupported_input" and "search" in error["message"]
    assert not await Conversation.objects.aexists()
