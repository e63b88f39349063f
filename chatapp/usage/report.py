"""The admin usage report: its date range, its figures and its main table, the same rows
for the page and for the CSV export. The queries are in selectors.py; the view that shows
this is UsageRecordAdmin.report_view."""

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django import forms
from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.http import urlencode

from chatapp.spreadsheet import safe_row

from . import selectors, subjects
from .pricing import LEDGER_FIELDS, TOKEN_FIELDS, TOKEN_LABELS, TokenUsage
from .selectors import Latency, Scope
from .subjects import message_link

ZERO = Decimal(0)
PAGE_SIZE = 50
DEFAULT_RANGE = "30d"
MAX_DAYS = 366  # a custom range's longest: the chart has a bar per day
RANGES = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "custom": "Custom",
}
# The server tools' requests the report shows, after the columns it had before them (a
# CSV's columns keep their places). Web fetches cost only their tokens: the ledger counts
# them, the report does not show them.
REQUEST_LABELS = {"web_search_requests": "web searches"}
NO_PRICE = "no price"


# --- the range --------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days in the site's time zone, `end` included."""

    key: str
    start: dt.date
    end: dt.date

    @property
    def start_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))

    @property
    def end_at(self) -> dt.datetime:
        """The first moment after the period."""
        return timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(1), dt.time.min))

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(n) for n in range((self.end - self.start).days + 1)]

    @property
    def label(self) -> str:
        if self.start == self.end:
            return f"{RANGES[self.key]} ({self.start:%Y-%m-%d})"
        return f"{RANGES[self.key]} ({self.start:%Y-%m-%d} to {self.end:%Y-%m-%d})"

    @property
    def slug(self) -> str:
        return f"{self.key}_{self.start:%Y-%m-%d}_{self.end:%Y-%m-%d}"

    def query(self) -> dict:
        """The GET parameters that choose this period again."""
        if self.key == "custom":
            return {
                "range": "custom",
                "start": f"{self.start:%Y-%m-%d}",
                "end": f"{self.end:%Y-%m-%d}",
            }
        return {"range": self.key}

    @classmethod
    def named(cls, key: str, today: dt.date) -> "Period":
        if key == "today":
            return cls(key, today, today)
        if key == "7d":
            return cls(key, today - dt.timedelta(6), today)
        if key == "30d":
            return cls(key, today - dt.timedelta(29), today)
        if key == "month":
            return cls(key, today.replace(day=1), today)
        raise ValueError(key)


class PeriodForm(forms.Form):
    range = forms.ChoiceField(choices=list(RANGES.items()), required=False)
    start = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("range") == "custom" and not self.errors:
            start, end = data.get("start"), data.get("end")
            if start is None or end is None:
                raise forms.ValidationError("A custom range needs a start date and an end date.")
            if start > end:
                raise forms.ValidationError(
                    f"The start date ({start:%Y-%m-%d}) is after the end date ({end:%Y-%m-%d})."
                )
            if (end - start).days >= MAX_DAYS:
                raise forms.ValidationError(f"A range can be at most {MAX_DAYS} days long.")
        return data

    def period(self) -> Period:
        """The chosen period; call after is_valid()."""
        key = self.cleaned_data.get("range") or DEFAULT_RANGE
        if key == "custom":
            return Period(key, self.cleaned_data["start"], self.cleaned_data["end"])
        return Period.named(key, timezone.localdate())


# --- sums -------------------------------------------------------------------------------


