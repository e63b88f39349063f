"""What the chat app calls: the owner check on ids, the blocks stored in a message, the
blocks sent to the API (in one query for a whole history), and the bounds and kinds read
from the stored blocks alone."""

import base64

import pytest

from chatapp.attachments.blocks import (
    api_blocks,
    api_messages,
    content_blocks,
    kinds_in,
    tokens_at_most,
)
from chatapp.attachments.models import Attachment
from chatapp.attachments.selectors import attachments_owned
from chatapp.attachments.services import attachment_create
from chatapp.errors import AppError

from .conftest import image_bytes, pdf_bytes, upload


@pytest.fixture
def files(owner):
    return {
        "image": attachment_create(owner=owner, upload=upload("a.png", image_bytes("PNG"))),
        "pdf": attachment_create(owner=owner, upload=upload("b.pdf", pdf_bytes(pages=2))),
        "text": attachment_create(owner=owner, upload=upload("c.md", b"\xef\xbb\xbf# Notes\n")),
    }


# --- attachments_owned --------------------------------------------------------------------


def test_owned_attachments_come_in_the_order_given_each_once(owner, files):
    ids = [files["text"].pk, files["image"].pk, files["text"].pk, files["pdf"].pk]
    found = attachments_owned(user=owner, ids=ids)
    assert [a.pk for a in found] == [files["text"].pk, files["image"].pk, files["pdf"].pk]
    assert attachments_owned(user=owner, ids=[]) == []


def test_another_users_id_reads_like_a_missing_one(owner, stranger, files):
    def refusal(ids):
        with pytest.raises(AppError) as caught:
            attachments_owned(user=stranger, ids=ids)
        return caught.value

    theirs, missing = refusal([files["image"].pk]), refusal([files["image"].pk + 1000])
    assert theirs.code == missing.code == "invalid_attachment"
    assert theirs.message.replace(str(files["image"].pk), "N") == missing.message.replace(
        str(files["image"].pk + 1000), "N"
    )


@pytest.mark.parametrize(
    "ids", ["1", 1, None, [1, "2"], [True], [1.0], [0], [-3], [2**63], {"a": 1}, (1, 2)]
)
def test_ids_must_be_a_list_of_ids(owner, ids):
    with pytest.raises(AppError) as caught:
        attachments_owned(user=owner, ids=ids)
    assert caught.value.code == "invalid_attachment"


def test_more_than_the_limit_is_refused_before_any_query(
    owner, settings, django_assert_num_queries
):
    settings.CHAT_MAX_ATTACHMENTS = 20
    with django_assert_num_queries(0), pytest.raises(AppError) as caught:
        attachments_owned(user=owner, ids=list(range(1, 101)))
    assert caught.value.code == "too_many_attachments"
    assert caught.value.message == "100 attachments on one message: the limit is 20."


# --- stored blocks ------------------------------------------------------------------------


def stored_content(files) -> list[dict]:
    blocks = content_blocks([files["image"], files["pdf"], files["text"]])
    return [*blocks, {"type": "text", "text": "What do these say?"}]


def test_content_blocks_carry_the_attachment_not_its_bytes(files):
    blocks = content_blocks([files["image"], files["pdf"], files["text"]])
    assert [b["type"] for b in blocks] == ["image", "document", "document"]
    assert [b["attachment"] for b in blocks] == [
        files[k].to_dict() for k in ("image", "pdf", "text")
    ]


def test_tokens_and_kinds_are_read_from_the_stored_blocks(files, django_assert_num_queries):
    content = stored_content(files)
    with django_assert_num_queries(0):
        assert tokens_at_most(content) == sum(files[k].tokens for k in files)
        assert tokens_at_most([{"type": "text", "text": "hi"}]) == 0
        assert tokens_at_most("plain string content") == 0
        assert kinds_in(content) == {"image", "pdf", "text"}
        history = [
            {"role": "user", "content": content_blocks([files["pdf"]])},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": "a string"},
        ]
        assert kinds_in(history) == {"pdf"}
        assert kinds_in([]) == set()
    assert files["image"].tokens == 2  # 40 x 20 / 750, rounded up
    assert files["pdf"].tokens == 2 * 1600 + files["pdf"].text_bytes
    assert files["text"].tokens == files["text"].size


def read(attachment) -> bytes:
    with attachment.file.open("rb") as stored:
        return stored.read()


def test_api_blocks_are_the_apis_own(files):
    sent = api_blocks(stored_content(files), citations=True)
    assert sent[0] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(read(files["image"])).decode(),
        },
    }
    assert sent[1] == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": base64.b64encode(read(files["pdf"])).decode(),
        },
        "title": "b.pdf",
        "citations": {"enabled": True},
    }
    assert sent[2] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "# Notes\n"},
        "title": "c.md",
        "citations": {"enabled": True},
    }
    assert sent[3] == {"type": "text", "text": "What do these say?"}
    assert api_blocks(stored_content(files), citations=False)[1]["citations"] == {"enabled": False}


def test_with_the_files_api_images_and_pdfs_are_named_by_their_id(files, settings):
    Attachment.objects.filter(pk=files["image"].pk).update(file_id="file_img")
    Attachment.objects.filter(pk=files["pdf"].pk).update(file_id="file_pdf")
    Attachment.objects.filter(pk=files["text"].pk).update(file_id="file_txt")
    settings.CHAT_USE_FILES_API = True
    sent = api_blocks(stored_content(files), citations=False)
    assert sent[0]["source"] == {"type": "file", "file_id": "file_img"}
    assert sent[1]["source"] == {"type": "file", "file_id": "file_pdf"}
    assert sent[2]["source"]["type"] == "text"  # text always goes as text
    settings.CHAT_USE_FILES_API = False  # turned off: the ids are not used
    assert api_blocks(stored_content(files), citations=False)[0]["source"]["type"] == "base64"


def test_a_deleted_attachment_becomes_a_note(files):
    content = stored_content(files)
    files["pdf"].delete()
    files["image"].file.storage.delete(files["image"].file.name)  # lost by the storage
    sent = api_blocks(content, citations=True)
    assert sent[0] == {"type": "text", "text": "[attachment a.png was deleted]"}
    assert sent[1] == {"type": "text", "text": "[attachment b.pdf was deleted]"}
    assert sent[2]["type"] == "document"


def test_a_whole_history_is_converted_in_one_query(files, django_assert_num_queries):
    history = [
        {"role": "user", "content": stored_content(files)},
        {"role": "assistant", "content": [{"type": "text", "text": "They say hi."}]},
        {
            "role": "user",
            "content": [*content_blocks([files["image"]]), {"type": "text", "text": "And?"}],
        },
        {"role": "assistant", "content": "a plain string"},
    ]
    with django_assert_num_queries(1):
        sent = api_messages(history, citations=True)
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant"]
    assert sent[0]["content"] == api_blocks(stored_content(files), citations=True)
    assert sent[1] == history[1] and sent[3] == history[3]
    assert sent[2]["content"][0]["source"]["type"] == "base64"
    assert "attachment" in history[0]["content"][0]  # the stored history is left as it was
    with django_assert_num_queries(0):
        assert api_messages([{"role": "user", "content": "hi"}], citations=True)
