"""Read queries for the admin's usage pages. Sums over days, users and models come from
UsageDaily (thousands of rows for millions of calls); the ledger (UsageRecord) is read only
where UsageDaily cannot answer: latency percentiles, and a user's calls by conversation
and by message. Every list that can grow with the number of users is read one page at a
time, its row count carried along by a window function in the same query."""

import bisect
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .models import (
    MONEY,
    UpstreamRateLimit,
    UsageDaily,
    UsageRecord,
)
from .pricing import LEDGER_FIELDS
from .subjects import ConversationLabel, conversation_labels

ZERO = Decimal(0)
PER_TOKEN = Decimal("0.000001")  # rates are per million tokens; multiplying keeps it exact


def _money(expression) -> Coalesce:
    return Coalesce(expression, Value(ZERO), output_field=DecimalField(**MONEY))


def _token_sums() -> dict:
    """The tokens of each kind and the server tools' requests."""
    return {name: Coalesce(Sum(name), 0) for name in LEDGER_FIELDS}


def _daily_sums() -> dict:
    """What a group of UsageDaily rows adds up to."""
    return {
        "requests": Coalesce(Sum("requests"), 0),
        **_token_sums(),
        "cost": _money(Sum("cost")),
        "unpriced_requests": Coalesce(Sum("unpriced_requests"), 0),
        "batch_requests": Coalesce(Sum("batch_requests"), 0),
        "batch_cost": _money(Sum("batch_cost")),
    }


def _record_sums(**first) -> dict:
    """The same sums over ledger rows (a call without a price has a null cost). The sums
    take the names of the fields they add up, and an expression that names a field after
    its sum was annotated would read the sum: `first` (and the filter on `cost`) go first."""
    return {
        **first,
        "batch_requests": Count("id", filter=Q(is_batch=True)),
        "batch_cost": _money(Sum("cost", filter=Q(is_batch=True))),
        "unpriced_requests": Count("id", filter=Q(cost__isnull=True)),
        "requests": Count("id"),
        **_token_sums(),
        "cost": _money(Sum("cost")),
    }


# services._add_to_daily / pricing.cache_savings, per ledger row, in SQL: what the cache reads
# saved against the full input price, less the cache writes' premium (0 without a price).
_RECORD_CACHE_SAVINGS = ExpressionWrapper(
    (
        F("cache_read_input_tokens")
        * (F("price__input_per_mtok") - F("price__cache_read_per_mtok"))
        - F("cache_write_5m_tokens")
        * (F("price__cache_write_5m_per_mtok") - F("price__input_per_mtok"))
        - F("cache_write_1h_tokens")
        * (F("price__cache_write_1h_per_mtok") - F("price__input_per_mtok"))
    )
    * Value(PER_TOKEN),
    output_field=DecimalField(**MONEY),
)


def _page(queryset: QuerySet, *, offset: int, limit: int | None) -> tuple[list[dict], int]:
    """One page of a values() queryset and the number of rows of all pages, in one query."""
    rows = list(
        queryset.annotate(row_count=Window(Count("*")))[
            offset : offset + limit if limit is not None else None
        ]
    )
    total = rows[0].pop("row_count") if rows else 0
    for row in rows[1:]:
        del row["row_count"]
    return rows, total


@dataclass(frozen=True)
class Scope:
    """Whose calls a query covers: everyone's, one user's, or one user's calls in one
    conversation (`conversation_id` None: the user's calls outside any conversation)."""

    user_id: int | None = None
    one_conversation: bool = False
    conversation_id: int | None = None

    def of_records(self, records: QuerySet[UsageRecord]) -> QuerySet[UsageRecord]:
        if self.user_id is not None:
            records = records.filter(user_id=self.user_id)
            if self.one_conversation:
                records = records.filter(conversation_id=self.conversation_id)
        return records


def _settled_between(
    start_at: dt.datetime, end_at: dt.datetime, scope: Scope
) -> QuerySet[UsageRecord]:
    """The scope's calls made in [start_at, end_at) and settled: what UsageDaily counts."""
    return scope.of_records(
        UsageRecord.objects.filter(
            created_at__gte=start_at, created_at__lt=end_at, settled_at__isnull=False
        )
    )


# --- sums by day and model (totals, per-model table, per-day chart) --------------------


