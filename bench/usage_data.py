"""Fills the configured database with a realistic ledger for the usage report benchmark:
N settled calls from U users over the last D days (conversations, one assistant message
per chat call, title and batch calls, a model without a price), and the UsageDaily rows
that sum them, computed here in Python exactly as usage_settle would.

    createdb: psql -h 127.0.0.1 -U root -d postgres -c 'CREATE DATABASE chat_usage_bench'
    export DATABASE_URL=postgres://root@127.0.0.1:5432/chat_usage_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/usage_data.py --records 1000000 --users 10000

For a dedicated database only: --reset empties the ledger, the daily roll-up and all
conversations, and deletes the bench users. Rows go in with bulk_create in batches (no
COPY); on PostgreSQL the tables are VACUUM ANALYZEd at the end, as autovacuum would.
"""

import argparse
import bisect
import datetime as dt
import os
import random
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from chatapp.chat.models import Conversation, Message  # noqa: E402
from chatapp.usage.models import (  # noqa: E402
    MONEY_PLACES,
    TOKEN_FIELDS,
    ModelPrice,
    UsageDaily,
    UsageRecord,
    UserBudget,
)
from chatapp.usage.pricing import TokenUsage, cache_savings, cost_of  # noqa: E402

USER_PREFIX = "bench-user-"
UNPRICED_MODEL = "claude-preview-unpriced"
# (model, share of calls); the last one has no price row.
MODELS = [
    ("claude-sonnet-5", 0.55),
    ("claude-haiku-4-5", 0.25),
    ("claude-opus-4-8", 0.14),
    ("claude-fable-5", 0.05),
    (UNPRICED_MODEL, 0.01),
]
ZERO = Decimal(0)


@contextmanager
def explicit_timestamps():
    """Lets bulk_create keep the generated created_at / updated_at instead of now()."""
    fields = [
        UsageRecord._meta.get_field("created_at"),
        Message._meta.get_field("created_at"),
        Conversation._meta.get_field("created_at"),
        Conversation._meta.get_field("updated_at"),
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def reset() -> None:
    User = get_user_model()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "TRUNCATE usage_usagerecord, usage_usagedaily, chat_message, chat_conversation"
            )
        else:
            for table in (
                "usage_usagerecord",
                "usage_usagedaily",
                "chat_message",
                "chat_conversation",
            ):
                cursor.execute(f"DELETE FROM {table}")
    UserBudget.objects.filter(user__username__startswith=USER_PREFIX).delete()
    User.objects.filter(username__startswith=USER_PREFIX)._raw_delete(connection.alias)


