"""The web search and web fetch server tools: their definitions checked, the default reply (one
search, an answer citing it), the scenarios (searches, errors, max_uses, pause_turn), web fetch,
``usage.server_tool_use``, and a turn holding their blocks sent back."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import anthropic
import pytest

from .helpers import MODEL, http, sse_events

SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2}
QUESTION = [{"role": "user", "content": "Best hiking trails near Lyon"}]
FAKE_DOMAINS = {"example.com", "example.org", "example.net"}


def final(client, messages=QUESTION, tools=(SEARCH,), **params):
    with client.messages.stream(
        model=MODEL, max_tokens=4000, messages=messages, tools=list(tools), **params
    ) as stream:
        return stream.get_final_message()


def kinds(message):
    return [block.type for block in message.content]


def searches(message):
    return message.usage.server_tool_use.web_search_requests


def results_of(message):
    return [block for block in message.content if block.type == "web_search_tool_result"]


def text_of(message):
    return "".join(block.text for block in message.content if block.type == "text")


def sent_back(message):
    return [*QUESTION, {"role": "assistant", "content": message.content}]


# --- the tool definitions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search_20250305", "name": "web_search"},
        {"type": "web_search_20260209", "name": "web_search", "max_uses": 1},
        {"type": "web_search_20260318", "name": "web_search", "allowed_domains": ["a.example"]},
        {"type": "web_fetch_20250910", "name": "web_fetch"},
        {"type": "web_fetch_20260209", "name": "web_fetch"},
        {"type": "web_fetch_20260309", "name": "web_fetch"},
        {"type": "web_fetch_20260318", "name": "web_fetch", "citations": {"enabled": True}},
    ],
)
def test_every_version_the_sdk_lists_is_taken(client, tool):
    assert final(client, tools=[tool]).stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (
            {"type": "web_search_20990101", "name": "web_search"},
            "tools.0: Input tag 'web_search_20990101' found using 'type' does not match any "
            "of the expected tags:",
        ),
        (
            {"type": "web_search_20250305", "name": "search"},
            "tools.0.web_search_20250305.name: Input should be 'web_search'",
        ),
        (
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 0},
            "tools.0.web_search_20250305.max_uses: Input should be an integer greater than 0",
        ),
        (
            {**SEARCH, "allowed_domains": ["a.example"], "blocked_domains": ["b.example"]},
            "use either allowed_domains or blocked_domains, not both",
        ),
        ({"name": "lookup"}, "tools.0.custom.input_schema: Field required"),
    ],
)
def test_a_tool_definition_the_api_would_refuse_is_refused(client, tool, message):
    with pytest.raises(anthropic.BadRequestError) as refusal:
        final(client, tools=[tool])
    assert message in refusal.value.api_message


def test_tool_names_must_be_unique(client):
    custom = {"name": "web_search", "input_schema": {"type": "object"}}
    with pytest.raises(anthropic.BadRequestError, match="Tool names must be unique"):
        final(client, tools=[SEARCH, custom])


@pytest.mark.parametrize("tool", [SEARCH, FETCH])
def test_a_model_without_web_search_refuses_both_web_tools(fake, client, tool):
    fake.update_model(
        "claude-haiku-4-5-20251001",
        capabilities={"server_tools": {"web_search": {"supported": False}}},
    )
    with pytest.raises(anthropic.BadRequestError) as refusal:
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=QUESTION, tools=[tool]
        )
    assert refusal.value.api_message == (
        f"tools.0: the {tool['name']} tool is not supported for this model "
        "(claude-haiku-4-5-20251001)"
    )


# --- web search ----------------------------------------------------------------------------------


def test_the_default_reply_searches_once_and_cites_the_results(client):
    message = final(client)
    assert kinds(message)[:3] == ["text", "server_tool_use", "web_search_tool_result"]
    use, result = message.content[1], message.content[2]
    assert use.id.startswith("srvtoolu_") and use.name == "web_search"
    assert use.input == {"query": "Best hiking trails near Lyon"}
    assert result.tool_use_id == use.id
    assert [r.type for r in result.content] == ["web_search_result"] * 3
    for found in result.content:
        assert urlsplit(found.url).hostname in FAKE_DOMAINS
        assert "Best hiking trails near Lyon" in found.title
        assert found.encrypted_content
    cited = [block for block in message.content[3:] if block.citations]
    assert [c.url for block in cited for c in block.citations] == [r.url for r in result.content]
    for block in cited:
        citation = block.citations[0]
        assert citation.type == "web_search_result_location"
        assert citation.encrypted_index and citation.cited_text and citation.title
    assert "simulated search results" in text_of(message)  # demo mode reads well
    assert searches(message) == 1 and message.usage.server_tool_use.web_fetch_requests == 0
    assert message.stop_reason == "end_turn"


def test_server_tool_use_is_zero_in_message_start_and_counted_in_message_delta(fake):
    body = {"model": MODEL, "max_tokens": 4000, "stream": True, "messages": QUESTION}
    status, _, raw = http(
        fake, "POST", "/v1/messages", {**body, "tools": [SEARCH]}, {"x-api-key": "k"}
    )
    assert status == 200
    events = dict(
        (name, data) for name, data in sse_events(raw) if name in ("message_start", "message_delta")
    )
    start = events["message_start"]["message"]["usage"]
    end = events["message_delta"]["usage"]
    assert start["server_tool_use"] == {"web_search_requests": 0, "web_fetch_requests": 0}
    assert end["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}
    # The results the model read are input too, billed with the turn.
    assert end["input_tokens"] > start["input_tokens"]
    deltas = [
        data["delta"]
        for name, data in sse_events(raw)
        if name == "content_block_delta" and data["index"] == 1
    ]
    assert deltas[0] == {"type": "input_json_delta", "partial_json": ""}  # as the recording
    assert json.loads("".join(d["partial_json"] for d in deltas)) == {
        "query": "Best hiking trails near Lyon"
    }
    starts = [data for name, data in sse_events(raw) if name == "content_block_start"]
    assert starts[1]["content_block"]["input"] == {}
    assert starts[2]["content_block"]["type"] == "web_search_tool_result"  # whole at its start
    assert len(starts[2]["content_block"]["content"]) == 3


def test_without_server_tools_usage_has_no_server_tool_use(client):
    message = client.messages.create(model=MODEL, max_tokens=100, messages=QUESTION)
    assert message.usage.server_tool_use is None


def test_a_scenario_sets_the_searches_queries_and_results(fake, client):
    fake.enqueue({"kind": "web_search", "queries": ["lyon trails", "lyon weather"], "results": 2})
    message = final(client)
    uses = [block for block in message.content if block.type == "server_tool_use"]
    assert [use.input["query"] for use in uses] == ["lyon trails", "lyon weather"]
    assert [len(result.content) for result in results_of(message)] == [2, 2]
    assert searches(message) == 2
    urls = [r.url for result in results_of(message) for r in result.content]
    assert len(set(urls)) == 4


def test_a_scenarios_text_is_the_answer_and_cites_in_turn(fake, client):
    fake.enqueue({"kind": "web_search", "text": "Try the Monts d'Or. Or the Pilat. Enjoy!"})
    message = final(client)
    answer = [block for block in message.content if block.type == "text"]
    assert "".join(block.text for block in answer) == "Try the Monts d'Or. Or the Pilat. Enjoy!"
    assert [bool(block.citations) for block in answer] == [True, True, True]
    assert kinds(message)[:2] == ["server_tool_use", "web_search_tool_result"]


def test_searches_past_max_uses_get_max_uses_exceeded_and_are_not_counted(fake, client):
    fake.enqueue({"kind": "web_search", "searches": 3})
    message = final(client, tools=[{**SEARCH, "max_uses": 2}])
    contents = [result.content for result in results_of(message)]
    assert [isinstance(content, list) for content in contents] == [True, True, False]
    assert contents[2].type == "web_search_tool_result_error"
    assert contents[2].error_code == "max_uses_exceeded"
    assert searches(message) == 2


@pytest.mark.parametrize("code", ["unavailable", "too_many_requests", "query_too_long"])
def test_an_error_result_is_not_billed_and_the_answer_says_so(fake, client, code):
    fake.enqueue({"kind": "web_search", "error": code})
    message = final(client)
    assert results_of(message)[0].content.error_code == code
    assert searches(message) == 0
    assert f"`{code}`" in text_of(message)


def test_errors_can_differ_search_by_search(fake, client):
    fake.enqueue({"kind": "web_search", "errors": ["unavailable", None]})  # two searches
    message = final(client)
    assert [type(r.content).__name__ for r in results_of(message)] == [
        "WebSearchToolResultErrorObject",
        "list",
    ]
    assert searches(message) == 1


def test_a_paused_search_turn_sent_back_as_it_is_goes_on(fake, client):
    fake.enqueue(
        {"kind": "web_search", "searches": 3, "pause_after": 1},
        {"kind": "reply", "text": "Queued for later."},
    )
    paused = final(client)
    assert paused.stop_reason == "pause_turn"
    assert kinds(paused) == ["text", "server_tool_use", "web_search_tool_result"]
    assert searches(paused) == 1
    resumed = final(client, messages=sent_back(paused))
    assert resumed.stop_reason == "end_turn"
    assert kinds(resumed)[:4] == ["server_tool_use", "web_search_tool_result"] * 2
    assert searches(resumed) == 2
    # The answer cites the results of both responses.
    cited = {
        c.url for block in resumed.content if block.type == "text" for c in block.citations or ()
    }
    first_urls = {r.url for r in results_of(paused)[0].content}
    assert first_urls <= cited
    assert [s["text"] for s in fake.pending_scenarios] == ["Queued for later."]
    # A retry of the same continuation gets the same rest of the turn.
    assert searches(final(client, messages=sent_back(paused))) == 2


def test_a_turn_paused_after_its_last_search_goes_on_with_the_answer(fake, client):
    fake.enqueue({"kind": "web_search", "pause_after": 1})
    paused = final(client)
    assert paused.stop_reason == "pause_turn" and kinds(paused)[-1] == "web_search_tool_result"
    resumed = final(client, messages=sent_back(paused))
    assert set(kinds(resumed)) == {"text"} and searches(resumed) == 0
    assert any(block.citations for block in resumed.content)


def test_a_paused_turn_sent_back_as_json_goes_on_too(fake, client):
    """As an app that stored the blocks as JSON sends them (``model_dump``, nulls and all)."""
    fake.enqueue({"kind": "web_search", "searches": 2, "pause_after": 1})
    paused = client.messages.create(model=MODEL, max_tokens=4000, messages=QUESTION, tools=[SEARCH])
    stored = json.loads(json.dumps([block.model_dump(mode="json") for block in paused.content]))
    history = [*QUESTION, {"role": "assistant", "content": stored}]
    resumed = client.messages.create(model=MODEL, max_tokens=4000, messages=history, tools=[SEARCH])
    assert resumed.stop_reason == "end_turn" and searches(resumed) == 1


def test_a_search_turn_sent_back_is_counted_as_input(client):
    message = final(client)
    history = [*sent_back(message), {"role": "user", "content": "And in winter?"}]
    counted = client.messages.count_tokens(model=MODEL, messages=history, tools=[SEARCH])
    question = client.messages.count_tokens(model=MODEL, messages=QUESTION, tools=[SEARCH])
    # The first turn's input already held its results; sent back, they count again.
    assert counted.input_tokens > message.usage.input_tokens > question.input_tokens
    assert final(client, messages=history).stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda content: content[2]["content"][0].update(encrypted_content="forged"),
            "Invalid `encrypted_content` in `web_search_result` block",
        ),
        (
            lambda content: content[2].update(tool_use_id="srvtoolu_01Unknown"),
            "has no `server_tool_use` block with that id before it",
        ),
        (
            lambda content: next(b for b in content if b.get("citations"))["citations"][0].update(
                encrypted_index="forged"
            ),
            "Invalid `encrypted_index` in `web_search_result_location`",
        ),
        (
            lambda content: content[1].update(id="toolu_01NotServer"),
            "server_tool_use.id: String should match",
        ),
    ],
)
def test_a_changed_search_turn_is_refused(client, change, message):
    reply = final(client)
    content = [block.model_dump(exclude_none=True) for block in reply.content]
    change(content)
    history = [*QUESTION, {"role": "assistant", "content": content}, *QUESTION]
    with pytest.raises(anthropic.BadRequestError) as refusal:
        final(client, messages=history)
    assert message in refusal.value.api_message


def test_a_web_search_scenario_needs_the_tool(fake, client):
    fake.enqueue({"kind": "web_search"})
    with pytest.raises(anthropic.BadRequestError, match="needs the web_search tool"):
        client.messages.create(model=MODEL, max_tokens=100, messages=QUESTION)


def test_an_inline_directive_can_ask_for_a_failed_search(client):
    messages = [
        {"role": "user", "content": 'Lyon? [[fake:{"kind": "web_search", "error": "unavailable"}]]'}
    ]
    message = final(client, messages=messages)
    assert results_of(message)[0].content.error_code == "unavailable"
    assert message.content[0].text == "Let me search the web for “Lyon?”."


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"kind": "web_search", "error": "broken"}, "'error' must be one of invalid_tool_input"),
        ({"kind": "web_search", "searches": 2, "pause_after": 3}, "'pause_after' (3) is more"),
        ({"kind": "web_fetch", "url": "https://a.example", "urls": []}, "'urls' must be"),
        ({"kind": "cite", "documents": ["a"]}, "'documents' must be a list of integers"),
    ],
)
def test_a_bad_scenario_is_refused_in_the_test(fake, scenario, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fake.enqueue(scenario)


# --- web fetch -----------------------------------------------------------------------------------


def test_a_url_in_the_message_is_fetched_by_default_when_web_fetch_is_on(client):
    messages = [{"role": "user", "content": "Summarise https://example.org/trails/lyon please."}]
    message = final(client, messages=messages, tools=[SEARCH, FETCH])
    assert kinds(message) == ["text", "server_tool_use", "web_fetch_tool_result", "text"]
    use, result = message.content[1], message.content[2]
    assert (use.name, use.input) == ("web_fetch", {"url": "https://example.org/trails/lyon"})
    assert result.tool_use_id == use.id
    fetched = result.content
    assert fetched.type == "web_fetch_result" and fetched.url == "https://example.org/trails/lyon"
    assert fetched.retrieved_at.endswith("Z")
    document = fetched.content
    assert document.type == "document" and document.source.type == "text"
    assert document.source.media_type == "text/plain"
    assert "simulated copy of https://example.org/trails/lyon" in document.source.data
    assert "simulated fetch" in message.content[3].text
    usage = message.usage.server_tool_use
    assert (usage.web_fetch_requests, usage.web_search_requests) == (1, 0)


def test_without_a_url_web_fetch_alone_gives_the_ordinary_reply(client):
    message = final(client, tools=[FETCH])
    assert kinds(message) == ["text"] and message.usage.server_tool_use.web_fetch_requests == 0


def test_a_fetch_scenario_errors_and_max_uses(fake, client):
    fake.enqueue(
        {"kind": "web_fetch", "url": "https://example.com/a", "error": "url_not_accessible"}
    )
    message = final(client, tools=[FETCH])
    result = next(block for block in message.content if block.type == "web_fetch_tool_result")
    assert (result.content.type, result.content.error_code) == (
        "web_fetch_tool_result_error",
        "url_not_accessible",
    )
    assert message.usage.server_tool_use.web_fetch_requests == 0
    urls = ["https://example.com/a", "https://example.com/b", "https://example.com/c"]
    fake.enqueue({"kind": "web_fetch", "urls": urls})
    message = final(client, tools=[FETCH])
    results = [block.content for block in message.content if block.type == "web_fetch_tool_result"]
    assert [content.type for content in results] == [
        "web_fetch_result",
        "web_fetch_result",
        "web_fetch_tool_result_error",
    ]
    assert results[2].error_code == "max_uses_exceeded"
    assert message.usage.server_tool_use.web_fetch_requests == 2


def test_a_fetch_turn_sent_back_is_accepted_and_counted(client):
    messages = [{"role": "user", "content": "Read https://example.net/x"}]
    message = final(client, messages=messages, tools=[FETCH])
    history = [
        *messages,
        {"role": "assistant", "content": message.content},
        {"role": "user", "content": "Thanks"},
    ]
    counted = client.messages.count_tokens(model=MODEL, messages=history, tools=[FETCH])
    assert counted.input_tokens > message.usage.input_tokens
    assert final(client, messages=history, tools=[FETCH]).stop_reason == "end_turn"


def test_thinking_comes_first_and_max_tokens_cuts_a_search_turn_whole(client):
    thought = final(client, thinking={"type": "adaptive", "display": "summarized"})
    assert kinds(thought)[:3] == ["thinking", "text", "server_tool_use"]
    cut = client.messages.create(model=MODEL, max_tokens=12, messages=QUESTION, tools=[SEARCH])
    assert cut.stop_reason == "max_tokens" and kinds(cut) == ["text"]
    assert cut.usage.output_tokens <= 12 and searches(cut) == 0