def usage_by_day_and_model(
    *, start: dt.date, end: dt.date, user_id: int | None = None
) -> list[dict]:
    """UsageDaily summed per (day, model) over [start, end], for everyone or one user:
    at most (days x models) rows, from which the report derives its totals too."""
    rows = UsageDaily.objects.filter(day__gte=start, day__lte=end)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return list(
        rows.values("day", "model")
        .annotate(**_daily_sums(), cache_savings=_money(Sum("cache_savings")))
        .order_by("day", "model")
    )


def conversation_usage_by_day_and_model(
    *, scope: Scope, start_at: dt.datetime, end_at: dt.datetime
) -> list[dict]:
    """The same sums for one conversation of a user, from the ledger (UsageDaily does not
    know conversations); `day` in the site's time zone, as in UsageDaily."""
    day = TruncDate("created_at", tzinfo=timezone.get_current_timezone())
    return list(
        _settled_between(start_at, end_at, scope)
        .annotate(day=day)
        .values("day", "model")
        .annotate(**_record_sums(cache_savings=_money(Sum(_RECORD_CACHE_SAVINGS))))
        .order_by("day", "model")
    )


# --- the report's main table, one page at a time ----------------------------------------


def usage_by_user(
    *, start: dt.date, end: dt.date, offset: int = 0, limit: int | None = None
) -> tuple[list[dict], int]:
    """Users by cost over [start, end] (highest first), one page, and how many users; then
    the usernames of that page. Grouping by user id alone lets PostgreSQL hash-aggregate
    in parallel; joining the users before grouping made it sort every daily row."""
    days = UsageDaily.objects.filter(day__gte=start, day__lte=end)
    rows, count = _page(
        days.values("user_id").annotate(**_daily_sums()).order_by("-cost", "-requests", "user_id"),
        offset=offset,
        limit=limit,
    )
    # All pages (the CSV): the users as a subquery, not thousands of parameters.
    ids = days.values("user_id") if limit is None else [row["user_id"] for row in rows]
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for row in rows:
        row["user__username"] = names.get(row["user_id"])
    return rows, count


def usage_by_conversation(
    *,
    user_id: int,
    start_at: dt.datetime,
    end_at: dt.datetime,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[dict], int]:
    """A user's conversations by cost over [start_at, end_at), one page, and how many."""
    rows = (
        _settled_between(start_at, end_at, Scope(user_id=user_id))
        .values("conversation_id")
        .annotate(**_record_sums())
        .order_by("-cost", "-requests", "conversation_id")
    )
    rows, count = _page(rows, offset=offset, limit=limit)
    labels = conversation_labels(user_id=user_id, ids=(row["conversation_id"] for row in rows))
    for row in rows:
        row["conversation"] = labels.get(row["conversation_id"])
    return rows, count


LEDGER_COLUMNS = (
    "id",
    "created_at",
    "message_id",
    "purpose",
    "is_batch",
    "model",
    "status",
    *LEDGER_FIELDS,
    "cost",
    "time_to_first_token_ms",
    "duration_ms",
    "request_id",
)


def conversation_ledger(
    *,
    scope: Scope,
    start_at: dt.datetime,
    end_at: dt.datetime,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[dict], int]:
    """A conversation's calls (one per message, title or batch result), oldest first."""
    rows = (
        _settled_between(start_at, end_at, scope)
        .values(*LEDGER_COLUMNS)
        .order_by("created_at", "id")
    )
    return _page(rows, offset=offset, limit=limit)


# --- latency ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    model: str
    calls: int
    median_ms: float | None
    p95_ms: float | None


def percentile_of_counts(values: list[int], cumulative: list[int], fraction: float) -> float:
    """PostgreSQL's percentile_cont over a sorted multiset given as distinct `values` and
    the running count of rows up to each: linear interpolation between the two rows
    around position fraction * (n - 1)."""
    rows = cumulative[-1]
    position = fraction * (rows - 1)
    below = math.floor(position)
    above = min(below + 1, rows - 1)
    # The value of the row at 0-based rank r is the first whose running count exceeds r.
    low = values[bisect.bisect_right(cumulative, below)]
    high = values[bisect.bisect_right(cumulative, above)]
    return low + (high - low) * (position - below)


