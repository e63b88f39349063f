"""Citations of documents, streamed as the API streams them (``citations_delta`` before the
text of each citing block) and accumulated by the SDK's ``get_final_message()``."""

from __future__ import annotations

import anthropic
import pytest

from .helpers import MODEL, ask, http, pdf_block, pdf_bytes, sse_events, text_document

NOTES = "The sky is blue. Grass is green!\nWater is wet. Fire is hot."
CITED = {"enabled": True}


def final(client, messages, **params):
    with client.messages.stream(model=MODEL, max_tokens=2000, messages=messages, **params) as s:
        return s.get_final_message()


def citations_of(message):
    return [c for block in message.content if block.type == "text" for c in block.citations or []]


def test_a_text_documents_quotes_are_char_locations_of_its_text(client):
    message = final(client, ask(text_document(NOTES, title="Notes", citations=CITED)))
    citations = citations_of(message)
    assert [c.type for c in citations] == ["char_location"] * 3
    for citation in citations:
        assert citation.cited_text == NOTES[citation.start_char_index : citation.end_char_index]
        assert (citation.document_index, citation.document_title) == (0, "Notes")
    assert [c.cited_text for c in citations] == [
        "The sky is blue.",
        "Grass is green!",
        "Water is wet.",
    ]
    text = "".join(block.text for block in message.content)
    assert text.startswith("**This is a simulated reply**")
    assert "“The sky is blue.”" in text


def test_a_pdfs_quotes_are_page_locations_of_its_extracted_text(client):
    data = pdf_bytes("First page, first sentence. And more.", "", "Third page here.")
    message = final(client, ask(pdf_block(data, title="Scan", citations=CITED)))
    pages = [
        (c.type, c.start_page_number, c.end_page_number, c.cited_text)
        for c in citations_of(message)
    ]
    assert pages == [
        ("page_location", 1, 2, "First page, first sentence."),
        ("page_location", 3, 4, "Third page here."),
    ]


def test_a_content_documents_quotes_are_its_blocks(client):
    document = {
        "type": "document",
        "source": {
            "type": "content",
            "content": [{"type": "text", "text": "Alpha."}, {"type": "text", "text": "Beta."}],
        },
        "citations": CITED,
    }
    citations = citations_of(final(client, ask(document)))
    assert [(c.type, c.start_block_index, c.end_block_index, c.cited_text) for c in citations] == [
        ("content_block_location", 0, 1, "Alpha."),
        ("content_block_location", 1, 2, "Beta."),
    ]


def test_citations_stream_before_the_text_of_their_block(fake):
    body = {
        "model": MODEL,
        "max_tokens": 2000,
        "stream": True,
        "messages": ask(text_document(NOTES, citations=CITED)),
    }
    status, _, raw = http(fake, "POST", "/v1/messages", body, {"x-api-key": "k"})
    assert status == 200
    events = sse_events(raw)
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert starts[0] == {"type": "text", "text": ""}
    assert starts[1] == {"type": "text", "text": "", "citations": []}
    cited = [data for name, data in events if name != "ping" and data.get("index") == 1]
    kinds = [data.get("delta", {}).get("type", data["type"]) for data in cited]
    assert kinds[0] == "content_block_start" and kinds[-1] == "content_block_stop"
    assert kinds[1] == "citations_delta" and set(kinds[2:-1]) == {"text_delta"}
    assert cited[1]["delta"]["citation"]["cited_text"] == "The sky is blue."


def test_the_whole_message_holds_the_same_citations(client):
    messages = ask(text_document(NOTES, citations=CITED))
    whole = client.messages.create(model=MODEL, max_tokens=2000, messages=messages)
    assert [c.model_dump() for c in citations_of(whole)] == [
        c.model_dump() for c in citations_of(final(client, messages))
    ]


def test_no_citations_without_a_citable_document_in_the_last_user_turn(client):
    plain = final(client, ask(text_document(NOTES)))
    assert citations_of(plain) == [] and len(plain.content) == 1
    earlier = [
        *ask(text_document(NOTES, citations=CITED)),
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Thanks!"},
    ]
    assert citations_of(final(client, earlier)) == []


def test_the_cite_scenario_quotes_named_documents(fake, client):
    messages = ask(
        text_document("Only from the first.", citations=CITED),
        text_document("One. Two. Three.", title="Second", citations=CITED),
    )
    fake.enqueue({"kind": "cite", "documents": [1], "quotes": 2})
    citations = citations_of(final(client, messages))
    assert [(c.document_index, c.cited_text) for c in citations] == [(1, "One."), (1, "Two.")]


def test_the_cite_scenarios_text_is_kept_and_its_sentences_cite_in_turn(fake, client):
    text = "Blue, it says. Green too. And nothing else."
    fake.enqueue({"kind": "cite", "text": text, "quotes": 2})
    message = final(client, ask(text_document(NOTES, citations=CITED)))
    assert "".join(block.text for block in message.content) == text
    assert [bool(block.citations) for block in message.content] == [True, True, False]
    assert message.content[1].citations[0].cited_text == "Grass is green!"


def test_a_cite_scenario_needs_a_citable_document(fake, client):
    fake.enqueue({"kind": "cite"})
    with pytest.raises(anthropic.BadRequestError, match="needs a document with citations"):
        final(client, ask(text_document(NOTES)))


def test_a_reply_with_citations_sent_back_is_accepted(client):
    messages = ask(text_document(NOTES, citations=CITED))
    reply = final(client, messages)
    history = [
        *messages,
        {"role": "assistant", "content": reply.content},
        {"role": "user", "content": "Thanks."},
    ]
    assert final(client, history).stop_reason == "end_turn"
    broken = [block.model_dump(exclude_none=True) for block in reply.content]
    broken[1]["citations"][0]["type"] = "made_up_location"
    history[1] = {"role": "assistant", "content": broken}
    with pytest.raises(anthropic.BadRequestError, match=r"text\.citations\.0\.type"):
        final(client, history)


def test_citations_need_the_capability(fake, client):
    fake.update_model("claude-sonnet-5-20260929", capabilities={"citations": {"supported": False}})
    with pytest.raises(anthropic.BadRequestError, match="citations are not supported"):
        final(client, ask(text_document(NOTES, citations=CITED)))