@dataclass
class Sums(TokenUsage):
    """Calls, tokens of each kind, server tools' requests, cost of the priced calls (web
    searches included), calls without a price."""

    requests: int = 0
    cost: Decimal = ZERO
    unpriced_requests: int = 0
    cache_savings: Decimal = ZERO
    batch_requests: int = 0
    batch_cost: Decimal = ZERO

    def add(self, row: dict) -> None:
        self.requests += row["requests"]
        for name in LEDGER_FIELDS:
            setattr(self, name, getattr(self, name) + row[name])
        self.cost += row["cost"]
        self.unpriced_requests += row["unpriced_requests"]
        self.cache_savings += row.get("cache_savings", ZERO)
        self.batch_requests += row.get("batch_requests", 0)
        self.batch_cost += row.get("batch_cost", ZERO)

    @property
    def cache_hit_ratio(self) -> float | None:
        """Cache reads over all input (uncached + cache writes + cache reads)."""
        total = self.total_input_tokens
        return self.cache_read_input_tokens / total if total else None

    def as_row(self) -> dict:
        return asdict(self)

    @property
    def cells(self) -> list["Cell"]:
        return sum_cells(self.as_row())

    @property
    def shown_cost(self) -> Decimal | None:
        return shown_cost(self.as_row())


@dataclass
class ModelLine:
    model: str
    sums: Sums
    latency: Latency | None
    # (thumbs down, all ratings) of the model's replies.
    ratings: tuple[int, int] = (0, 0)

    @property
    def thumbs_down(self) -> str:
        down, rated = self.ratings
        return f"{percent(down / rated)} of {rated}" if rated else "—"

    @property
    def median(self) -> str:
        return milliseconds(self.latency.median_ms if self.latency else None)

    @property
    def p95(self) -> str:
        return milliseconds(self.latency.p95_ms if self.latency else None)

    @property
    def hit_ratio(self) -> str:
        return percent(self.sums.cache_hit_ratio)


@dataclass
class Summary:
    totals: Sums
    by_model: list[ModelLine]
    by_day: list[tuple[dt.date, Sums]]
    unpriced_models: list[tuple[str, int]]
    chart: dict

    @property
    def total_items(self) -> list[tuple[str, "Cell"]]:
        """The totals panel: label and value."""
        totals = self.totals
        return [
            *zip(SUM_COLUMNS, totals.cells, strict=True),
            ("cache hit ratio", Cell(percent(totals.cache_hit_ratio), "", numeric=True)),
            ("saved by caching", Cell(money(totals.cache_savings), "", numeric=True)),
        ]

    @property
    def by_kind(self) -> list[tuple[str, int, "Cell"]]:
        """Chat (replies and titles) and batch jobs (the Batch API, at its price), told
        apart: each one's calls and the cost of its priced calls."""
        totals = self.totals
        return [
            (
                "Chat: replies and titles",
                totals.requests - totals.batch_requests,
                cost_cell(totals.cost - totals.batch_cost),
            ),
            ("Batch jobs, at the batch price", totals.batch_requests, cost_cell(totals.batch_cost)),
        ]

    @classmethod
    def from_rows(
        cls,
        rows: list[dict],
        latency: dict[str, Latency],
        days,
        ratings: dict[str, tuple[int, int]] | None = None,
    ) -> "Summary":
        ratings = ratings or {}
        totals = Sums()
        by_model: dict[str, Sums] = {}
        by_day = {day: Sums() for day in days}
        cost_by_model_day: dict[str, dict[dt.date, Decimal]] = {}
        for row in rows:
            totals.add(row)
            by_model.setdefault(row["model"], Sums()).add(row)
            by_day.setdefault(row["day"], Sums()).add(row)
            per_day = cost_by_model_day.setdefault(row["model"], {})
            per_day[row["day"]] = per_day.get(row["day"], ZERO) + row["cost"]
        models = sorted(by_model, key=lambda m: (-by_model[m].cost, -by_model[m].requests, m))
        chart = {
            "labels": [f"{day:%Y-%m-%d}" for day in by_day],
            "datasets": [
                {
                    "label": model,
                    "data": [float(cost_by_model_day.get(model, {}).get(day, 0)) for day in by_day],
                }
                for model in models
                if by_model[model].shown_cost is not None
            ],
        }
        return cls(
            totals=totals,
            by_model=[
                ModelLine(m, by_model[m], latency.get(m), ratings.get(m, (0, 0))) for m in models
            ],
            by_day=list(by_day.items()),
            unpriced_models=[
                (m, by_model[m].unpriced_requests)
                for m in sorted(by_model)
                if by_model[m].unpriced_requests
            ],
            chart=chart,
        )


