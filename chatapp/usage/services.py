"""Recording what calls cost, and refusing the ones a user may not make. Every upstream
call that can cost money goes through `usage_reserve` before it is made and `usage_settle`
once it has ended: the one road into the ledger, whatever made the call."""

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from chatapp import sql
from chatapp.errors import AppError

from .models import (
    MONEY_PLACES,
    ModelPrice,
    UpstreamRateLimit,
    UsageDaily,
    UsagePolicy,
    UsageRecord,
    UserBudget,
)
from .pricing import (
    LEDGER_FIELDS,
    TOKEN_FIELDS,
    TokenUsage,
    cache_savings,
    cost_of,
    most_it_can_cost,
)

ZERO = Decimal(0)


class UsageRefused(AppError):
    """A call the user may not make now."""


# The policy and the prices are read by every call and change a few times a year, so each
# process keeps what it read for USAGE_SETTINGS_CACHE_SECONDS. A change saved or deleted in
# this process (the admin's) clears its copy at once and again when it commits (signals,
# apps.py); the other processes see it within those seconds.
_settings_cache: dict = {}
_settings_generation = [0]
_SETTINGS_CACHE_SIZE = 256


def _cached(key, load):
    now = time.monotonic()
    hit = _settings_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    generation = _settings_generation[0]
    value = load()
    # Not kept if a change came in while it was being read: it may predate the change.
    if settings.USAGE_SETTINGS_CACHE_SECONDS > 0 and generation == _settings_generation[0]:
        if len(_settings_cache) >= _SETTINGS_CACHE_SIZE:  # past days' prices: drop the stale
            for stale in [k for k, (ends, _) in list(_settings_cache.items()) if ends <= now]:
                _settings_cache.pop(stale, None)
        _settings_cache[key] = (now + settings.USAGE_SETTINGS_CACHE_SECONDS, value)
    return value


def usage_settings_changed(**kwargs) -> None:
    """Forgets the policy and prices this process keeps (a signal receiver)."""
    _settings_generation[0] += 1
    _settings_cache.clear()
    if kwargs.get("signal") is not None:  # and again once the change is visible to all
        transaction.on_commit(usage_settings_changed, using=kwargs.get("using"))


def usage_policy() -> UsagePolicy:
    """The site's usage policy (read-only: the admin edits its own copy)."""
    return _cached("policy", UsagePolicy.current)


_SNAPSHOT = re.compile(r"^(?P<alias>.+)-(?P<date>\d{8})$")


def model_alias(model: str) -> str:
    """A dated snapshot's alias (`claude-haiku-4-5-20251001` → `claude-haiku-4-5`); an
    alias or any other id is its own."""
    match = _SNAPSHOT.match(model)
    return match["alias"] if match else model


def price_for(model: str, when: dt.datetime | None = None) -> ModelPrice | None:
    """The price of a model on a day: its own row, else its alias's (a price entered for
    `claude-haiku-4-5` covers every snapshot of it)."""
    day = timezone.localdate(when or timezone.now())

    def load():
        names = list(dict.fromkeys((model, model_alias(model))))
        rows = ModelPrice.objects.filter(model__in=names, effective_from__lte=day).order_by(
            "-effective_from"
        )
        by_name = {}
        for row in rows:
            by_name.setdefault(row.model, row)
        return next((by_name[name] for name in names if name in by_name), None)

    return _cached(("price", model, day), load)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def monthly_limit(user, policy: UsagePolicy) -> Decimal | None:
    budget = UserBudget.objects.filter(user=user).first()
    if budget is not None and budget.monthly_limit_usd is not None:
        return budget.monthly_limit_usd
    return policy.default_monthly_budget_usd


@dataclass(frozen=True)
class MonthToDate:
    tokens: int
    cost: Decimal
    limit: Decimal | None
    unpriced_calls: int

    def to_dict(self) -> dict:
        return {
            "tokens": self.tokens,
            "cost": str(self.cost.quantize(Decimal("0.000001"))),
            "limit": str(self.limit) if self.limit is not None else None,
            "unpriced_calls": self.unpriced_calls,
        }


