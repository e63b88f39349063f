"""The usage policy and the prices are read on every call and kept in memory for a few
seconds: a change made in the admin applies at once, and one made by another server
process within USAGE_SETTINGS_CACHE_SECONDS."""

import datetime as dt
import time
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from chatapp.usage.models import ModelPrice, UsagePolicy
from chatapp.usage.services import price_for, usage_policy


def test_a_price_added_in_the_admin_applies_to_the_next_call(admin_client):
    before = price_for("claude-sonnet-5")  # now kept by this process
    today = timezone.localdate()
    response = admin_client.post(
        reverse("admin:usage_modelprice_add"),
        {
            "model": "claude-sonnet-5",
            "effective_from": today.isoformat(),
            "input_per_mtok": "4",
            "output_per_mtok": "20",
            "cache_write_5m_per_mtok": "5",
            "cache_write_1h_per_mtok": "8",
            "cache_read_per_mtok": "0.4",
            "web_search_per_1k": "10",
            "batch_multiplier": "0.5",
        },
    )
    assert response.status_code == 302
    after = price_for("claude-sonnet-5")
    assert after != before and after.input_per_mtok == Decimal("4")


def test_a_policy_changed_in_the_admin_applies_at_once(admin_client):
    assert usage_policy().max_tokens_cap == 8192
    policy = UsagePolicy.current()
    response = admin_client.post(
        reverse("admin:usage_usagepolicy_change", args=[policy.pk]),
        {
            "default_monthly_budget_usd": "12.50",
            "max_tokens_cap": "100",
            "requests_per_minute": "5",
        },
    )
    assert response.status_code == 302
    assert usage_policy().max_tokens_cap == 100
    assert usage_policy().default_monthly_budget_usd == Decimal("12.50")


def test_a_change_made_by_another_process_is_seen_within_the_cache_time(db, settings):
    settings.USAGE_SETTINGS_CACHE_SECONDS = 0.2
    assert price_for("claude-haiku-4-5").output_per_mtok == Decimal("5")
    # Another process's write: no signal reaches this one.
    ModelPrice.objects.filter(model="claude-haiku-4-5").update(output_per_mtok=Decimal("6"))
    time.sleep(0.25)
    assert price_for("claude-haiku-4-5").output_per_mtok == Decimal("6")


def test_with_no_cache_time_every_call_reads_the_database(db, settings):
    settings.USAGE_SETTINGS_CACHE_SECONDS = 0
    usage_policy()
    UsagePolicy.objects.update(max_tokens_cap=77)
    assert usage_policy().max_tokens_cap == 77


def test_prices_of_past_days_do_not_pile_up_in_memory(db, settings, monkeypatch):
    from chatapp.usage import services

    monkeypatch.setattr(services, "_SETTINGS_CACHE_SIZE", 5)
    settings.USAGE_SETTINGS_CACHE_SECONDS = 0.05
    for days_ago in range(20):  # a server up for weeks asks for each day's prices
        price_for("claude-sonnet-5", timezone.now() - dt.timedelta(days=days_ago))
        time.sleep(0.06)
    assert len(services._settings_cache) <= 5
