"""Usage report benchmark: renders the admin usage report through Django's test Client, as
a staff user, for each range and drill-down level (and the CSV exports, the index flags
and the ledger's admin list), N times each, and prints the median and max wall time, the
time spent in SQL and the number of queries per render. A benchmark, not a test: run it on
a database filled by bench/usage_data.py.

    export DATABASE_URL=postgres://root@127.0.0.1:5432/chat_usage_bench
    .venv/bin/python bench/usage_report.py --repeat 5
    .venv/bin/python bench/usage_report.py --explain      # EXPLAIN ANALYZE of the 30-day page
    .venv/bin/python bench/usage_report.py --explain "all users, custom 90 days"
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from chatapp.usage.models import UsageDaily, UsageRecord  # noqa: E402

REPORT = reverse("admin:usage_usagerecord_report")


def cases() -> list[tuple[str, str, dict]]:
    today = timezone.localdate()
    start = today - dt.timedelta(days=29)
    top_user = (
        UsageDaily.objects.filter(day__gte=start, user__isnull=False)
        .values("user_id")
        .annotate(cost=Sum("cost"))
        .order_by("-cost")
        .first()
    )
    if top_user is None:
        raise SystemExit("No usage in the last 30 days: fill the database with bench/usage_data.py")
    user_id = top_user["user_id"]
    midnight = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    top_conversation = (
        UsageRecord.objects.filter(
            user_id=user_id, created_at__gte=midnight, conversation_id__isnull=False
        )
        .values("conversation_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    conversation_id = top_conversation["conversation_id"]
    custom = {"range": "custom", "start": str(today - dt.timedelta(days=89)), "end": str(today)}
    return [
        ("all users, today", REPORT, {"range": "today"}),
        ("all users, 7 days", REPORT, {"range": "7d"}),
        ("all users, 30 days (default)", REPORT, {}),
        ("all users, this month", REPORT, {"range": "month"}),
        ("all users, custom 90 days", REPORT, custom),
        ("all users, 30 days, page 150", REPORT, {"page": 150}),
        ("one user, 30 days", REPORT, {"user": user_id}),
        ("one user, 90 days", REPORT, {**custom, "user": user_id}),
        ("one conversation, 30 days", REPORT, {"user": user_id, "conversation": conversation_id}),
        ("CSV: all users, 30 days", REPORT, {"format": "csv"}),
        ("CSV: all users, 90 days", REPORT, {**custom, "format": "csv"}),
        ("CSV: one user, 30 days", REPORT, {"user": user_id, "format": "csv"}),
        ("index flags (30 days)", reverse("admin:usage_usagerecord_report_flags"), {}),
        ("ledger admin list", reverse("admin:usage_usagerecord_changelist"), {}),
        ("budgets admin list", reverse("admin:usage_userbudget_changelist"), {}),
    ]


def render(client: Client, url: str, params: dict) -> tuple[float, float, int, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url, params)
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} {params}: HTTP {response.status_code}")
    sql = sum(float(q["time"]) for q in queries.captured_queries)
    return elapsed, sql, len(queries), len(response.content)


def explain(client: Client, url: str, params: dict) -> None:
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    for query in queries.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        print(f"\n-- {query['time']} s\n{sql}\n")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="renders per case (after 1 warm-up)")
    parser.add_argument(
        "--explain",
        metavar="CASE",
        nargs="?",
        const="all users, 30 days (default)",
        help="EXPLAIN ANALYZE the queries of one case (default: the 30-day page)",
    )
    args = parser.parse_args()

    User = get_user_model()
    staff, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(staff)
    print(
        f"{connection.vendor}: {UsageRecord.objects.count():,} usage records, "
        f"{UsageDaily.objects.count():,} daily rows, {User.objects.count():,} users"
    )
    if args.explain:
        chosen = [(url, params) for name, url, params in cases() if name == args.explain]
        if not chosen:
            raise SystemExit(f"No case named {args.explain!r}")
        explain(client, *chosen[0])
        return

    header = "| case | median ms | max ms | SQL ms (median) | queries | response KB |"
    print(header)
    print("|---|---|---|---|---|---|")
    for name, url, params in cases():
        render(client, url, params)  # warm-up: connection, templates, caches
        runs = [render(client, url, params) for _ in range(args.repeat)]
        walls = [wall * 1000 for wall, _, _, _ in runs]
        sqls = [sql * 1000 for _, sql, _, _ in runs]
        counts = sorted({count for _, _, count, _ in runs})
        print(
            f"| {name} | {statistics.median(walls):.0f} | {max(walls):.0f} | "
            f"{statistics.median(sqls):.0f} | {'/'.join(map(str, counts))} | "
            f"{runs[-1][3] / 1024:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