def summary(*, period: Period, scope: Scope) -> Summary:
    """Three queries: the sums by day and model, the latency percentiles, and the
    replies' ratings."""
    if scope.one_conversation:
        rows = selectors.conversation_usage_by_day_and_model(
            scope=scope, start_at=period.start_at, end_at=period.end_at
        )
    else:
        rows = selectors.usage_by_day_and_model(
            start=period.start, end=period.end, user_id=scope.user_id
        )
    latency = selectors.time_to_first_token_by_model(
        scope=scope, start_at=period.start_at, end_at=period.end_at
    )
    ratings = {}
    if not (scope.one_conversation and scope.conversation_id is None):  # replies all have one
        ratings = subjects.ratings_by_model(
            start_at=period.start_at,
            end_at=period.end_at,
            user_id=scope.user_id,
            conversation_id=scope.conversation_id,
        )
    return Summary.from_rows(rows, latency, period.days, ratings)


# --- formatting -------------------------------------------------------------------------


def money(amount: Decimal | None) -> str:
    """$1,234.5678 on the page; "no price" when the cost is unknown."""
    if amount is None:
        return NO_PRICE
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.4f}"


def exact(amount: Decimal | None) -> str:
    """The exact Decimal for the CSV, never in exponent notation."""
    return NO_PRICE if amount is None else f"{amount:f}"


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1%}"


def milliseconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


# --- the main table ---------------------------------------------------------------------


@dataclass(slots=True)
class Cell:
    text: str  # what the page shows
    value: str  # what the CSV holds
    href: str = ""
    numeric: bool = False
    flagged: bool = False  # a cost that is not counted


def text_cell(text: str, href: str = "") -> Cell:
    return Cell(text, text, href)


def int_cell(value: int | None, *, flagged: bool = False) -> Cell:
    if value is None:
        return Cell("—", "", numeric=True)
    return Cell(f"{value:,}", str(value), numeric=True, flagged=flagged)


def cost_cell(cost: Decimal | None) -> Cell:
    return Cell(money(cost), exact(cost), numeric=True, flagged=cost is None)


SUM_COLUMNS = [
    "requests",
    *TOKEN_LABELS.values(),
    "cost",
    "calls without a price",
    *REQUEST_LABELS.values(),
]


def shown_cost(row: dict) -> Decimal | None:
    """The cost of a group of calls, or None when none of them had a price: never a $0
    that means "unknown"."""
    if row["requests"] and row["unpriced_requests"] == row["requests"]:
        return None
    return row["cost"]


def sum_cells(row: dict) -> list[Cell]:
    """requests, the tokens, cost ("no price" when none of the calls had one), the calls
    without a price, and the web searches."""
    return [
        int_cell(row["requests"]),
        *(int_cell(row[name]) for name in TOKEN_FIELDS),
        cost_cell(shown_cost(row)),
        int_cell(row["unpriced_requests"], flagged=row["unpriced_requests"] > 0),
        *(int_cell(row[name]) for name in REQUEST_LABELS),
    ]


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    row_count: int  # rows of all pages
    empty: str = "Nothing in this range."

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(safe_row(self.columns))
        writer.writerows(safe_row(cell.value for cell in row) for row in self.rows)
        return out.getvalue()


Link = Callable[..., str]  # link(user=..., conversation=...) -> URL of a report page


def page_link(base: str, period: Period, **params) -> str:
    """The URL of a report page: `base` (the report's URL) with the period and `params`."""
    query = period.query()
    query.update({key: value for key, value in params.items() if value is not None})
    return f"{base}?{urlencode(query)}"


def no_link(**params) -> str:
    return ""


def user_table(rows: list[dict], row_count: int, link: Link) -> Table:
    cells = []
    for row in rows:
        if row["user_id"] is None:
            who = text_cell("(deleted users)")
        else:
            who = text_cell(row["user__username"], link(user=row["user_id"]))
        cells.append([who, *sum_cells(row)])
    return Table("Users, by cost", ["user", *SUM_COLUMNS], cells, row_count)