def month_to_date(*, user) -> MonthToDate:
    """This month's settled calls (from the daily roll-up) and open reservations."""
    settled = UsageDaily.objects.filter(user=user, day__gte=month_start().date()).aggregate(
        cost=Coalesce(Sum("cost"), ZERO, output_field=DecimalField()),
        unpriced=Coalesce(Sum("unpriced_requests"), 0),
        **{name: Coalesce(Sum(name), 0) for name in TOKEN_FIELDS},
    )
    reserved = UsageRecord.objects.filter(user=user, status=UsageRecord.Status.RESERVED).aggregate(
        held=Coalesce(Sum("reserved_cost"), ZERO, output_field=DecimalField())
    )
    return MonthToDate(
        tokens=sum(settled[name] for name in TOKEN_FIELDS),
        cost=settled["cost"] + reserved["held"],
        limit=monthly_limit(user, usage_policy()),
        unpriced_calls=settled["unpriced"],
    )


def _locked_limit(user, policy: UsagePolicy) -> Decimal | None:
    """The user's monthly limit, their budget row locked until the transaction ends: one
    user's reservations are checked one after the other."""
    limits = sql.select_for_update(UserBudget, "monthly_limit_usd", user=user.pk)
    if not limits:  # the user's first call: make the row that serialises their calls
        UserBudget.objects.bulk_create([UserBudget(user=user)], ignore_conflicts=True)
        limits = sql.select_for_update(UserBudget, "monthly_limit_usd", user=user.pk)
    limit = limits[0]
    return policy.default_monthly_budget_usd if limit is None else limit


def usage_reserve(
    *,
    user,
    model: str,
    max_tokens: int,
    input_tokens_at_most: int,
    conversation_id: int | None = None,
    message_id: int | None = None,
    purpose: str = UsageRecord.Purpose.CHAT,
    policy: UsagePolicy | None = None,
    web_searches_at_most: int = 0,
    input_tokens_exact: Callable[[Decimal, Decimal], int | None] | None = None,
) -> UsageRecord:
    """Checks the user's rate limit and budget and holds the call's worst-case cost: its
    tokens, and `web_searches_at_most` web searches (the web search tool's `max_uses`).
    Must run inside the transaction that stores the request: the user's budget row is
    locked, so concurrent calls of one user are checked one after the other.

    `input_tokens_exact(worst, remaining)`: for a user with a budget, called with the
    bound's worst case and what the budget has left; it may answer the exact input size
    (a count the caller makes only when the two come close), which is then held instead
    of `input_tokens_at_most`. Without a budget it is never called."""
    now = timezone.now()
    policy = policy or usage_policy()
    limit = _locked_limit(user, policy)

    if policy.requests_per_minute:
        # Replies and titles; a batch job's many calls are not started by a person waiting.
        recent = UsageRecord.objects.filter(
            user=user, created_at__gt=now - dt.timedelta(minutes=1), is_batch=False
        ).count()
        if recent >= policy.requests_per_minute:
            raise UsageRefused(
                "rate_limited",
                f"You can start {policy.requests_per_minute} replies a minute; "
                "wait a moment and send again.",
            )

    price = price_for(model, now)

    def worst_case(input_tokens: int) -> Decimal:
        if price is None:
            return ZERO
        return most_it_can_cost(
            input_tokens_at_most=input_tokens,
            max_tokens=max_tokens,
            web_searches_at_most=web_searches_at_most,
            prices=price.prices,
        ).quantize(MONEY_PLACES, rounding=ROUND_CEILING)

    worst = worst_case(input_tokens_at_most)
    if limit is not None:
        if price is None:
            raise UsageRefused(
                "no_price",
                f"The model {model} has no price yet, so its cost cannot be held against "
                "your budget. An admin must add its price first.",
            )
        spent = month_to_date(user=user).cost
        if input_tokens_exact is not None:
            exact = input_tokens_exact(worst, limit - spent)
            if exact is not None:
                worst = worst_case(exact)
        if spent + worst > limit:
            raise UsageRefused(
                "budget_exceeded",
                f"This reply could cost up to ${worst:.4f}, and you have used "
                f"${spent:.4f} of your ${limit:.2f} monthly budget. Ask an admin to "
                "raise it, or wait for next month.",
            )
    return sql.insert(
        UsageRecord(
            user=user,
            conversation_id=conversation_id,
            message_id=message_id,
            model=model,
            purpose=purpose,
            reserved_cost=worst,
            price=price,
        )
    )


