"""Pipeline work at 100k deals: a bulk action on 10,000 selected deals, the dashboard, the board.

    .venv/bin/python bench/pipeline.py              # SQLite file under bench/results/
    .venv/bin/python bench/pipeline.py --keep-db    # keep the seeded database (else dropped)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench_pipeline \
        .venv/bin/python bench/pipeline.py

The bulk action runs three ways side by side on the same 10,000 deals: the admin's "Mark as
won" (a changelist POST with "select all" on a list filtered to those deals), the service it calls,
and a plain QuerySet.update() of the same rows and columns, the floor any implementation has to
pay. The dashboard and the board are plain admin GETs. Each line gives SQL queries and the
median wall time of --repeat runs after a warm-up; the deals are reset between runs.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIZE = {"companies": 20_000, "contacts": 100_000, "deals": 100_000, "notes": 20_000}
SELECTED = 10_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true", help="Reuse a seeded database.")
    args = parser.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{RESULTS / 'crm_bench_pipeline.sqlite3'}")
    os.environ.setdefault("DEBUG", "1")  # settings only: no secret, no HTTPS redirect
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    # Run as a script, Python puts bench/ first on sys.path: import from the project root only.
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    from bench import databases

    if not databases.exists(os.environ["DATABASE_URL"]):
        databases.create(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.test.utils import override_settings

    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        report = run(args)
    print_table(report)
    out = RESULTS / f"pipeline-{report['engine']}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    if not args.keep_db:
        from django.db import connections

        connections.close_all()
        databases.drop(os.environ["DATABASE_URL"])
    return 0


def run(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from crm_admin.models import Deal

    call_command("migrate", interactive=False, verbosity=0)
    if Deal.objects.count() < SIZE["deals"]:
        print(f"Seeding {SIZE} ...", flush=True)
        call_command("crm_seed", **SIZE, seed=1, verbosity=1)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would within a minute
    user, _created = get_user_model().objects.get_or_create(
        username="bench-pipeline", defaults={"is_staff": True, "is_superuser": True}
    )
    return {
        "engine": connection.vendor,
        "deals": Deal.objects.count(),
        "selected": SELECTED,
        "repeat": args.repeat,
        "bulk": bench_bulk_action(user, args.repeat),
        "pages": bench_pages(user, args.repeat),
    }


def measure(call, reset, repeat: int) -> dict:
    """Median milliseconds and the SQL query count of `call`, `reset` before each run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries = [], None
    for attempt in range(repeat + 1):
        reset()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            call()
            elapsed = time.perf_counter() - started
        if attempt:  # the first run warms caches
            timings.append(elapsed * 1000)
            queries = len(captured)
    return {"median_ms": round(statistics.median(timings), 1), "queries": queries}


def bench_bulk_action(user, repeat: int) -> list[dict]:
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from crm_admin import services
    from crm_admin.models import Deal, Stage

    first_open = Stage.objects.filter(outcome=Stage.Outcome.OPEN).order_by("order").first()
    won = services.stage_for_outcome(Stage.Outcome.WON)
    ids = list(Deal.objects.order_by("pk").values_list("pk", flat=True)[:SELECTED])
    # The rows "select all" picks on the deal list filtered to ?id__lte=<last id>.
    selected = Deal.objects.filter(pk__lte=ids[-1])

    def reset():
        selected.update(stage=first_open, probability=50, closed_at=None)

    client = Client()
    client.force_login(user)
    # A person selects 10,000 deals with "select all" on a filtered list (a page holds 100
    # checkboxes, and Django refuses a POST of more than 1,000 fields): the same rows here.
    changelist = reverse("admin:crm_admin_deal_changelist") + f"?id__lte={ids[-1]}"
    form = {"action": "mark_won", "index": "0", "select_across": "1", "_selected_action": ids[:100]}

    def admin_action():
        response = client.post(changelist, form)
        assert response.status_code == 302, response.status_code

    def service():
        assert services.deals_mark_won(deals=selected, actor=user) == SELECTED

    def plain_update():
        now = timezone.now()
        selected.update(stage=won, probability=100, closed_at=now, updated_at=now)

    rows = [
        ("admin action: Mark as won, select all 10,000", admin_action),
        ("service deals_mark_won (with history)", service),
        ("baseline QuerySet.update, same rows", plain_update),
    ]
    results = [{"case": label, **measure(call, reset, repeat)} for label, call in rows]
    reset()
    return results


def bench_pages(user, repeat: int) -> list[dict]:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    pages = [
        ("dashboard /admin/", reverse("admin:index")),
        ("board", reverse("admin:crm_admin_deal_board")),
        ("board, owner=mine", reverse("admin:crm_admin_deal_board") + "?owner=mine"),
    ]

    def get(url):
        def call():
            assert client.get(url).status_code == 200

        return call

    return [{"case": label, **measure(get(url), lambda: None, repeat)} for label, url in pages]


def print_table(report: dict) -> None:
    print(f"\n{report['engine']}, {report['deals']:,} deals, median of {report['repeat']} runs")
    baseline = report["bulk"][-1]["median_ms"]
    print(f"{'case':<46} {'queries':>7} {'ms':>9} {'x baseline':>11}")
    for row in report["bulk"]:
        ratio = row["median_ms"] / baseline if baseline else float("nan")
        print(f"{row['case']:<46} {row['queries']:>7} {row['median_ms']:>9} {ratio:>11.2f}")
    print()
    for row in report["pages"]:
        print(f"{row['case']:<46} {row['queries']:>7} {row['median_ms']:>9}")


if __name__ == "__main__":
    sys.exit(main())
