"""The duplicates pages and the import's duplicate flags at 100,000 companies and 100,000
contacts on PostgreSQL, next to the lists' own pages measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/duplicates.py
    ... bench/duplicates.py --keep-db              # keep the database; a later run reuses it
                                                   # (its match keys recomputed first)
    ... bench/duplicates.py --records 20000        # a quicker run
    ... bench/duplicates.py --database crm_mine    # another database name on that server

The database (crm_bench_duplicates unless --database says otherwise) is created on the server
of DATABASE_URL, migrated and seeded by `crm_seed` (--records companies and as many contacts,
no deals; the seed makes ~1% of each a near-duplicate of another), then VACUUM ANALYZE. A
child process measures with DEBUG off: --warmup untimed runs, one under CaptureQueriesContext
for the query count and the SQL time, then --repeat timed ones (the median is shown):

- per model and match rule, the selector `duplicate_groups()` on its first page and on its last
  page (the deepest OFFSET), next to what the list runs for its first page (the count and the
  first 100 rows in the list's order); and the admin's duplicates page (Django's test client,
  a superuser) on both pages, next to the list page. Targets: the same number of queries on
  the first and the last page, and a page at most 1.5 times as slow as its list's;
- the import's duplicate flags: a 10,000-row companies file and a 10,000-row contacts file
  (most at existing companies; 1% of the rows near-duplicates of existing records under each
  rule, 1% of other rows) checked as the admin's preview checks them (a dry run), with the
  flags and without. Targets: the flags run one query per rule and 500 rows (plus those of a
  contacts file's new companies), and the preview with them takes at most 3 times as long as
  without (the flags compute every row's match keys, a phone number's through the
  phonenumbers library, as the write does again).

Results: bench/results/duplicates-postgresql.json.
"""

import argparse
import gc
import json
import os
import statistics
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
SEED = 1
BENCH_USER = "bench-duplicates"
DEFAULT_DATABASE = "crm_bench_duplicates"
IMPORT_ROWS = 10_000
TARGET_PAGE_RATIO = 1.5
# The flags read the existing records by 500 keys a query and rule (two rules per model), and
# a contacts file's new companies likewise: at most this many queries per 500 rows and rule.
TARGET_FLAG_QUERIES_PER_500 = 1
TARGET_FLAG_RATIO = 3.0  # the preview with its flags, to the preview without


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="Companies and contacts.")
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs per measurement.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed runs first.")
    parser.add_argument("--keep-db", action="store_true", help="Keep and reuse the database.")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="The database's name.")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="A postgres:// URL naming the server (default: $DATABASE_URL).",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)
    if not databases.is_postgres(args.database_url):
        parser.error("this benchmark runs on PostgreSQL: pass --database-url postgres://...")
    if args.database.startswith("crm_scale_"):
        parser.error("crm_scale_* databases belong to bench/scale.py")

    RESULTS.mkdir(parents=True, exist_ok=True)
    url = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{args.database}"))
    params = {"records": args.records, "seed": SEED}
    reuse = args.keep_db and is_seeded(url, params)
    if not reuse:
        databases.recreate(url)
    print(f"== {args.database}: {'measuring' if reuse else 'seeding and measuring'}", flush=True)
    arguments = ["--records", str(args.records), "--repeat", str(args.repeat)]
    arguments += ["--warmup", str(args.warmup), *(["--reuse"] if reuse else [])]
    try:
        run = databases.run_child(__file__, url, arguments)
    finally:
        if args.keep_db:
            marker(url).write_text(json.dumps(params))
        else:
            databases.drop(url)
    report = {
        "engine": "postgresql",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "targets": {
            "page_ratio": TARGET_PAGE_RATIO,
            "flag_queries_per_500_rows_and_rule": TARGET_FLAG_QUERIES_PER_500,
            "flag_ratio": TARGET_FLAG_RATIO,
        },
        **run,
    }
    print_report(report)
    out = RESULTS / "duplicates-postgresql.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    return 0


def marker(url: str) -> Path:
    return RESULTS / f".seeded-duplicates-{urlsplit(url).path.strip('/')}.json"


def is_seeded(url: str, params: dict) -> bool:
    path = marker(url)
    if not path.exists() or json.loads(path.read_text()) != params:
        return False
    return databases.exists(url)


# The child: seeding and measuring.


def run_child(args) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.test.utils import override_settings

    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        result = seed_and_measure(args)
    Path(args.json_out).write_text(json.dumps(result))
    return 0


def seed_and_measure(args) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from crm_admin.models import Company, Contact

    result = {"records": args.records, "seed_seconds": None}
    call_command("migrate", interactive=False, verbosity=0)
    if not args.reuse:
        started = time.perf_counter()
        sizes = {"companies": args.records, "contacts": args.records, "deals": 0, "notes": 0}
        call_command("crm_seed", **sizes, seed=SEED, verbosity=1)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
    else:
        # The keys of a database seeded by an earlier run, as the match rules now compute them.
        call_command("crm_match_keys", verbosity=1)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    result["rows"] = {model.__name__: model.objects.count() for model in (Company, Contact)}
    client = logged_in_client()
    result["selectors"] = measure_selectors(args)
    result["pages"] = measure_pages(client, args)
    result["flags"] = measure_flags(args)
    return result