def time_to_first_token_by_model(
    *, scope: Scope, start_at: dt.datetime, end_at: dt.datetime
) -> dict[str, Latency]:
    """Median and p95 time to first token per model over the settled calls that have one,
    exactly as percentile_cont computes them, in one query on every database: the query
    counts the calls per (model, milliseconds), a few thousand rows whatever the number
    of calls, and the interpolation runs over those counts. On PostgreSQL this groups with
    a parallel hash aggregate, where percentile_cont itself had to sort every call of the
    range (docs/performance.md has the figures)."""
    counts = (
        _settled_between(start_at, end_at, scope)
        .filter(time_to_first_token_ms__isnull=False)
        .values_list("model", "time_to_first_token_ms")
        .annotate(calls=Count("id"))
        .order_by("model", "time_to_first_token_ms")
    )
    latencies = {}
    for model, group in groupby(counts, key=lambda row: row[0]):
        values, cumulative, running = [], [], 0
        for _, ms, calls in group:
            running += calls
            values.append(ms)
            cumulative.append(running)
        latencies[model] = Latency(
            model,
            running,
            percentile_of_counts(values, cumulative, 0.5),
            percentile_of_counts(values, cumulative, 0.95),
        )
    return latencies


# --- single rows and small look-ups -----------------------------------------------------


def records_by_message(message_ids: list[int]) -> dict[int, UsageRecord]:
    """The ledger rows of these messages, by message id (one query)."""
    if not message_ids:
        return {}
    records = UsageRecord.objects.filter(message_id__in=message_ids).only(
        "id", "message_id", "status", "cost"
    )
    return {record.message_id: record for record in records}


def reserved_record_of(message_id: int) -> UsageRecord | None:
    """The ledger row still held for a message's call, with its price, if any: what an
    interrupted reply is settled on."""
    return (
        UsageRecord.objects.select_related("price")
        .filter(message_id=message_id, status=UsageRecord.Status.RESERVED)
        .first()
    )


def upstream_rate_limit() -> UpstreamRateLimit | None:
    return UpstreamRateLimit.objects.order_by("pk").first()


def user_get(*, user_id: int):
    return get_user_model().objects.filter(pk=user_id).only("id", "username").first()


def conversation_of_user(*, user_id: int, conversation_id: int) -> ConversationLabel | None:
    """A conversation of the user's, or one since deleted that their calls were made in."""
    label = conversation_labels(user_id=user_id, ids=[conversation_id])[conversation_id]
    if (
        label.exists
        or UsageRecord.objects.filter(user_id=user_id, conversation_id=conversation_id).exists()
    ):
        return label
    return None


def unpriced_models_since(*, day: dt.date) -> list[dict]:
    """Models whose calls since `day` had no price (their costs are not counted), with the
    number of such calls and whether the model has a price today."""
    from .services import price_for  # the services read the selectors' models only

    rows = list(
        UsageDaily.objects.filter(day__gte=day, unpriced_requests__gt=0)
        .values("model")
        .annotate(calls=Sum("unpriced_requests"))
        .order_by("model")
    )
    for row in rows:  # a few models at most; a snapshot is priced by its alias's row too
        row["priced_now"] = price_for(row["model"]) is not None
    return rows


def price_use_counts(price_ids) -> dict[int, int]:
    """How many ledger rows were costed with each of these price rows (rows not used are
    left out)."""
    return dict(
        UsageRecord.objects.filter(price_id__in=list(price_ids))
        .values("price_id")
        .annotate(n=Count("id"))
        .values_list("price_id", "n")
    )


def price_in_use() -> Exists:
    """An annotation: has any ledger row been costed with this price row?"""
    return Exists(UsageRecord.objects.filter(price_id=OuterRef("pk")))


def month_spend(*, since: dt.date) -> dict[str, Subquery]:
    """Annotations for a queryset with a `user` field: that user's settled spend and
    calls without a price since `since`, from UsageDaily."""
    per_user = UsageDaily.objects.filter(user_id=OuterRef("user_id"), day__gte=since).values(
        "user_id"
    )
    return {
        "month_cost": Subquery(
            per_user.annotate(total=Sum("cost")).values("total"),
            output_field=DecimalField(**MONEY),
        ),
        "month_unpriced": Subquery(
            per_user.annotate(total=Sum("unpriced_requests")).values("total")
        ),
    }
