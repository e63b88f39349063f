"""Managing conversations over HTTP: search, the sidebar's pages, rename and pin, stop
sequences, export, delete, feedback; each scoped to its owner."""

import json
import re

import pytest
from django.db import connection
from django.urls import reverse

from chatapp.chat import selectors
from chatapp.chat.live import hub
from chatapp.chat.models import Conversation, Feedback, Message
from chatapp.usage.models import UsageRecord
from chatapp.usage.services import usage_reserve, usage_settle

from .helpers import receive_until, user_message


def conversation_with(owner, title: str, *turns: str, **fields) -> Conversation:
    """A conversation of question and answer turns, each the parent of the next."""
    conversation = Conversation.objects.create(
        owner=owner, title=title, model="claude-sonnet-5", max_tokens=1024, **fields
    )
    parent = None
    for n, text in enumerate(turns):
        parent = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role="user" if n % 2 == 0 else "assistant",
            content=[{"type": "text", "text": text}],
            search_text=text,
            model="claude-sonnet-5",
        )
    conversation.active_leaf = parent
    conversation.save()
    return conversation


@pytest.fixture
def trips(owner, stranger):
    lisbon = conversation_with(
        owner,
        "Trip to Lisbon",
        "Where should I eat in Lisbon?",
        "Try the pastéis de nata in Belém, and grilled sardines in Alfama.",
    )
    rome = conversation_with(owner, "Rome", "Best gelato?", "Fatamorgana near Trastevere.")
    theirs = conversation_with(stranger, "Their sardines", "sardines please", "Sardines, yes.")
    return lisbon, rome, theirs


def search(client, q: str):
    return client.get(reverse("chat:search"), {"q": q})


def test_search_finds_ones_own_conversations_by_message_text_with_a_marked_snippet(
    client, owner, trips
):
    lisbon, _, _ = trips
    client.force_login(owner)
    response = search(client, "sardines")
    assert response.status_code == 200
    (hit,) = response.json()["results"]  # not the stranger's conversation
    assert hit["conversation_id"] == lisbon.pk and hit["title"] == "Trip to Lisbon"
    assert re.search(r"<mark>sardines</mark>", hit["snippet"], re.IGNORECASE)


def test_search_finds_titles_and_escapes_what_it_shows(client, owner, trips):
    conversation_with(owner, "<b>Rome</b> notes", "tell me <script>x</script> about Rome")
    client.force_login(owner)
    results = search(client, "Rome").json()["results"]
    assert {r["title"] for r in results} == {"Rome", "<b>Rome</b> notes"}
    for result in results:
        assert "<script>" not in result["snippet"] and "<b>" not in result["snippet"]


@pytest.mark.postgres
def test_search_on_postgresql_ranks_and_stems(client, owner, trips):
    assert connection.vendor == "postgresql"
    client.force_login(owner)
    (hit,) = search(client, "eating").json()["results"]  # "eat", stemmed
    assert hit["title"] == "Trip to Lisbon" and "<mark>" in hit["snippet"]
    # The denser match ranks first, though it is the older conversation.
    dense = conversation_with(
        owner, "Dinner", "Paella tonight?", "Paella, and more paella: a paella for four."
    )
    sparse = conversation_with(
        owner,
        "Dinner too",
        "What should we cook for friends on Saturday evening, something from Spain?",
        "A tortilla, some croquetas, a salad with olives, bread with tomato, then paella.",
    )
    assert sparse.pk > dense.pk
    results = search(client, "paella").json()["results"]
    assert [r["conversation_id"] for r in results] == [dense.pk, sparse.pk]


def test_the_contains_search_finds_titles_and_text_of_ones_own_conversations(owner, trips):
    """The plain match used on SQLite, called directly so that it runs on PostgreSQL (CI)
    too: one's own conversations only, by title or by a message's text, whatever the case,
    newest first, the match marked in its context."""
    lisbon, rome, _ = trips
    long_text = "Some words before. " * 10 + "Rome in August is hot." + " More words after." * 10
    holidays = conversation_with(owner, "Holidays", "Where to go?", long_text)
    start, stop = selectors._START, selectors._STOP

    hits = selectors._search_contains(user=owner, query="ROME")
    assert [(pk, title) for pk, title, _ in hits] == [(holidays.pk, "Holidays"), (rome.pk, "Rome")]
    holiday_snippet, rome_snippet = (snippet for _, _, snippet in hits)
    assert f"{start}Rome{stop} in August is hot." in holiday_snippet
    assert holiday_snippet.startswith("…") and holiday_snippet.endswith("…")
    assert len(holiday_snippet) < len(long_text)
    assert rome_snippet == f"{start}Rome{stop}"  # no message says it: the title, marked

    (hit,) = selectors._search_contains(user=owner, query="sardines")  # not the stranger's
    assert hit[:2] == (lisbon.pk, "Trip to Lisbon")
    assert f"grilled {start}sardines{stop} in Alfama" in hit[2]
    assert selectors._search_contains(user=owner, query="gazpacho") == []


