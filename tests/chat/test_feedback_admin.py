"""Feedback for staff: the ratings list, filtered, and the thumbs-down share per model in
the usage report."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from chatapp.chat.models import Conversation, Feedback, Message

REPORT = reverse("admin:usage_usagerecord_report")


def rated(owner, model: str, rating: str, comment: str = "") -> Feedback:
    conversation = Conversation.objects.create(owner=owner, model=model, max_tokens=10)
    question = Message.objects.create(conversation=conversation, role="user")
    reply = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", model=model
    )
    return Feedback.objects.create(message=reply, user=owner, rating=rating, comment=comment)


def test_staff_list_ratings_by_rating_and_model(client, staff, owner, stranger):
    rated(owner, "claude-sonnet-5", "down", "Wrong capital.")
    rated(stranger, "claude-sonnet-5", "up")
    rated(owner, "claude-haiku-4-5", "down", "Too short.")
    url = reverse("admin:chat_feedback_changelist")
    client.force_login(owner)
    assert client.get(url).status_code == 302  # staff only
    client.force_login(staff)
    downs = client.get(url, {"rating__exact": "down"})
    assert {f.comment for f in downs.context["cl"].result_list} == {"Wrong capital.", "Too short."}
    sonnet = client.get(url, {"message__model": "claude-sonnet-5", "rating__exact": "down"})
    assert [f.comment for f in sonnet.context["cl"].result_list] == ["Wrong capital."]
    mine = client.get(url, {"user__id__exact": owner.pk})
    assert len(mine.context["cl"].result_list) == 2


def test_staff_filter_ratings_by_date(client, staff, owner, stranger):
    rated(owner, "claude-sonnet-5", "down", "Today's.")
    old = rated(stranger, "claude-sonnet-5", "down", "Last month's.")
    month_ago = timezone.now() - dt.timedelta(days=30)
    Feedback.objects.filter(pk=old.pk).update(created_at=month_ago)
    url = reverse("admin:chat_feedback_changelist")
    client.force_login(staff)
    everything = client.get(url)
    assert len(everything.context["cl"].result_list) == 2

    def comments_under(choice: str) -> set[str]:
        """The comments listed after clicking `choice` in the created_at filter."""
        cl = everything.context["cl"]
        (dates,) = [spec for spec in cl.filter_specs if spec.field_path == "created_at"]
        (link,) = [c["query_string"] for c in dates.choices(cl) if c["display"] == choice]
        return {f.comment for f in client.get(url + link).context["cl"].result_list}

    assert comments_under("Today") == {"Today's."}
    assert comments_under("Past 7 days") == {"Today's."}
    assert comments_under("Any date") == {"Today's.", "Last month's."}
    # The date hierarchy's drill-down: the older one's day.
    day = timezone.localtime(month_ago)
    that_day = client.get(
        url,
        {"created_at__year": day.year, "created_at__month": day.month, "created_at__day": day.day},
    )
    assert [f.comment for f in that_day.context["cl"].result_list] == ["Last month's."]


def test_the_report_shows_the_thumbs_down_share_per_model(client, staff, owner, stranger):
    from tests.usage.test_report import spend

    spend(owner, model="claude-sonnet-5")
    rated(owner, "claude-sonnet-5", "down")
    rated(stranger, "claude-sonnet-5", "up")
    rated(owner, "claude-sonnet-5", "up")
    rated(stranger, "claude-sonnet-5", "up")
    client.force_login(staff)
    lines = {line.model: line for line in client.get(REPORT).context["summary"].by_model}
    assert lines["claude-sonnet-5"].ratings == (1, 4)
    assert lines["claude-sonnet-5"].thumbs_down == "25.0% of 4"
    html = client.get(REPORT).content.decode()
    assert "thumbs down" in html and "25.0% of 4" in html
    # Drilled down to the owner: only their ratings.
    owners = client.get(REPORT, {"user": owner.pk}).context["summary"].by_model
    assert owners[0].ratings == (1, 2)