def logged_in_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    user = User.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = User.objects.create_superuser(BENCH_USER, "bench-duplicates@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def measure(label: str, run, args) -> dict:
    """Run `run()` --warmup times, once counting its queries, then --repeat timed times."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(max(args.warmup, 1)):
        run()
    with CaptureQueriesContext(connection) as captured:
        run()
    queries = list(captured.captured_queries)
    gc.collect()
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    sql_ms = sum(float(q["time"]) for q in queries) * 1000
    median = statistics.median(timings)
    print(f"   {label:<46} {len(queries):>3} queries {median:>9.1f} ms  SQL {sql_ms:>8.1f} ms")
    slowest = sorted(queries, key=lambda q: -float(q["time"]))[:2]
    return {
        "label": label,
        "queries": len(queries),
        "median_ms": round(median, 1),
        "sql_ms": round(sql_ms, 1),
        "timings_ms": [round(ms, 1) for ms in timings],
        "slowest_queries": [
            {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:600]} for q in slowest
        ],
    }


def last_page(model, rule) -> int:
    from crm_admin.duplicates import duplicate_groups

    return duplicate_groups(model, rule, page=10**9).number


def measure_selectors(args) -> list[dict]:
    """Each rule's first and last page of groups, next to its list's first page of rows."""
    from crm_admin.duplicates import duplicate_groups, match_rules
    from crm_admin.models import Company, Contact

    rows = []
    for model in (Company, Contact):
        name = str(model._meta.verbose_name_plural)

        def list_page(model=model):
            model.objects.count()
            return list(model.objects.order_by(*model._meta.ordering)[:100])

        baseline = measure(f"{name}: list rows (count, first 100)", list_page, args)
        for rule in match_rules(model):
            pages = {"first": 1, "last": last_page(model, rule)}
            for where, number in pages.items():

                def groups(model=model, rule=rule, number=number):
                    page = duplicate_groups(model, rule, page=number)
                    return [(group.size, len(group.members)) for group in page.object_list]

                label = f"{name}: {rule.name} groups, {where} page ({number})"
                row = measure(label, groups, args)
                rows.append({**row, "baseline": baseline, "model": name, "rule": rule.name})
    return rows


def measure_pages(client, args) -> list[dict]:
    """Each rule's duplicates page, first and last, next to its list page."""
    from django.urls import reverse

    from crm_admin.duplicates import match_rules
    from crm_admin.models import Company, Contact

    def get(url):
        def run():
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")

        return run

    rows = []
    for model in (Company, Contact):
        name = str(model._meta.verbose_name_plural)
        admin_url = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        baseline = measure(f"{name}: list page", get(reverse(f"{admin_url}_changelist")), args)
        for rule in match_rules(model):
            for where, number in {"first": 1, "last": last_page(model, rule)}.items():
                url = f"{reverse(f'{admin_url}_duplicates')}?rule={rule.name}&page={number}"
                row = measure(f"{name}: {rule.name} duplicates page, {where}", get(url), args)
                rows.append({**row, "baseline": baseline, "model": name, "rule": rule.name})
    return rows


# The import's flags.


def company_file(rows: int) -> bytes:
    """`rows` new companies: 1% a name variant of an existing company, 1% on the website of an
    earlier row, the rest new names and sites."""
    from crm_admin.folding import fold
    from crm_admin.management.seed_duplicates import company_name_variants
    from crm_admin.models import Company

    taken = {fold(name) for name in Company.objects.values_list("name", flat=True)}
    variants = []
    for name in Company.objects.order_by("pk").values_list("name", flat=True)[: rows // 20]:
        spelled = [v for v in company_name_variants(name) if fold(v) not in taken]
        if spelled and len(variants) < rows // 100:
            variants.append(spelled[0])
            taken.add(fold(spelled[0]))
    lines = ["name,industry,website"]
    for n in range(rows):
        if n % 100 == 0 and variants:
            lines.append(f'"{variants.pop()}",Software,')
        elif n % 100 == 1 and n > 100:
            lines.append(f"Bench Brand {n},,https://bench-{n - 99}.example.com/brand")
        else:
            lines.append(f"Bench Company {n},Software,https://bench-{n}.example.com")
    return ("\n".join(lines) + "\n").encode()


def contact_file(rows: int) -> bytes:
    """`rows` new contacts, 60% of them at one of 2,000 existing companies: 1% with an existing
    contact's phone written another way, 1% with an existing contact's name at its company,
    1% with an earlier row's phone; the rest new names and unique phones."""
    import random

    from crm_admin.management.seed_duplicates import Phones
    from crm_admin.models import Company, Contact

    rng = random.Random(SEED)
    phones = Phones(rng, Contact.objects.values_list("phone_key", flat=True))
    with_phone = Contact.objects.exclude(phone_key="").order_by("pk")
    same_phone = list(with_phone.values_list("phone_key", "phone")[: rows // 100])
    at_company = Contact.objects.exclude(company=None).order_by("-pk")
    same_name = list(
        at_company.values_list("first_name", "last_name", "company__name")[: rows // 100]
    )
    companies = list(Company.objects.order_by("pk").values_list("name", flat=True)[:2000])
    lines = ["first_name,last_name,email,phone,company"]
    written = []
    for n in range(rows):
        first, last = "Bench", f"Person {n}"
        company = rng.choice(companies) if rng.random() < 0.6 else ""
        if n % 100 == 0 and same_phone:
            key, text = same_phone.pop()
            phone = phones.rewritten(key, text)
        elif n % 100 == 1 and n > 100:
            phone = written[n - 99]
        else:
            phone = phones.new()[1]
            if n % 100 == 2 and same_name:
                first, last, company = same_name.pop()
        written.append(phone)
        lines.append(f'"{first}","{last}",bench.{n}@example.org,{phone},"{company}"')
    return ("\n".join(lines) + "\n").encode()


def measure_flags(args) -> list[dict]:
    """The dry run of each file, with and without the flags, alternating."""
    from crm_admin.resources import CompanyResource, ContactResource, read_csv

    rows = []
    for label, resource_class, content in (
        ("companies", CompanyResource, company_file(IMPORT_ROWS)),
        ("contacts", ContactResource, contact_file(IMPORT_ROWS)),
    ):
        dataset = read_csv(content)
        found = {}

        def preview(flag: bool, resource_class=resource_class, dataset=dataset, found=found):
            result = resource_class().import_data(
                dataset, dry_run=True, raise_errors=False, flag_duplicates=flag
            )
            assert not result.has_validation_errors(), result.error_lines()[:3]
            found[flag] = result.duplicates

        measured = {}
        for flag in (False, True):
            text = "with" if flag else "without"
            measured[flag] = measure(
                f"{label}: {IMPORT_ROWS:,}-row preview {text} flags",
                lambda f=flag: preview(f),
                args,
            )
        report = found[True]
        rows.append(
            {
                "file": label,
                "rows": IMPORT_ROWS,
                "without": measured[False],
                "with": measured[True],
                "flagged": {
                    "existing": report.of_existing,
                    "rows": report.of_rows,
                    "total": report.flagged,
                },
            }
        )
    return rows


# The report.


def misses_of(row: dict, first: dict | None, *, page: bool) -> list[str]:
    """The targets `row` misses: the queries of its rule's first page; for a page, the ratio."""
    misses = []
    if first is not None and row["queries"] != first["queries"]:
        misses.append("queries")
    if page and row["median_ms"] > TARGET_PAGE_RATIO * row["baseline"]["median_ms"]:
        misses.append("ratio")
    return misses


def print_report(report: dict) -> None:
    rows = ", ".join(f"{n:,} {m}" for m, n in report["rows"].items())
    seeded = f", seeded in {report['seed_seconds']} s" if report["seed_seconds"] else ""
    print(f"\nDuplicates on PostgreSQL ({rows}{seeded}), median of {report['repeat']} runs")
    table = [["measured", "queries", "ms", "SQL ms", "baseline ms", "ratio", "target"]]
    for section in ("selectors", "pages"):
        first = {}
        for row in report[section]:
            key = (row["model"], row["rule"])
            misses = misses_of(row, first.get(key), page=section == "pages")
            first.setdefault(key, row)
            baseline = row["baseline"]
            table.append(
                [
                    row["label"],
                    str(row["queries"]),
                    f"{row['median_ms']:.1f}",
                    f"{row['sql_ms']:.1f}",
                    f"{baseline['median_ms']:.1f}",
                    f"{row['median_ms'] / baseline['median_ms']:.2f}",
                    "ok" if not misses else "MISS " + ", ".join(misses),
                ]
            )
    for row in report["flags"]:
        without, with_flags = row["without"], row["with"]
        extra_queries = with_flags["queries"] - without["queries"]
        ratio = with_flags["median_ms"] / without["median_ms"]
        # Two rules; a contacts file adds its new companies' two.
        allowed = 2 * TARGET_FLAG_QUERIES_PER_500 * -(-row["rows"] // 500) + 2
        misses = [
            *(["queries"] if extra_queries > allowed else []),
            *(["ratio"] if ratio > TARGET_FLAG_RATIO else []),
        ]
        table.append(
            [
                f"{row['file']}: {row['rows']:,}-row preview with flags "
                f"({row['flagged']['total']:,} flagged)",
                f"{with_flags['queries']} (+{extra_queries})",
                f"{with_flags['median_ms']:.1f}",
                f"{with_flags['sql_ms']:.1f}",
                f"{without['median_ms']:.1f}",
                f"{ratio:.2f}",
                "ok" if not misses else "MISS " + ", ".join(misses),
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    print()
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print(" | ".join(cells))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


if __name__ == "__main__":
    sys.exit(main())
