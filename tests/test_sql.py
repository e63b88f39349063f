"""The reply path's single-row writes (chatapp/sql.py) store and read exactly what the ORM
would: a conversation saved through them reads back the same, on SQLite and PostgreSQL."""

import uuid
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, signals
from django.utils import timezone

from chatapp import sql
from chatapp.chat.models import Conversation, Message
from chatapp.usage.models import UsageRecord, UserBudget


def test_insert_stores_what_save_would(owner):
    conversation = sql.insert(
        Conversation(owner=owner, title="Été ✓", model="claude-sonnet-5", max_tokens=99)
    )
    client_id = uuid.uuid4()
    message = sql.insert(
        Message(
            conversation=conversation,
            role=Message.Role.USER,
            content=[{"type": "text", "text": '<b>ünïcode</b> "quoted"'}],
            status=Message.Status.COMPLETE,
            client_id=client_id,
        )
    )
    assert message.pk and not message._state.adding
    assert conversation.created_at is not None and conversation.updated_at is not None

    stored = Message.objects.select_related("conversation").get(pk=message.pk)
    assert stored.content == [{"type": "text", "text": '<b>ünïcode</b> "quoted"'}]
    assert stored.client_id == client_id
    assert stored.created_at == message.created_at
    assert stored.conversation.title == "Été ✓" and stored.conversation.owner == owner

    record = sql.insert(
        UsageRecord(user=owner, model="claude-sonnet-5", reserved_cost=Decimal("0.123456789012345"))
    )
    assert UsageRecord.objects.get(pk=record.pk).reserved_cost == Decimal("0.123456789012345")


def test_update_writes_the_named_fields_and_tells_a_vanished_row(owner):
    conversation = sql.insert(Conversation(owner=owner, model="claude-sonnet-5", max_tokens=10))
    reply = sql.insert(Message(conversation=conversation, role=Message.Role.ASSISTANT))
    reply.status = Message.Status.COMPLETE
    reply.content = [{"type": "text", "text": "done"}]
    reply.error_message = "not written"
    assert sql.update(reply, ("status", "content")) == 1
    stored = Message.objects.get(pk=reply.pk)
    assert stored.status == "complete" and stored.content == [{"type": "text", "text": "done"}]
    assert stored.error_message == ""

    conversation.delete()
    assert sql.update(reply, ("status",)) == 0


def test_select_for_update_reads_values_as_the_orm_does(owner, stranger):
    UserBudget.objects.create(user=owner, monthly_limit_usd=Decimal("12.50"))
    UserBudget.objects.create(user=stranger)
    assert sql.select_for_update(UserBudget, "monthly_limit_usd", user=owner.pk) == [
        Decimal("12.50")
    ]
    assert sql.select_for_update(UserBudget, "monthly_limit_usd", user=stranger.pk) == [None]
    assert sql.select_for_update(UserBudget, "monthly_limit_usd", user=0) == []


def test_insert_or_add_adds_to_the_row_of_the_same_key(owner, stranger):
    from chatapp.usage.models import UsageDaily

    day = timezone.localdate()
    amounts = {"requests": 1, "input_tokens": 10, "cost": Decimal("0.000000000000001")}
    sql.insert_or_add(UsageDaily, key={"day": day, "user": owner.pk, "model": "m"}, amounts=amounts)
    sql.insert_or_add(UsageDaily, key={"day": day, "user": owner.pk, "model": "m"}, amounts=amounts)
    sql.insert_or_add(
        UsageDaily, key={"day": day, "user": stranger.pk, "model": "m"}, amounts=amounts
    )
    mine = UsageDaily.objects.get(user=owner)
    assert (mine.requests, mine.input_tokens, mine.cost) == (2, 20, Decimal("0.000000000000002"))
    assert UsageDaily.objects.get(user=stranger).requests == 1


def test_the_models_written_here_have_no_signal_receivers_nor_save_override():
    """sql.py calls no save() and sends no signal: a receiver or an override added later
    to a model it writes would be skipped silently on the reply path."""
    written = [apps.get_model(label) for label in sql.WRITTEN]
    assert {m.__name__ for m in written} == {
        "Conversation",
        "Message",
        "UsageRecord",
        "UsageDaily",
        "UpstreamRateLimit",
    }
    for model in written:
        for signal in (signals.pre_init, signals.post_init, signals.pre_save, signals.post_save):
            assert not signal.has_listeners(model), f"{signal} has receivers for {model}"
        for name in ("save", "save_base", "_do_insert", "_do_update"):
            assert getattr(model, name) is getattr(Model, name), f"{model}.{name} is overridden"


def test_a_model_not_declared_written_is_refused(owner):
    with pytest.raises(ImproperlyConfigured, match=r"sql\.WRITTEN"):
        sql.insert(UserBudget(user=owner))