def tokens_of(rng: random.Random) -> TokenUsage:
    cached = rng.random() < 0.6
    writes = rng.random() < 0.2
    return TokenUsage(
        input_tokens=rng.randint(20, 4000),
        output_tokens=int(rng.lognormvariate(5.5, 1.0)) + 1,
        cache_write_5m_tokens=rng.randint(1000, 20_000) if writes and rng.random() < 0.7 else 0,
        cache_write_1h_tokens=rng.randint(1000, 20_000) if writes and rng.random() < 0.3 else 0,
        cache_read_input_tokens=rng.randint(2000, 80_000) if cached else 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--conversations-per-user", type=int, default=8)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--reset", action="store_true", help="empty the tables first")
    args = parser.parse_args()

    if args.reset:
        reset()
    elif UsageRecord.objects.exists():
        raise SystemExit("The ledger is not empty: use a fresh database, or --reset.")

    rng = random.Random(args.seed)
    started = time.perf_counter()
    now = timezone.now()
    first = now - dt.timedelta(days=args.days)
    span = (now - first).total_seconds()
    # Each model's price rows by date: a call is costed with the row in force that day.
    price_rows: dict[str, list[ModelPrice]] = {}
    for price in ModelPrice.objects.order_by("model", "effective_from"):
        price_rows.setdefault(price.model, []).append(price)

    price_dates = {model: [p.effective_from for p in rows] for model, rows in price_rows.items()}

    def price_on(model: str, day: dt.date) -> ModelPrice | None:
        at = bisect.bisect_right(price_dates.get(model, []), day)
        return price_rows[model][at - 1] if at else None

    models = [m for m, _ in MODELS]
    weights = [w for _, w in MODELS]

    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"{USER_PREFIX}{n:05d}", password="!") for n in range(args.users)],
        batch_size=args.batch,
    )
    if users[0].pk is None:  # a backend that does not return ids
        users = list(User.objects.filter(username__startswith=USER_PREFIX).order_by("username"))
    # Some users spend far more than others.
    user_weights = [1 / (rank + 1) ** 0.7 for rank in range(len(users))]

    with explicit_timestamps():
        conversations = []
        for user in users:
            for n in range(args.conversations_per_user):
                at = first + dt.timedelta(seconds=rng.random() * span)
                conversations.append(
                    Conversation(
                        owner_id=user.pk,
                        title=f"Bench conversation {n + 1}",
                        model="claude-sonnet-5",
                        max_tokens=4096,
                        created_at=at,
                        updated_at=at,
                    )
                )
        Conversation.objects.bulk_create(conversations, batch_size=args.batch)
        if conversations[0].pk is None:
            conversations = list(Conversation.objects.order_by("id"))
        by_owner: dict[int, list[int]] = {}
        for conversation in conversations:
            by_owner.setdefault(conversation.owner_id, []).append(conversation.pk)
        print(
            f"{len(users):,} users, {len(conversations):,} conversations "
            f"({time.perf_counter() - started:.1f} s)",
            flush=True,
        )

        # The ledger is append-only: calls go in in the order they were made, as in a real
        # database (which keeps the table's pages in time order, as range scans expect).
        offsets = sorted(rng.random() * span for _ in range(args.records))
        daily: dict[tuple, dict] = {}
        written = 0
        while written < args.records:
            size = min(args.batch, args.records - written)
            picked_users = rng.choices(users, weights=user_weights, k=size)
            picked_models = rng.choices(models, weights=weights, k=size)
            calls = []
            for n, (user, model) in enumerate(zip(picked_users, picked_models, strict=True)):
                at = first + dt.timedelta(seconds=offsets[written + n])
                # A tenth of the calls are outside any conversation (a deleted one's).
                in_chat = rng.random() >= 0.10
                conversation_id = rng.choice(by_owner[user.pk]) if in_chat else None
                calls.append((user, model, at, conversation_id))
            messages = [
                Message(
                    conversation_id=conversation_id,
                    role="assistant",
                    content=[{"type": "text", "text": "…"}],
                    model=model,
                    created_at=at,
                    completed_at=at,
                )
                for user, model, at, conversation_id in calls
                if conversation_id is not None
            ]
            records = []
            with transaction.atomic():
                Message.objects.bulk_create(messages)
                message_ids = iter(m.pk for m in messages)
                for user, model, at, conversation_id in calls:
                    tokens = tokens_of(rng)
                    local_day = timezone.localdate(at)
                    price = price_on(model, local_day)
                    cost = cost_of(tokens, price.prices).quantize(MONEY_PLACES) if price else None
                    savings = (
                        cache_savings(tokens, price.prices).quantize(MONEY_PLACES)
                        if price
                        else ZERO
                    )
                    ttft = int(rng.lognormvariate(6.5, 0.5))
                    duration = ttft + rng.randint(200, 30_000)
                    status = "complete" if rng.random() < 0.97 else rng.choice(["stopped", "error"])
                    records.append(
                        UsageRecord(
                            user_id=user.pk,
                            conversation_id=conversation_id,
                            message_id=next(message_ids) if conversation_id else None,
                            model=model,
                            status=status,
                            reserved_cost=cost or ZERO,
                            cost=cost,
                            price=price,
                            request_id=f"req_bench_{written + len(records):09d}",
                            time_to_first_token_ms=ttft,
                            duration_ms=duration,
                            created_at=at,
                            settled_at=at + dt.timedelta(milliseconds=duration),
                            **{name: getattr(tokens, name) for name in TOKEN_FIELDS},
                        )
                    )
                    key = (local_day, user.pk, model)
                    day = daily.get(key)
                    if day is None:
                        day = daily[key] = {
                            "requests": 0,
                            "cost": ZERO,
                            "unpriced_requests": 0,
                            "cache_savings": ZERO,
                            **dict.fromkeys(TOKEN_FIELDS, 0),
                        }
                    day["requests"] += 1
                    day["cost"] += cost or ZERO
                    day["unpriced_requests"] += cost is None
                    day["cache_savings"] += savings
                    for name in TOKEN_FIELDS:
                        day[name] += getattr(tokens, name)
                UsageRecord.objects.bulk_create(records)
            written += size
            if written % (args.batch * 20) == 0 or written == args.records:
                elapsed = time.perf_counter() - started
                print(f"{written:,} records ({elapsed:.1f} s)", flush=True)

    rows = [
        UsageDaily(day=day, user_id=user_id, model=model, **sums)
        for (day, user_id, model), sums in daily.items()
    ]
    for start in range(0, len(rows), args.batch):
        with transaction.atomic():
            UsageDaily.objects.bulk_create(rows[start : start + args.batch])
    loaded = time.perf_counter() - started
    print(f"{len(rows):,} UsageDaily rows ({loaded:.1f} s)", flush=True)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in (
                "usage_usagerecord",
                "usage_usagedaily",
                "chat_message",
                "chat_conversation",
                "auth_user",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
    total = time.perf_counter() - started
    print(
        f"done: {args.records:,} records from {args.users:,} users over {args.days} days, "
        f"{len(rows):,} daily rows: loaded in {loaded:.1f} s "
        f"({args.records / loaded:,.0f} records/s), {total:.1f} s with VACUUM ANALYZE"
    )


if __name__ == "__main__":
    main()