def conversation_table(rows: list[dict], row_count: int, link: Link, user_id: int) -> Table:
    cells = []
    for row in rows:
        conversation_id = row["conversation_id"]
        if conversation_id is None:
            name = text_cell("(no conversation)", link(user=user_id, conversation="none"))
        else:
            name = text_cell(
                str(row["conversation"]), link(user=user_id, conversation=conversation_id)
            )
        # The id too: titles repeat, ids do not.
        cells.append([name, int_cell(conversation_id), *sum_cells(row)])
    return Table("Conversations, by cost", ["conversation", "id", *SUM_COLUMNS], cells, row_count)


LEDGER_TABLE_COLUMNS = [
    "time",
    "message",
    "purpose",
    "model",
    "status",
    *TOKEN_LABELS.values(),
    "cost",
    "time to first token ms",
    "duration ms",
    "request id",
    *REQUEST_LABELS.values(),
]


def ledger_table(rows: list[dict], row_count: int) -> Table:
    cells = []
    for row in rows:
        created = timezone.localtime(row["created_at"])
        message_id = row["message_id"]
        purpose = row["purpose"]
        if row["is_batch"] and purpose != "batch":
            purpose += " (batch)"
        cells.append(
            [
                Cell(f"{created:%Y-%m-%d %H:%M:%S}", created.isoformat()),
                Cell(
                    f"#{message_id}" if message_id else "—",
                    str(message_id or ""),
                    message_link(message_id) if message_id else "",
                ),
                text_cell(purpose),
                text_cell(row["model"]),
                text_cell(row["status"]),
                *(int_cell(row[name]) for name in TOKEN_FIELDS),
                cost_cell(row["cost"]),
                int_cell(row["time_to_first_token_ms"]),
                int_cell(row["duration_ms"]),
                text_cell(row["request_id"]),
                *(int_cell(row[name]) for name in REQUEST_LABELS),
            ]
        )
    return Table("Calls, oldest first", LEDGER_TABLE_COLUMNS, cells, row_count)


MAX_PAGE = 1_000_000


def main_table(*, period: Period, scope: Scope, link: Link, page: int | None = None) -> Table:
    """The table of the report's level: users, a user's conversations, or a conversation's
    calls; one page of it (`page` from 1), or all of it (`page` None, for the CSV). One
    query."""
    offset, limit = (0, None) if page is None else ((page - 1) * PAGE_SIZE, PAGE_SIZE)
    if scope.one_conversation:
        rows, count = selectors.conversation_ledger(
            scope=scope, start_at=period.start_at, end_at=period.end_at, offset=offset, limit=limit
        )
        return ledger_table(rows, count)
    if scope.user_id is not None:
        rows, count = selectors.usage_by_conversation(
            user_id=scope.user_id,
            start_at=period.start_at,
            end_at=period.end_at,
            offset=offset,
            limit=limit,
        )
        return conversation_table(rows, count, link, scope.user_id)
    rows, count = selectors.usage_by_user(
        start=period.start, end=period.end, offset=offset, limit=limit
    )
    return user_table(rows, count, link)


@dataclass
class Pages:
    number: int
    count: int
    first_url: str
    out_of_range: bool  # a page after the last one: no rows, and no count to tell
    links: list[tuple[int | str, str]] = field(default_factory=list)  # (label, url or "")

    @classmethod
    def of(cls, table: Table, number: int, link: Callable[[int], str]) -> "Pages":
        paginator = Paginator(range(table.row_count), PAGE_SIZE)
        out_of_range = number > 1 and not table.rows
        pages = cls(number, paginator.num_pages, link(1), out_of_range)
        if not out_of_range and paginator.num_pages > 1:
            for label in paginator.get_elided_page_range(number, on_each_side=2, on_ends=1):
                if label == paginator.ELLIPSIS or label == number:
                    pages.links.append((label, ""))
                else:
                    pages.links.append((label, link(label)))
        return pages
