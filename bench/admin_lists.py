"""Admin pages at two data sizes: SQL queries and median server time, side by side.

    .venv/bin/python bench/admin_lists.py                 # small and large, SQLite (~2 min)
    .venv/bin/python bench/admin_lists.py --small-only --repeat 3
    .venv/bin/python bench/admin_lists.py --keep-db --rounds 3   # reuse the seeded databases
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/admin_lists.py
    make bench BENCH_ARGS="--keep-db"

Each size gets a fresh database: a file under bench/results/ for SQLite, or the databases
crm_bench_small / crm_bench_large on the server of a postgres DATABASE_URL (created and, without
--keep-db, dropped here). A child process per size migrates it and seeds it with `crm_seed`
(PostgreSQL then gets the VACUUM ANALYZE autovacuum would soon run), then requests every page
with Django's test client as a superuser and DEBUG off: --warmup untimed requests, one under
CaptureQueriesContext for the query count, then --repeat timed ones; --rounds repeats the
children in turn and pools their timings. The table and bench/results/admin_lists-<engine>.json
(with each page's SQL and slowest queries) compare the sizes against the product's target: the
same query count at both sizes and a median time ratio large/small under 1.5.
"""

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path: import from the project root only.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]
from bench import databases  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SIZES = {
    "small": {"companies": 200, "contacts": 1_000, "deals": 1_000, "notes": 1_000},
    "large": {"companies": 20_000, "contacts": 100_000, "deals": 100_000, "notes": 100_000},
}
SEED = 1
TARGET_RATIO = 1.5
BENCH_USER = "bench-admin"
# Change pages show a record with this many notes in their inline, found at both sizes.
NOTES_ON_CHANGE_PAGE = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,large", help="Comma-separated: small,large.")
    parser.add_argument("--small-only", action="store_true", help="Same as --sizes small.")
    parser.add_argument("--repeat", type=int, default=7, help="Timed requests per page.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed requests per page first.")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="Time shown: wall clock (default), or this process's CPU time, which other "
        "processes on a busy machine disturb less (SQLite only: PostgreSQL works elsewhere).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Measure the sizes in turn this many times and pool the timings: steadier on a "
        "busy machine.",
    )
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="Keep the seeded databases and reuse them (no reseeding) when still there. "
        "Without it, each run seeds fresh ones and drops them at the end.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="A postgres:// URL selects PostgreSQL (default: $DATABASE_URL); else SQLite.",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)

    sizes = ["small"] if args.small_only else [s.strip() for s in args.sizes.split(",")]
    unknown = set(sizes) - set(SIZES)
    if unknown:
        parser.error(f"unknown size(s): {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    postgres = databases.is_postgres(args.database_url)
    engine = "postgresql" if postgres else "sqlite"

    urls = {
        size: bench_database_url(args.database_url, size) if postgres else sqlite_url(size)
        for size in sizes
    }
    seeded = {size: args.keep_db and is_seeded(url, size) for size, url in urls.items()}
    runs = {size: [] for size in sizes}
    try:
        for round_number in range(1, args.rounds + 1):
            for size, url in urls.items():
                if not seeded[size]:
                    drop_database(url)
                    databases.create(url)
                action = "measuring" if seeded[size] else "seeding and measuring"
                print(f"== {size}, round {round_number}: {action} {redact(url)}", flush=True)
                try:
                    runs[size].append(run_size(args, size, url, reuse=seeded[size]))
                except subprocess.CalledProcessError:
                    print(f"The {size} run failed; its error is above.", file=sys.stderr)
                    return 1
                seeded[size] = True
                mark_seeded(url, size, keep=args.keep_db)
    finally:
        if not args.keep_db:
            for url in urls.values():
                drop_database(url)

    report = build_report(engine, sizes, runs, args)
    print_table(report)
    out = RESULTS / f"admin_lists-{engine}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    return 0


# Databases, from the parent process (no Django here).


def sqlite_url(size: str) -> str:
    return f"sqlite:///{RESULTS / f'crm_bench_{size}.sqlite3'}"


def bench_database_url(url: str, size: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/crm_bench_{size}"))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def drop_database(url: str) -> None:
    marker(url).unlink(missing_ok=True)
    databases.drop(url)


def marker(url: str) -> Path:
    name = urlsplit(url).path.rsplit("/", 1)[-1].removesuffix(".sqlite3")
    host = urlsplit(url).hostname or "sqlite"
    return RESULTS / f".seeded-{host}-{name}.json"


def is_seeded(url: str, size: str) -> bool:
    """True when a previous --keep-db run left this database seeded with the same sizes."""
    path = marker(url)
    if not path.exists() or json.loads(path.read_text()) != {**SIZES[size], "seed": SEED}:
        return False
    return databases.exists(url)


def mark_seeded(url: str, size: str, *, keep: bool) -> None:
    if keep:
        marker(url).write_text(json.dumps({**SIZES[size], "seed": SEED}))


def run_size(args, size: str, url: str, reuse: bool) -> dict:
    arguments = [size, "--repeat", str(args.repeat), "--warmup", str(args.warmup)]
    return databases.run_child(__file__, url, [*arguments, *(["--reuse"] if reuse else [])])


# Measuring, in a child process per size (settings read DATABASE_URL once, at startup).


def run_child(args) -> int:
    # Run as a script, Python puts bench/ first on sys.path: import from the project root only.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.test.utils import override_settings

    # Production runs with DEBUG off; on, Django would also log (and, on SQLite, re-quote)
    # every query, which slows the seed and every measured request.
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        result = seed_and_measure(args)
    Path(args.json_out).write_text(json.dumps(result))
    return 0


def seed_and_measure(args) -> dict:
    from django.core.management import call_command
    from django.db import connection

    result = {"size": args.child, "params": SIZES[args.child], "seed_seconds": None}
    call_command("migrate", interactive=False, verbosity=0)
    if not args.reuse:
        started = time.perf_counter()
        call_command("crm_seed", **SIZES[args.child], seed=SEED, verbosity=1)
        result["seed_seconds"] = round(time.perf_counter() - started, 2)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Autovacuum would vacuum and analyze the fresh tables within minutes; do it
                # now, so counts can use index-only scans and plans see real row counts.
                cursor.execute("VACUUM ANALYZE")
            elif connection.vendor == "sqlite":
                # Fold the seed's write-ahead log into the file, as a restart would.
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    result["rows"] = table_counts()
    result["pages"] = measure_pages(args.repeat, args.warmup)
    return result


def table_counts() -> dict[str, int]:
    from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote

    return {m.__name__: m.objects.count() for m in (Company, Contact, Deal, ContactNote, DealNote)}


def bench_pages(user) -> list[tuple[str, str]]:
    """(label, url) of every page measured: the lists, one sorted and two filtered deal
    lists, and the change pages of a contact and a deal with notes."""
    from django.contrib import admin
    from django.db.models import Count
    from django.test import RequestFactory
    from django.urls import reverse

    from crm_admin.models import Contact, Deal, Stage

    def comparable(model, **related):
        # The same shape at both sizes: as many notes, some tags, the foreign key filled.
        counted = model.objects.annotate(
            n_notes=Count("notes", distinct=True), n_tags=Count("tags", distinct=True)
        ).order_by("id")
        shaped = counted.filter(n_notes=NOTES_ON_CHANGE_PAGE, n_tags__gte=1, **related)
        return shaped.first() or counted.filter(n_notes__gte=1).first() or counted.first()

    # ?o= counts the action checkbox column when the list has actions.
    request = RequestFactory().get("/")
    request.user = user
    deal_admin = admin.site.get_model_admin(Deal)
    columns = list(deal_admin.get_list_display(request))
    if deal_admin.get_actions(request):
        columns.insert(0, "action_checkbox")
    amount_sort = next(
        (
            index
            for index, name in enumerate(columns)
            if name == "amount"
            or getattr(getattr(deal_admin, name, None), "admin_order_field", None) == "amount"
        ),
        5,
    )

    def changelist(name):
        return reverse(f"admin:{name}_changelist")

    contact = comparable(Contact, company__isnull=False)
    deal = comparable(Deal, owner__isnull=False)
    deals = changelist("crm_admin_deal")
    # The pipeline views people open most: one stage, one owner's deals.
    stage = Stage.objects.filter(outcome=Stage.Outcome.OPEN).order_by("order", "id").first()
    owner = Deal.objects.exclude(owner=None).order_by("id").values_list("owner", flat=True)[0]
    return [
        ("contacts", changelist("crm_admin_contact")),
        ("deals", deals),
        (f"deals ?o={amount_sort} (amount)", f"{deals}?o={amount_sort}"),
        ("deals of one stage", f"{deals}?stage__id__exact={stage.pk}"),
        ("deals of one owner", f"{deals}?owner={owner}"),
        ("companies", changelist("crm_admin_company")),
        ("stages", changelist("crm_admin_stage")),
        ("tags", changelist("crm_admin_tag")),
        ("contact notes", changelist("crm_admin_contactnote")),
        ("deal notes", changelist("crm_admin_dealnote")),
        ("users", changelist("auth_user")),
        ("contact change + notes", reverse("admin:crm_admin_contact_change", args=[contact.pk])),
        ("deal change + notes", reverse("admin:crm_admin_deal_change", args=[deal.pk])),
    ]


def measure_pages(repeat: int, warmup: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    User = get_user_model()
    user = User.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = User.objects.create_superuser(BENCH_USER, "bench@example.com", None)
    client = Client()
    client.force_login(user)
    measured = []
    for label, url in bench_pages(user):
        # Warm first, so one-off work (content types, caches) counts for no page.
        for _ in range(max(warmup, 1)):
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{label}: {url} answered {response.status_code}")
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        # A copy: captured_queries slices the connection's log, which each request resets.
        queries = list(captured.captured_queries)
        timings, cpu_timings = [], []
        gc.collect()
        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            cpu_timings.append((time.process_time() - cpu_started) * 1000)
        slowest = sorted(queries, key=lambda q: -float(q["time"]))[:3]
        measured.append(
            {
                "page": label,
                "url": url,
                "queries": len(queries),
                "timings_ms": {
                    "wall": [round(ms, 2) for ms in timings],
                    "cpu": [round(ms, 2) for ms in cpu_timings],
                },
                "slowest_queries": [
                    {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"]} for q in slowest
                ],
                "sql": [q["sql"] for q in queries],
            }
        )
        median = statistics.median(timings)
        print(f"   {label:<28} {len(queries):>3} queries {median:>8.1f} ms", flush=True)
    return measured


# Report.


def build_report(engine: str, sizes: list[str], runs: dict, args) -> dict:
    """One row per page; timings of all rounds pooled, queries as the first round saw them."""
    pages = []
    for index, first in enumerate(runs[sizes[0]][0]["pages"]):
        row = {"page": first["page"], "url": first["url"], "queries": {}, "median_ms": {}}
        for size in sizes:
            page = runs[size][0]["pages"][index]
            row["queries"][size] = page["queries"]
            for clock in ("wall", "cpu"):
                timings = [
                    ms for run in runs[size] for ms in run["pages"][index]["timings_ms"][clock]
                ]
                median = round(statistics.median(timings), 1)
                row.setdefault(f"median_{clock}_ms", {})[size] = median
                if clock == args.clock:
                    row["median_ms"][size] = median
            row.setdefault("slowest_queries", {})[size] = page["slowest_queries"]
            row.setdefault("sql", {})[size] = page["sql"]
        if {"small", "large"} <= set(sizes):
            row["ratio"] = round(row["median_ms"]["large"] / row["median_ms"]["small"], 2)
            row["meets_target"] = (
                row["queries"]["small"] == row["queries"]["large"] and row["ratio"] < TARGET_RATIO
            )
        pages.append(row)
    return {
        "engine": engine,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "clock": args.clock,
        "target": {"same_queries": True, "max_ratio": TARGET_RATIO},
        "sizes": {
            size: {
                "params": runs[size][0]["params"],
                "rows": runs[size][0]["rows"],
                "seed_seconds": runs[size][0]["seed_seconds"],
            }
            for size in sizes
        },
        "pages": pages,
    }


def print_table(report: dict) -> None:
    sizes = list(report["sizes"])
    header = ["page"] + [f"queries {s}" for s in sizes] + [f"median ms {s}" for s in sizes]
    both = len(sizes) == 2
    if both:
        header += ["ratio large/small", "target"]
    rows = []
    for page in report["pages"]:
        row = [page["page"]]
        row += [str(page["queries"][s]) for s in sizes]
        row += [f"{page['median_ms'][s]:.1f}" for s in sizes]
        if both:
            row += [f"{page['ratio']:.2f}", "ok" if page["meets_target"] else "MISS"]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    timed = report["repeat"] * report["rounds"]
    print(
        f"\nAdmin pages on {report['engine']}: median {report['clock']} time of {timed} "
        "requests each"
    )
    for size, info in report["sizes"].items():
        seeded = f", seeded in {info['seed_seconds']}s" if info["seed_seconds"] else ""
        rows_text = ", ".join(f"{n:,} {name}" for name, n in info["rows"].items())
        print(f"  {size}: {rows_text}{seeded}")
    print()
    for i, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print(" | ".join(cells))
        if i == 0:
            print("-+-".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