@dataclass
class BatchReservation:
    """A batch job's calls, held against the budget together: each call's worst case, in
    the order the calls were given. The ledger rows are written by `write`, a chunk at a
    time, in the transaction that checked the budget (its lock is held until it ends)."""

    user_id: int
    model: str
    price: ModelPrice | None
    costs: list[Decimal]
    written: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.costs, ZERO)

    def write(self, count: int) -> list[int]:
        """The ledger rows of the next `count` calls, reserved (purpose `batch`): their ids,
        in order."""
        records = [
            UsageRecord(
                user_id=self.user_id,
                model=self.model,
                purpose=UsageRecord.Purpose.BATCH,
                is_batch=True,
                reserved_cost=cost,
                price=self.price,
            )
            for cost in self.costs[self.written : self.written + count]
        ]
        if len(records) != count:
            raise ValueError(f"{count} calls asked for, {len(records)} left to write")
        UsageRecord.objects.bulk_create(records)
        self.written += count
        return [record.pk for record in records]


def usage_reserve_batch(
    *,
    user,
    model: str,
    max_tokens: int,
    input_tokens_at_most: list[int],
    policy: UsagePolicy | None = None,
) -> BatchReservation:
    """Checks that a batch job's worst case fits the user's budget: each call's tokens at
    the dearest rates and the batch price. Refuses the whole job otherwise (nothing is
    written); the rate limit, made for replies people wait for, does not apply. Must run
    inside the transaction that stores the job, which then writes the rows."""
    policy = policy or usage_policy()
    limit = _locked_limit(user, policy)
    price = price_for(model)
    costs = [ZERO] * len(input_tokens_at_most)
    if price is not None:
        costs = [
            most_it_can_cost(
                input_tokens_at_most=tokens,
                max_tokens=max_tokens,
                prices=price.prices,
                batch=True,
            ).quantize(MONEY_PLACES, rounding=ROUND_CEILING)
            for tokens in input_tokens_at_most
        ]
    reservation = BatchReservation(user_id=user.pk, model=model, price=price, costs=costs)
    if limit is not None:
        if price is None:
            raise UsageRefused(
                "no_price",
                f"The model {model} has no price yet, so this job's cost cannot be held "
                "against your budget. An admin must add its price first.",
            )
        spent = month_to_date(user=user).cost
        worst = reservation.total
        if spent + worst > limit:
            raise UsageRefused(
                "budget_exceeded",
                f"This job could cost up to ${worst:.4f} ({len(costs):,} requests at the "
                f"batch price), and you have used ${spent:.4f} of your ${limit:.2f} "
                "monthly budget. Send fewer rows or a lower max_tokens, ask an admin to "
                "raise the budget, or wait for next month.",
            )
    return reservation


_SETTLED_FIELDS = (
    "model",
    "price",
    "status",
    *LEDGER_FIELDS,
    "cost",
    "request_id",
    "time_to_first_token_ms",
    "duration_ms",
    "settled_at",
)


def usage_settle(
    *,
    record: UsageRecord,
    usage: dict,
    cache_creation: dict | None = None,
    status: str,
    served_model: str = "",
    request_id: str = "",
    time_to_first_token_ms: int | None = None,
    duration_ms: int | None = None,
) -> UsageRecord:
    """Records what the call used and costs, once, with the price row it was costed at.
    `usage` is the API's usage block: its tokens, and its `server_tool_use` (web searches,
    priced on top of the tokens, and web fetches, counted)."""
    tokens = _settle_record(
        record,
        usage=usage,
        cache_creation=cache_creation,
        status=status,
        served_model=served_model,
        request_id=request_id,
        time_to_first_token_ms=time_to_first_token_ms,
        duration_ms=duration_ms,
    )
    key, amounts = _daily_amounts(record, tokens)
    sql.insert_or_add(UsageDaily, key=key, amounts=amounts)
    return record


