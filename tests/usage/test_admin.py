"""The usage app's admin pages: prices keep their history, the policy is one row, budgets
show this month's spend, the ledger and the upstream rate limits are read-only."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from chatapp.usage.models import (
    ModelPrice,
    UpstreamRateLimit,
    UsagePolicy,
    UsageRecord,
    UserBudget,
)
from chatapp.usage.services import price_for

from .test_report import UNPRICED, spend


@pytest.fixture(autouse=True)
def no_rate_limit(db):
    policy = UsagePolicy.current()
    policy.requests_per_minute = 0
    policy.save()


def price_form(price: ModelPrice, **changes) -> dict:
    data = {
        "model": price.model,
        "effective_from": price.effective_from,
        "input_per_mtok": price.input_per_mtok,
        "output_per_mtok": price.output_per_mtok,
        "cache_write_5m_per_mtok": price.cache_write_5m_per_mtok,
        "cache_write_1h_per_mtok": price.cache_write_1h_per_mtok,
        "cache_read_per_mtok": price.cache_read_per_mtok,
        "web_search_per_1k": price.web_search_per_1k,
        "batch_multiplier": price.batch_multiplier,
    }
    data.update(changes)
    return {key: str(value) for key, value in data.items()}


@pytest.fixture
def used_price(owner) -> ModelPrice:
    record = spend(owner, model="claude-sonnet-5")
    return record.price


def test_a_price_calls_were_costed_with_cannot_be_edited(client, staff, used_price):
    client.force_login(staff)
    url = reverse("admin:usage_modelprice_change", args=[used_price.pk])
    response = client.post(url, price_form(used_price, input_per_mtok="4"))
    assert response.status_code == 200  # the form again, with the error
    html = response.content.decode()
    assert "cannot be changed" in html
    assert "add a new price row for it with a later" in html
    used_price.refresh_from_db()
    assert used_price.input_per_mtok == Decimal("3")


def test_a_price_nobody_used_yet_can_be_corrected(client, staff):
    unused = ModelPrice.objects.get(model="claude-haiku-4-5")
    client.force_login(staff)
    url = reverse("admin:usage_modelprice_change", args=[unused.pk])
    response = client.post(url, price_form(unused, output_per_mtok="5.5"))
    assert response.status_code == 302
    unused.refresh_from_db()
    assert unused.output_per_mtok == Decimal("5.5")


def test_a_price_in_use_cannot_be_deleted(client, staff, used_price):
    client.force_login(staff)
    url = reverse("admin:usage_modelprice_delete", args=[used_price.pk])
    page = client.get(url).content.decode()
    assert "has costed 1 calls and is kept with them" in page
    client.post(url, {"post": "yes"})
    assert ModelPrice.objects.filter(pk=used_price.pk).exists()

    # Nor through the list's bulk delete action.
    changelist = reverse("admin:usage_modelprice_changelist")
    response = client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [used_price.pk], "post": "yes"},
    )
    assert "is kept with them" in response.content.decode()
    assert ModelPrice.objects.filter(pk=used_price.pk).exists()


def test_an_unused_price_can_be_deleted(client, staff):
    unused = ModelPrice.objects.get(model="claude-haiku-4-5")
    client.force_login(staff)
    client.post(reverse("admin:usage_modelprice_delete", args=[unused.pk]), {"post": "yes"})
    assert not ModelPrice.objects.filter(pk=unused.pk).exists()


def test_a_new_price_with_a_later_date_replaces_it_for_new_calls_only(
    client, staff, owner, used_price
):
    client.force_login(staff)
    today = timezone.localdate()
    response = client.post(
        reverse("admin:usage_modelprice_add"),
        price_form(used_price, effective_from=today, input_per_mtok="4"),
    )
    assert response.status_code == 302
    new_price = ModelPrice.objects.get(model="claude-sonnet-5", effective_from=today)
    assert price_for("claude-sonnet-5") == new_price
    old_record = UsageRecord.objects.get()
    assert old_record.price == used_price  # what was costed keeps its row
    assert spend(owner).price == new_price

    listing = client.get(reverse("admin:usage_modelprice_changelist")).context["cl"]
    rows = [(p.model, p.effective_from, p.in_use) for p in listing.result_list]
    assert ("claude-sonnet-5", today, True) in rows
    assert ("claude-sonnet-5", used_price.effective_from, True) in rows
    assert ("claude-haiku-4-5", used_price.effective_from, False) in rows


def test_the_add_price_link_of_an_unpriced_model_fills_in_the_model(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:usage_modelprice_add"), {"model": UNPRICED})
    assert response.context["adminform"].form.initial["model"] == UNPRICED


def test_the_usage_policy_is_one_row_never_added_or_deleted(client, staff):
    client.force_login(staff)
    policy = UsagePolicy.current()
    response = client.get(reverse("admin:usage_usagepolicy_changelist"))
    assert response.status_code == 302
    assert response.url == reverse("admin:usage_usagepolicy_change", args=[policy.pk])
    assert client.get(reverse("admin:usage_usagepolicy_add")).status_code == 403
    delete = reverse("admin:usage_usagepolicy_delete", args=[policy.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403

    response = client.post(
        reverse("admin:usage_usagepolicy_change", args=[policy.pk]),
        {
            "default_monthly_budget_usd": "25.00",
            "max_tokens_cap": "4096",
            "requests_per_minute": "5",
        },
    )
    assert response.status_code == 302
    assert UsagePolicy.objects.count() == 1
    assert UsagePolicy.current().default_monthly_budget_usd == Decimal("25.00")


def test_budgets_list_this_months_settled_spend(client, staff, owner, stranger):
    this_month = spend(owner, input_tokens=10_000, output_tokens=1000)
    spend(owner, when=timezone.now() - dt.timedelta(days=40), input_tokens=999_999)
    spend(stranger, model=UNPRICED)
    UserBudget.objects.update_or_create(user=owner, defaults={"monthly_limit_usd": Decimal("20")})
    UserBudget.objects.update_or_create(user=stranger, defaults={"monthly_limit_usd": None})
    client.force_login(staff)
    response = client.get(reverse("admin:usage_userbudget_changelist"))
    rows = {b.user.username: b for b in response.context["cl"].result_list}
    assert rows["owner"].month_cost == this_month.cost
    html = response.content.decode()
    assert "$20.00" in html and "site default" in html
    assert f"${this_month.cost:,.4f}" in html
    assert rows["stranger"].month_unpriced == 1 and "1 (no price)" in html
    form = client.get(reverse("admin:usage_userbudget_add")).context["adminform"].form
    assert "autocomplete" in str(form["user"])


def test_the_ledger_is_read_only_searchable_and_filterable(client, staff, owner, stranger):
    mine = spend(owner)
    theirs = spend(stranger, model=UNPRICED)
    client.force_login(staff)
    changelist = reverse("admin:usage_usagerecord_changelist")

    def listed(**params):
        return [r.pk for r in client.get(changelist, params).context["cl"].result_list]

    assert listed(q="stranger") == [theirs.pk]
    assert listed(q=mine.request_id) == [mine.pk]
    assert listed(model=UNPRICED) == [theirs.pk]
    assert listed(purpose="chat", status="complete") == [theirs.pk, mine.pk]
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert set(listed(created_at__gte=str(midnight))) == {mine.pk, theirs.pk}
    assert listed(created_at__gte=str(midnight + dt.timedelta(days=1))) == []
    html = client.get(changelist).content.decode()
    assert reverse("admin:usage_usagerecord_report") in html  # the link to the report
    assert "no price" in html

    assert client.get(reverse("admin:usage_usagerecord_add")).status_code == 403
    change = reverse("admin:usage_usagerecord_change", args=[mine.pk])
    assert client.get(change).status_code == 200  # viewable
    client.post(change, {"input_tokens": "1"})
    mine.refresh_from_db()
    assert mine.input_tokens == 1200
    delete = reverse("admin:usage_usagerecord_delete", args=[mine.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_upstream_rate_limits_are_shown_as_a_table(client, staff):
    observed = timezone.now()
    limits = UpstreamRateLimit.objects.create(
        headers={
            "anthropic-ratelimit-tokens-remaining": "79000",
            "anthropic-ratelimit-requests-limit": "50",
        },
        observed_at=observed,
    )
    client.force_login(staff)
    html = client.get(reverse("admin:usage_upstreamratelimit_change", args=[limits.pk]))
    html = html.content.decode()
    assert "<td>anthropic-ratelimit-tokens-remaining</td><td>79000</td>" in html
    assert "<td>anthropic-ratelimit-requests-limit</td><td>50</td>" in html
    assert client.get(reverse("admin:usage_upstreamratelimit_add")).status_code == 403


def test_non_staff_cannot_open_the_usage_admin(client, owner):
    client.force_login(owner)
    for name in ("modelprice", "usagepolicy", "userbudget", "usagerecord", "upstreamratelimit"):
        response = client.get(reverse(f"admin:usage_{name}_changelist"))
        assert response.status_code == 302 and "/admin/login/" in response.url
