"""API lists at 100k rows: SQL queries and median time, next to a values() + json.dumps baseline.

    .venv/bin/python bench/api_lists.py                   # seed a fresh database, measure, drop it
    .venv/bin/python bench/api_lists.py --keep-db         # keep it, and reuse it on the next run
    .venv/bin/python bench/api_lists.py --repeat 5 --warmup 1
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/api_lists.py

The database is bench/results/crm_bench_api.sqlite3, or crm_bench_api on the server of a
postgres DATABASE_URL; `crm_seed` fills it with 20k companies, 100k contacts and 100k deals.
Each case is requested with Django's test client as a logged-in superuser (a session: token
clients are throttled): one request under CaptureQueriesContext for the query count, --warmup
untimed ones, then --repeat timed ones, taking turns with the baseline. The baseline reads the
same rows in the same order (the same FilterSet narrows it) with COUNT(*), values() of the same
fields, one query for the tag names, and json.dumps: what the endpoint costs without DRF,
serializers and the request cycle.
Both must return the same ids, or the run stops. Results: bench/results/api_lists-<engine>.json.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path: import from the project root only.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]
from bench import databases  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SEED_SIZES = {"companies": 20_000, "contacts": 100_000, "deals": 100_000, "notes": 0}
SEED = 1
BENCH_USER = "bench-api"

# The serializers' fields, flattened the way values() reads them.
DEAL_FIELDS = [
    "id",
    "title",
    "amount",
    "probability",
    "expected_close_date",
    "stage_id",
    "stage__name",
    "stage__outcome",
    "contact_id",
    "contact__first_name",
    "contact__last_name",
    "contact__email",
    "contact__company_id",
    "contact__company__name",
    "owner_id",
    "owner__username",
    "closed_at",
    "created_at",
    "updated_at",
]
CONTACT_FIELDS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "status",
    "company_id",
    "company__name",
    "last_contacted_at",
    "created_at",
    "updated_at",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="Timed requests per case.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed requests per case first.")
    parser.add_argument(
        "--keep-db", action="store_true", help="Keep the seeded database; reuse it when there."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="A postgres:// URL selects PostgreSQL (default: $DATABASE_URL); else SQLite.",
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    postgres = databases.is_postgres(args.database_url)
    if postgres:
        url = urlunsplit(urlsplit(args.database_url)._replace(path="/crm_bench_api"))
    else:
        url = f"sqlite:///{RESULTS / 'crm_bench_api.sqlite3'}"
    reuse = args.keep_db and is_seeded(url)
    if not reuse:
        drop_database(url)
        databases.create(url)

    # Settings read the environment once: set it before Django starts. DEBUG=1 only for
    # loading them (no secret needed, no HTTPS redirect); it is off while measuring.
    os.environ.update(
        {"DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "project.settings"}
    )
    # Run as a script, Python puts bench/ first on sys.path: import from the project root only.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT), *(p for p in sys.path if p and Path(p).resolve() != here)]
    import django

    django.setup()
    try:
        report = measure(args, reuse)
    finally:
        from django.db import connections

        connections.close_all()
    if args.keep_db:
        marker(url).write_text(json.dumps({**SEED_SIZES, "seed": SEED}))
    else:
        drop_database(url)
    report["engine"] = "postgresql" if postgres else "sqlite"
    print_table(report)
    out = RESULTS / f"api_lists-{report['engine']}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    return 0


# The database, before Django starts.


def marker(url: str) -> Path:
    return RESULTS / f".seeded-{urlsplit(url).hostname or 'sqlite'}-crm_bench_api.json"


def is_seeded(url: str) -> bool:
    path = marker(url)
    if not path.exists() or json.loads(path.read_text()) != {**SEED_SIZES, "seed": SEED}:
        return False
    return databases.exists(url)


def drop_database(url: str) -> None:
    marker(url).unlink(missing_ok=True)
    databases.drop(url)


# Measuring, with Django set up.


def measure(args, reuse: bool) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from crm_admin.models import Company, Contact, Deal

    call_command("migrate", interactive=False, verbosity=0)
    seed_seconds = None
    if not reuse:
        print("Seeding", ", ".join(f"{n:,} {name}" for name, n in SEED_SIZES.items() if n))
        started = time.perf_counter()
        call_command("crm_seed", **SEED_SIZES, seed=SEED, verbosity=1)
        seed_seconds = round(time.perf_counter() - started, 1)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE")
            else:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = {m.__name__: m.objects.count() for m in (Company, Contact, Deal)}
    print("Rows:", ", ".join(f"{n:,} {name}" for name, n in rows.items()))
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "warmup": args.warmup,
        "rows": rows,
        "seed_seconds": seed_seconds,
        "cases": [measure_case(case, args) for case in cases()],
    }


def cases() -> list[dict]:
    from crm_admin.api.filters import ContactFilterSet, DealFilterSet
    from crm_admin.models import Contact, Deal

    quarter_ago = (datetime.now(UTC) - timedelta(days=90)).date().isoformat()
    deals = {
        "model": Deal,
        "path": "/api/crm/deals/",
        "fields": DEAL_FIELDS,
        "filters": DealFilterSet,
    }
    contacts = {
        "model": Contact,
        "path": "/api/crm/contacts/",
        "fields": CONTACT_FIELDS,
        "filters": ContactFilterSet,
    }
    return [
        {**deals, "label": "deals", "params": {"page_size": 50}},
        {**deals, "label": "deals", "params": {"page_size": 200}},
        {**contacts, "label": "contacts", "params": {"page_size": 50}},
        {**contacts, "label": "contacts", "params": {"page_size": 200}},
        {
            **deals,
            "label": "deals ?status=open&ordering=-amount",
            "params": {"status": "open", "ordering": "-amount", "page_size": 50},
        },
        {
            **contacts,
            "label": f"contacts ?tags=VIP&last_contacted_at__lt={quarter_ago}",
            "params": {"tags": "VIP", "last_contacted_at__lt": quarter_ago, "page_size": 50},
        },
    ]


def api_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    user = User.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = User.objects.create_superuser(BENCH_USER, "bench@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def baseline(case: dict):
    """The same page without DRF: COUNT(*), values(), the tag names, json.dumps."""
    from django.core.serializers.json import DjangoJSONEncoder

    from crm_admin.api.ordering import empty_values_last

    model, params = case["model"], case["params"]
    queryset = case["filters"](params, queryset=model.objects.all()).qs
    if "ordering" in params:
        ordering = [*params["ordering"].split(","), "pk"]
        queryset = queryset.order_by(*empty_values_last(model, ordering))
    count = queryset.count()
    rows = list(queryset.values(*case["fields"])[: params["page_size"]])
    owner = f"{model._meta.model_name}_id"
    tags: dict[int, list[str]] = {row["id"]: [] for row in rows}
    links = model.tags.through.objects.filter(**{f"{owner}__in": list(tags)})
    for owner_id, name in links.order_by("tag__name").values_list(owner, "tag__name"):
        tags[owner_id].append(name)
    for row in rows:
        row["tags"] = tags[row["id"]]
    return json.dumps({"count": count, "results": rows}, cls=DjangoJSONEncoder)


def count_queries(call) -> tuple[object, int]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    # The query log is a bounded deque: once full (the seed runs with DEBUG on), its length
    # stops growing and a capture would count nothing.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        result = call()
    # Count now: the capture reads the connection's log, which the next request empties.
    return result, len(captured)


def timed(calls: dict, repeat: int, warmup: int) -> dict[str, dict]:
    """Median and minimum milliseconds of each call, taking turns so that a busy machine
    slows them alike."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    gc.collect()
    timings = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {"median_ms": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2)}
        for name, ms in timings.items()
    }