def test_search_refuses_a_huge_query_and_answers_nothing_for_an_empty_one(client, owner, trips):
    client.force_login(owner)
    huge = search(client, "x" * 10_000)
    assert huge.status_code == 400 and "limit" in huge.json()["error"]
    assert search(client, "  ").json() == {"results": []}
    client.logout()
    assert search(client, "sardines").status_code == 302


def test_the_sidebar_comes_in_pages_pinned_first(client, owner, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 3)
    made = [conversation_with(owner, f"c{n}", "hi") for n in range(7)]
    Conversation.objects.filter(pk=made[0].pk).update(pinned=True)
    client.force_login(owner)
    seen, after = [], None
    while True:
        page = client.get(reverse("chat:conversations"), {"after": after} if after else {}).json()
        seen += [row["title"] for row in page["conversations"]]
        after = page["next"]
        if after is None:
            break
    assert seen == ["c0", "c6", "c5", "c4", "c3", "c2", "c1"]
    bad = client.get(reverse("chat:conversations"), {"after": "nonsense"})
    assert bad.status_code == 400


def settings_url(conversation) -> str:
    return reverse("chat:settings", args=[conversation.pk])


def test_rename_is_kept_as_the_users_own_title_and_reaches_every_tab(client, owner, trips):
    lisbon, _, _ = trips
    client.force_login(owner)
    response = client.post(settings_url(lisbon), {"title": "Lisbon food"})
    assert response.status_code == 200 and response.json()["conversation"]["title"] == "Lisbon food"
    lisbon.refresh_from_db()
    assert lisbon.title == "Lisbon food" and lisbon.title_set_by_user
    too_long = client.post(settings_url(lisbon), {"title": "x" * 201})
    assert too_long.status_code == 400 and "title" in too_long.json()["errors"]
    lisbon.refresh_from_db()
    assert lisbon.title == "Lisbon food"


def test_pin_and_stop_sequences_are_settings(client, owner, trips):
    lisbon, _, _ = trips
    client.force_login(owner)
    assert client.post(settings_url(lisbon), {"pinned": "true"}).status_code == 200
    lisbon.refresh_from_db()
    assert lisbon.pinned and not lisbon.title_set_by_user
    ok = client.post(settings_url(lisbon), {"stop_sequences": "END\n\nSTOP HERE\n"})
    assert ok.status_code == 200
    lisbon.refresh_from_db()
    assert lisbon.stop_sequences == ["END", "STOP HERE"] and lisbon.pinned
    many = client.post(settings_url(lisbon), {"stop_sequences": "\n".join("abcdefghij")})
    assert many.status_code == 400 and "At most 8" in many.json()["errors"]["stop_sequences"][0]
    assert client.post(settings_url(lisbon), {"pinned": "false"}).status_code == 200
    lisbon.refresh_from_db()
    assert not lisbon.pinned and lisbon.stop_sequences == ["END", "STOP HERE"]


def cap_max_tokens(cap: int) -> None:
    """The admin's cap on max_tokens (the usage policy), read afresh by the app."""
    from chatapp.usage.models import UsagePolicy
    from chatapp.usage.services import usage_settings_changed

    UsagePolicy.objects.update_or_create(
        pk=1, defaults={"max_tokens_cap": cap, "requests_per_minute": 0}
    )
    usage_settings_changed()


def test_max_tokens_above_the_admins_cap_is_a_form_error(client, owner, trips):
    lisbon, _, _ = trips
    cap_max_tokens(2000)
    client.force_login(owner)
    refused = client.post(settings_url(lisbon), {"max_tokens": "3000"})
    assert refused.status_code == 400
    assert "2,000" in refused.json()["errors"]["max_tokens"][0]
    assert client.post(settings_url(lisbon), {"max_tokens": "2000"}).status_code == 200