@dataclass(frozen=True)
class Settlement:
    """One call's end, for `usage_settle_many`: as `usage_settle`'s arguments."""

    record: UsageRecord
    usage: dict
    status: str
    served_model: str = ""
    request_id: str = ""


def usage_settle_many(settlements: list[Settlement]) -> None:
    """Settles many calls at once (a chunk of a batch's results), each exactly as
    `usage_settle` does, with one upsert per daily row they add to instead of one per call.
    In the caller's transaction."""
    daily: dict[tuple, dict] = {}
    for settlement in settlements:
        tokens = _settle_record(
            settlement.record,
            usage=settlement.usage,
            status=settlement.status,
            served_model=settlement.served_model,
            request_id=settlement.request_id,
        )
        key, amounts = _daily_amounts(settlement.record, tokens)
        summed = daily.setdefault(tuple(key.items()), dict.fromkeys(amounts, 0))
        for name, amount in amounts.items():
            summed[name] += amount
    for key, amounts in daily.items():
        sql.insert_or_add(UsageDaily, key=dict(key), amounts=amounts)


def _settle_record(
    record: UsageRecord,
    *,
    usage: dict,
    status: str,
    cache_creation: dict | None = None,
    served_model: str = "",
    request_id: str = "",
    time_to_first_token_ms: int | None = None,
    duration_ms: int | None = None,
) -> TokenUsage:
    tokens = TokenUsage.from_api(usage, cache_creation)
    if served_model and served_model != record.model:
        record.model = served_model
        record.price = price_for(served_model, record.created_at)
    record.status = status
    for name in LEDGER_FIELDS:
        setattr(record, name, getattr(tokens, name))
    record.cost = (
        cost_of(tokens, record.price.prices, batch=record.is_batch).quantize(MONEY_PLACES)
        if record.price
        else None
    )
    record.request_id = request_id
    record.time_to_first_token_ms = time_to_first_token_ms
    record.duration_ms = duration_ms
    record.settled_at = timezone.now()
    sql.update(record, _SETTLED_FIELDS)
    return tokens


def _daily_amounts(record: UsageRecord, tokens: TokenUsage) -> tuple[dict, dict]:
    """What a settled call adds to its day's row (in the caller's transaction, one upsert).
    A call of a deleted user (user NULL) gets a row of its own, as NULLs never conflict;
    the sums stay exact."""
    savings = (
        cache_savings(tokens, record.price.prices).quantize(MONEY_PLACES) if record.price else ZERO
    )
    key = {
        "day": timezone.localdate(record.created_at),
        "user": record.user_id,
        "model": record.model,
    }
    amounts = {
        "requests": 1,
        **{name: getattr(tokens, name) for name in LEDGER_FIELDS},
        "cost": record.cost or ZERO,
        "unpriced_requests": 1 if record.cost is None else 0,
        "cache_savings": savings,
        "batch_requests": 1 if record.is_batch else 0,
        "batch_cost": (record.cost or ZERO) if record.is_batch else ZERO,
    }
    return key, amounts


def usage_conversation_deleted(*, conversation_id: int) -> None:
    """A deleted conversation's calls stay in the ledger, at their cost, as calls outside
    any conversation: nothing points at what is gone."""
    UsageRecord.objects.filter(conversation_id=conversation_id).update(
        conversation_id=None, message_id=None
    )


_OBSERVED = ("headers", "observed_at")


def upstream_rate_limit_observe(headers: dict) -> None:
    """Keeps the latest upstream answer's rate-limit headers (one row, one UPDATE)."""
    if not headers:
        return
    now = timezone.now()
    # Every reply's settlement writes it: the compiled UPDATE, not the ORM's.
    if not sql.update(UpstreamRateLimit(pk=1, headers=headers, observed_at=now), _OBSERVED):
        UpstreamRateLimit.objects.update_or_create(
            pk=1, defaults={"headers": headers, "observed_at": now}
        )