def measure_case(case: dict, args) -> dict:
    from django.test.utils import override_settings

    client = api_client()
    url = f"{case['path']}?{urlencode(case['params'])}"

    def get():
        response = client.get(url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]}")
        return response.content

    # Production runs with DEBUG off; on, Django would also keep every query it runs.
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        api_content, api_queries = count_queries(get)
        base_content, base_queries = count_queries(lambda: baseline(case))
        times = timed({"api": get, "baseline": lambda: baseline(case)}, args.repeat, args.warmup)
    api, base = (
        {"queries": api_queries, **times["api"]},
        {"queries": base_queries, **times["baseline"]},
    )
    api_body, base_body = json.loads(api_content), json.loads(base_content)
    api_ids = [row["id"] for row in api_body["results"]]
    if (
        api_ids != [row["id"] for row in base_body["results"]]
        or api_body["count"] != base_body["count"]
    ):
        raise SystemExit(f"{url}: the baseline read other rows than the API")
    result = {
        "case": case["label"],
        "url": url,
        "page_size": case["params"]["page_size"],
        "count": api_body["count"],
        "api": api,
        "baseline": base,
        "ratio": round(api["median_ms"] / base["median_ms"], 2),
    }
    print(
        f"  {case['label']:<48} page {result['page_size']:>3}: API {api['queries']} queries "
        f"{api['median_ms']:>8.1f} ms, baseline {base['queries']} queries "
        f"{base['median_ms']:>8.1f} ms",
        flush=True,
    )
    return result


def print_table(report: dict) -> None:
    header = ["case", "page size", "matching", "API queries", "API median ms"]
    header += ["baseline queries", "baseline median ms", "API / baseline"]
    rows = [
        [
            case["case"],
            str(case["page_size"]),
            f"{case['count']:,}",
            str(case["api"]["queries"]),
            f"{case['api']['median_ms']:.1f}",
            str(case["baseline"]["queries"]),
            f"{case['baseline']['median_ms']:.1f}",
            f"{case['ratio']:.2f}",
        ]
        for case in report["cases"]
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rows_text = ", ".join(f"{n:,} {name}" for name, n in report["rows"].items())
    print(f"\nAPI lists on {report['engine']}, {rows_text} ({report['repeat']} timed runs each)\n")
    for i, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        print(" | ".join(cells))
        if i == 0:
            print("-+-".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