def test_the_model_alone_or_the_system_prompt_alone_is_a_change(client, owner, trips):
    lisbon, _, _ = trips
    lisbon.stop_sequences = ["END"]
    lisbon.save()
    client.force_login(owner)

    def kept() -> tuple:
        lisbon.refresh_from_db()
        return (lisbon.model, lisbon.system_prompt, lisbon.max_tokens, lisbon.stop_sequences)

    model = client.post(settings_url(lisbon), {"model": "claude-haiku-4-5"})
    assert model.status_code == 200
    assert model.json()["conversation"]["model"] == "claude-haiku-4-5"
    assert kept() == ("claude-haiku-4-5", "", 1024, ["END"])
    system = client.post(settings_url(lisbon), {"system_prompt": "Answer in Portuguese."})
    assert system.status_code == 200
    assert kept() == ("claude-haiku-4-5", "Answer in Portuguese.", 1024, ["END"])
    unknown = client.post(settings_url(lisbon), {"model": "claude-imaginary-9"})
    assert unknown.status_code == 400 and "model" in unknown.json()["errors"]
    assert kept() == ("claude-haiku-4-5", "Answer in Portuguese.", 1024, ["END"])


def test_max_tokens_above_the_models_own_limit_is_a_form_error(client, owner, trips):
    lisbon, _, _ = trips
    cap_max_tokens(1_000_000)
    client.force_login(owner)
    refused = client.post(settings_url(lisbon), {"max_tokens": "64001"})
    assert refused.status_code == 400
    assert refused.json()["errors"]["max_tokens"] == [
        "Claude Sonnet 5 writes at most 64,000 tokens per reply."
    ]
    lisbon.refresh_from_db()
    assert lisbon.max_tokens == 1024
    assert client.post(settings_url(lisbon), {"max_tokens": "64000"}).status_code == 200
    lisbon.refresh_from_db()
    assert lisbon.max_tokens == 64_000


def test_export_json_holds_every_branch_and_markdown_the_active_one(client, owner, trips):
    lisbon, _, _ = trips
    question, answer = lisbon.messages.order_by("id")
    other = Message.objects.create(
        conversation=lisbon,
        parent=question,
        role="assistant",
        content=[{"type": "text", "text": "Another answer"}],
        search_text="Another answer",
    )
    client.force_login(owner)
    url = reverse("chat:export", args=[lisbon.pk])
    as_json = client.get(url, {"format": "json"})
    assert as_json.status_code == 200
    assert "attachment" in as_json["Content-Disposition"]
    data = json.loads(as_json.content)
    assert [m["id"] for m in data["messages"]] == [question.pk, answer.pk, other.pk]
    for message in data["messages"]:
        for key in ("role", "content", "parent_id", "model", "usage", "cost", "created_at"):
            assert key in message
    assert data["messages"][2]["parent_id"] == question.pk
    assert data["active_branch"] == [question.pk, answer.pk]

    markdown = client.get(url, {"format": "md"})
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    assert "# Trip to Lisbon" in text and "sardines in Alfama" in text
    assert "Another answer" not in text
    assert client.get(url, {"format": "pdf"}).status_code == 400


def test_deleting_keeps_what_it_cost(client, owner, trips):
    lisbon, _, _ = trips
    reply = lisbon.messages.get(role="assistant")
    record = usage_reserve(
        user=owner,
        model="claude-sonnet-5",
        max_tokens=100,
        input_tokens_at_most=100,
        conversation_id=lisbon.pk,
        message_id=reply.pk,
    )
    usage_settle(record=record, usage={"input_tokens": 10, "output_tokens": 5}, status="complete")
    cost = UsageRecord.objects.get().cost
    client.force_login(owner)
    response = client.post(reverse("chat:delete", args=[lisbon.pk]), HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True, "redirect": reverse("chat:index")}
    assert not Conversation.objects.filter(pk=lisbon.pk).exists()
    kept = UsageRecord.objects.get()
    assert kept.cost == cost and kept.user == owner


def test_deleting_leaves_the_usage_reports_totals_as_they_were(client, staff, owner, trips):
    lisbon, _, _ = trips
    reply = lisbon.messages.get(role="assistant")
    record = usage_reserve(
        user=owner,
        model="claude-sonnet-5",
        max_tokens=100,
        input_tokens_at_most=100,
        conversation_id=lisbon.pk,
        message_id=reply.pk,
    )
    usage_settle(record=record, usage={"input_tokens": 10, "output_tokens": 5}, status="complete")
    report = reverse("admin:usage_usagerecord_report")

    def totals() -> tuple[dict, dict, dict]:
        everyone = client.get(report).context["summary"]
        owners = client.get(report, {"user": owner.pk}).context["summary"]
        by_model = {line.model: line.sums.as_row() for line in everyone.by_model}
        return everyone.totals.as_row(), owners.totals.as_row(), by_model

    client.force_login(staff)
    before = totals()
    assert before[0]["requests"] == 1 and before[0]["cost"] > 0  # the reply is counted
    assert before[1] == before[0]
    client.force_login(owner)
    assert client.post(reverse("chat:delete", args=[lisbon.pk])).status_code == 302
    assert not Conversation.objects.filter(pk=lisbon.pk).exists()
    client.force_login(staff)
    assert totals() == before


async def test_a_reply_streaming_as_its_conversation_is_deleted_is_still_costed(
    fake_api, sockets, owner, async_client
):
    fake_api.enqueue({"kind": "reply", "tokens": 200, "token_delay": 0.01})
    tab = await sockets(owner)
    await tab.send_json_to(user_message("Write a long story"))
    frames = await receive_until(tab, "content_block_delta")
    conversation_id, reply_id = frames[-1]["conversation_id"], frames[-1]["message_id"]
    record = await UsageRecord.objects.aget(message_id=reply_id)
    assert record.status == UsageRecord.Status.RESERVED

    await async_client.aforce_login(owner)
    deleted = await async_client.post(reverse("chat:delete", args=[conversation_id]))
    assert deleted.status_code == 302
    assert not await Conversation.objects.filter(pk=conversation_id).aexists()
    await hub.wait_idle()

    # Settled at what the API counted, no longer held against the budget; kept as a call
    # outside any conversation (usage_conversation_deleted), still the owner's.
    (kept,) = [r async for r in UsageRecord.objects.all()]
    assert kept.pk == record.pk
    assert kept.status == UsageRecord.Status.COMPLETE and kept.settled_at is not None
    assert kept.output_tokens == 200 and kept.cost > 0
    assert kept.user_id == owner.pk
    assert (kept.conversation_id, kept.message_id) == (None, None)


def test_feedback_is_one_per_user_and_reply_and_can_change(client, owner, stranger, trips):
    lisbon, _, theirs = trips
    reply = lisbon.messages.get(role="assistant")
    url = reverse("chat:feedback", args=[reply.pk])
    client.force_login(owner)
    down = client.post(url, {"rating": "down", "comment": "Too touristy."})
    assert down.json() == {"ok": True, "feedback": {"rating": "down", "comment": "Too touristy."}}
    assert client.post(url, {"rating": "up"}).json()["feedback"]["rating"] == "up"
    assert Feedback.objects.get().rating == "up"
    page = client.get(reverse("chat:messages", args=[lisbon.pk])).json()
    assert page["messages"][1]["feedback"] == {"rating": "up", "comment": ""}
    assert client.post(url, {"rating": "meh"}).status_code == 400
    question = lisbon.messages.get(role="user")
    question_url = reverse("chat:feedback", args=[question.pk])
    assert client.post(question_url, {"rating": "up"}).status_code == 404
    their_reply = theirs.messages.get(role="assistant")
    their_url = reverse("chat:feedback", args=[their_reply.pk])
    assert client.post(their_url, {"rating": "down"}).status_code == 404
    assert client.post(url, {"rating": ""}).json() == {"ok": True, "feedback": None}
    assert not Feedback.objects.exists()


def test_others_conversations_are_404_everywhere(client, stranger, trips):
    lisbon, _, _ = trips
    client.force_login(stranger)
    for url in (
        reverse("chat:export", args=[lisbon.pk]) + "?format=json",
        reverse("chat:messages", args=[lisbon.pk]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(settings_url(lisbon), {"title": "mine"}).status_code == 404
    assert client.post(reverse("chat:delete", args=[lisbon.pk])).status_code == 404
    lisbon.refresh_from_db()
    assert lisbon.title == "Trip to Lisbon"


def test_a_search_that_matches_nothing_finds_nothing(client, owner, trips):
    client.force_login(owner)
    assert search(client, "nothing like this at all").json() == {"results": []}


def test_renaming_or_pinning_does_not_move_a_conversation_up(client, owner, trips):
    lisbon, _, _ = trips
    before = Conversation.objects.get(pk=lisbon.pk).updated_at
    client.force_login(owner)
    client.post(settings_url(lisbon), {"title": "Lisbon food", "pinned": "true"})
    lisbon.refresh_from_db()
    assert lisbon.updated_at == before
    assert (lisbon.title, lisbon.pinned, lisbon.title_set_by_user) == ("Lisbon food", True, True)


def test_the_page_holds_the_first_page_of_the_list_and_the_next_cursor(client, owner, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    for n in range(3):
        conversation_with(owner, f"c{n}", "hi")
    client.force_login(owner)
    page = client.get(reverse("chat:index"))
    assert [c.title for c in page.context["conversations"]] == ["c2", "c1"]
    cursor = page.context["chat_data"]["conversations_next"]
    rest = client.get(reverse("chat:conversations"), {"after": cursor})
    assert [c["title"] for c in rest.json()["conversations"]] == ["c0"]
