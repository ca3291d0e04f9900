"""Import and export at size, next to raw Django writes and reads of the same rows.

    .venv/bin/python bench/csv_import_export.py                  # 100k contacts, 10k deals, SQLite
    .venv/bin/python bench/csv_import_export.py --contacts 20000 --deals 2000 --skip-stock
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/csv_import_export.py

A CSV of --contacts contact rows (naming --companies companies and 40 tags) and one of --deals
deal rows with tags are written first. Each measurement then runs in a child process on a fresh
database (a file under bench/results/ for SQLite, or crm_bench_import on the server of a
postgres DATABASE_URL, dropped afterwards), so that its peak memory (ru_maxrss, the whole
process: Python, Django and the rows) is its own:

- contacts: `crm_import contacts FILE` against a raw import of the same file (csv.DictReader,
  then bulk_create of the companies, tags, contacts and tag links, in one transaction);
  target: within 3x of raw, peak memory under 500 MB;
- export: `crm_export contacts --output FILE` of those contacts against values_list() plus
  csv.writer() writing the same columns; target: within 2x;
- deals: `crm_import deals FILE` against django-import-export's stock row-by-row resource
  (foreign keys and tags looked up per row) and a raw bulk_create with tag links;
- admin: the first 10,000 contact rows through the admin's upload, preview and confirm, as a
  browser posts them (Django's test client): the preview page's size, and both times.

The table and bench/results/import_export-<engine>.json give seconds, rows per second, the
ratio to raw, SQL statements and peak memory.
"""

import argparse
import csv
import io
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path: import from the project root only.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]
from bench import databases  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SEED = 1
TAGS = [f"Tag {n:02d}" for n in range(40)]
STATUSES = ["new", "contacted", "in_discussion", "pending_response", "inactive"]
STAGES = ["Prospecting", "Negotiation", "Closed-Won", "Closed-Lost"]
CONTACT_COLUMNS = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "status",
    "company",
    "tags",
    "last_contacted_at",
]
DEAL_COLUMNS = [
    "id",
    "title",
    "contact_email",
    "amount",
    "stage",
    "probability",
    "expected_close_date",
    "owner",
    "tags",
]
TARGETS = {"contacts": 3.0, "export": 2.0}
DEVNULL = io.StringIO()  # the commands' own summaries; the table reports instead
MAX_MEMORY_MB = 500


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument(
        "--skip-stock", action="store_true", help="Leave out the slow stock resource."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="A postgres:// URL selects PostgreSQL (default: $DATABASE_URL); else SQLite.",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)

    RESULTS.mkdir(parents=True, exist_ok=True)
    postgres = databases.is_postgres(args.database_url)
    engine = "postgresql" if postgres else "sqlite"
    url = bench_database_url(args.database_url) if postgres else sqlite_url()
    with tempfile.TemporaryDirectory() as data:
        data = Path(data)
        write_files(data, args)
        print(
            f"Files: {args.contacts:,} contacts ({args.companies:,} companies), "
            f"{args.deals:,} deals, in {data}",
            flush=True,
        )
        runs = {}
        steps = ["contacts_ours", "contacts_raw", "export_ours", "export_raw", "deals_ours"]
        steps += [] if args.skip_stock else ["deals_stock"]
        steps += ["deals_raw", "admin_preview"]
        for step in steps:
            # The export steps read the database the import before them left.
            if not step.startswith("export"):
                databases.recreate(url)
            print(f"== {step}", flush=True)
            runs[step] = run_step(step, url, data)
            print(
                f"   {runs[step]['seconds']:.2f} s, {runs[step]['rows']:,} rows, "
                f"{runs[step]['queries']:,} statements, {runs[step]['peak_mb']:.0f} MB",
                flush=True,
            )
        databases.drop(url)
    report = build_report(engine, args, runs)
    print_table(report)
    out = RESULTS / f"import_export-{engine}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    return 0


# Files and databases, from the parent process (no Django here).


def write_files(data: Path, args) -> None:
    rng = random.Random(SEED)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with (data / "contacts.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CONTACT_COLUMNS)
        for i in range(args.contacts):
            contacted = start + timedelta(minutes=rng.randrange(600_000))
            writer.writerow(
                [
                    f"First{i % 997}",
                    f"Last{i % 1009}",
                    f"person{i}@example.com",
                    f"+1 555 {i % 10_000:04d}",
                    rng.choice(["CEO", "Buyer", "Engineer", ""]),
                    rng.choice(STATUSES),
                    f"Company {rng.randrange(args.companies)}",
                    ", ".join(rng.sample(TAGS, rng.randrange(4))),
                    contacted.isoformat() if rng.random() < 0.7 else "",
                ]
            )
    with (data / "deals.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(DEAL_COLUMNS)
        for i in range(args.deals):
            writer.writerow(
                [
                    "",
                    f"Deal {i}",
                    f"person{rng.randrange(min(args.contacts, 1000))}@example.com",
                    f"{rng.randrange(100, 100_000)}.{rng.randrange(100):02d}",
                    rng.choice(STAGES),
                    rng.randrange(101),
                    (start + timedelta(days=rng.randrange(700))).date().isoformat(),
                    "bench-owner",
                    ", ".join(rng.sample(TAGS, rng.randrange(1, 4))),
                ]
            )


def sqlite_url() -> str:
    return f"sqlite:///{RESULTS / 'crm_bench_import.sqlite3'}"


def bench_database_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/crm_bench_import"))


def run_step(step: str, url: str, data: Path) -> dict:
    return databases.run_child(__file__, url, [step, "--data", str(data)])


# Measuring, in a child process per step.


def run_child(args) -> int:
    import resource

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.DEBUG = False  # production runs without the query log
    data = Path(args.data)
    if not args.child.startswith("export"):
        call_command("migrate", interactive=False, verbosity=0)
    if args.child.startswith("deals"):
        prepare_deals(data)
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    step = STEPS[args.child]
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        rows = step(data)
        seconds = time.perf_counter() - started
    result = {
        "step": args.child,
        "vendor": connection.vendor,
        "seconds": round(seconds, 3),
        "rows": rows,
        "queries": statements[0],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **ADMIN_FIGURES,
    }
    Path(args.json_out).write_text(json.dumps(result))
    return 0


def contacts_ours(data: Path) -> int:
    from django.core.management import call_command

    call_command(
        "crm_import", "contacts", str(data / "contacts.csv"), "--no-progress", stdout=DEVNULL
    )
    return count_rows(data / "contacts.csv")


def contacts_raw(data: Path) -> int:
    """The least an importer can do: read the rows, create what they name, insert them."""
    from django.db import transaction
    from django.utils.dateparse import parse_datetime

    from crm_admin.models import Company, Contact, Tag

    with (data / "contacts.csv").open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    with transaction.atomic():
        companies = {name: Company(name=name) for name in {r["company"] for r in rows}}
        Company.objects.bulk_create(companies.values(), batch_size=2000)
        names = {name.strip() for r in rows for name in r["tags"].split(",") if name.strip()}
        tags = {tag.name: tag.pk for tag in Tag.objects.bulk_create([Tag(name=n) for n in names])}
        contacts = [
            Contact(
                first_name=r["first_name"],
                last_name=r["last_name"],
                email=r["email"],
                phone=r["phone"],
                title=r["title"],
                status=r["status"],
                company=companies[r["company"]],
                last_contacted_at=parse_datetime(r["last_contacted_at"])
                if r["last_contacted_at"]
                else None,
            )
            for r in rows
        ]
        Contact.objects.bulk_create(contacts, batch_size=2000)
        through = Contact.tags.through
        through.objects.bulk_create(
            (
                through(contact_id=contact.pk, tag_id=tags[name.strip()])
                for contact, r in zip(contacts, rows, strict=True)
                for name in r["tags"].split(",")
                if name.strip()
            ),
            batch_size=2000,
        )
    return len(rows)


def export_ours(data: Path) -> int:
    from django.core.management import call_command

    out = data / "export-ours.csv"
    call_command("crm_export", "contacts", "--output", str(out), stderr=DEVNULL)
    return count_rows(out)


def export_raw(data: Path) -> int:
    """values_list() and csv.writer(): the same columns, tags and ordering, no safety."""
    from crm_admin.models import Contact

    through = Contact.tags.through
    tags: dict[int, list[str]] = {}
    links = through.objects.order_by("tag__name").values_list("contact_id", "tag__name")
    for pk, name in links.iterator(chunk_size=2000):
        tags.setdefault(pk, []).append(name)
    out = data / "export-raw.csv"
    paths = ["first_name", "last_name", "email", "phone", "title", "status", "company__name"]
    with out.open("w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(CONTACT_COLUMNS)
        for pk, *values, contacted in Contact.objects.values_list(
            "pk", *paths, "last_contacted_at"
        ).iterator(chunk_size=2000):
            writer.writerow(
                [*values, ", ".join(tags.get(pk, ())), contacted.isoformat() if contacted else ""]
            )
    return count_rows(out)


def prepare_deals(data: Path) -> None:
    """The contacts, owner and tags the deal rows name (untimed)."""
    from django.contrib.auth import get_user_model

    from crm_admin.models import Contact, Tag

    get_user_model().objects.create_user("bench-owner", "owner@example.com")
    Contact.objects.bulk_create(
        Contact(first_name="P", email=f"person{i}@example.com") for i in range(1000)
    )
    Tag.objects.bulk_create(Tag(name=name) for name in TAGS)


def deals_ours(data: Path) -> int:
    from django.core.management import call_command

    call_command("crm_import", "deals", str(data / "deals.csv"), "--no-progress", stdout=DEVNULL)
    return count_rows(data / "deals.csv")


def deals_stock(data: Path) -> int:
    """django-import-export's ModelResource as its documentation shows it: instances, foreign
    keys and tags looked up row by row."""
    from django.contrib.auth import get_user_model
    from import_export import fields, resources, widgets

    from crm_admin.models import Contact, Deal, Stage, Tag
    from crm_admin.resources import CSV

    class StockDealResource(resources.ModelResource):
        contact = fields.Field(
            attribute="contact",
            column_name="contact_email",
            widget=widgets.ForeignKeyWidget(Contact, field="email"),
        )
        stage = fields.Field(
            attribute="stage", column_name="stage", widget=widgets.ForeignKeyWidget(Stage, "name")
        )
        owner = fields.Field(
            attribute="owner",
            column_name="owner",
            widget=widgets.ForeignKeyWidget(get_user_model(), "username"),
        )
        tags = fields.Field(
            attribute="tags", column_name="tags", widget=widgets.ManyToManyWidget(Tag, ",", "name")
        )

        class Meta:
            model = Deal
            fields = (
                "id",
                "title",
                "contact",
                "amount",
                "stage",
                "probability",
                "expected_close_date",
                "owner",
                "tags",
            )

    dataset = CSV().create_dataset((data / "deals.csv").read_bytes())
    result = StockDealResource().import_data(dataset, use_transactions=True)
    if result.has_errors() or result.has_validation_errors():
        raise SystemExit(f"the stock resource refused the file: {result.invalid_rows[:3]}")
    return len(dataset)


def deals_raw(data: Path) -> int:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from crm_admin.models import Contact, Deal, Stage, Tag

    with (data / "deals.csv").open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    with transaction.atomic():
        contacts = dict(Contact.objects.values_list("email", "pk"))
        stages = {stage.name: stage for stage in Stage.objects.all()}
        owners = dict(get_user_model().objects.values_list("username", "pk"))
        tags = dict(Tag.objects.values_list("name", "pk"))
        deals = []
        for r in rows:
            deal = Deal(
                title=r["title"],
                contact_id=contacts[r["contact_email"]],
                amount=r["amount"],
                stage=stages[r["stage"]],
                probability=int(r["probability"]),
                expected_close_date=r["expected_close_date"],
                owner_id=owners[r["owner"]],
            )
            deal.apply_stage_outcome()
            deals.append(deal)
        Deal.objects.bulk_create(deals, batch_size=2000)
        through = Deal.tags.through
        through.objects.bulk_create(
            (
                through(deal_id=deal.pk, tag_id=tags[name.strip()])
                for deal, r in zip(deals, rows, strict=True)
                for name in r["tags"].split(",")
            ),
            batch_size=2000,
        )
    return len(rows)


def admin_preview(data: Path) -> int:
    """Upload, preview and confirm 10,000 contact rows in the admin; records the page size."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.test.utils import override_settings

    from crm_admin.models import Contact

    lines = (data / "contacts.csv").read_bytes().splitlines(keepends=True)[:10_001]
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench-admin", None, None))
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        started = time.perf_counter()
        upload = SimpleUploadedFile("contacts.csv", b"".join(lines))
        preview = client.post(
            "/admin/crm_admin/contact/import/",
            {"format": "0", "resource": "0", "import_file": upload},
        )
        ADMIN_FIGURES["preview_seconds"] = round(time.perf_counter() - started, 2)
        ADMIN_FIGURES["preview_kb"] = round(len(preview.content) / 1024)
        html = preview.content.decode()
        name = html.split('name="import_file_name" value="', 1)[1].split('"', 1)[0]
        started = time.perf_counter()
        done = client.post(
            "/admin/crm_admin/contact/process_import/",
            {"import_file_name": name, "original_file_name": "contacts.csv", "format": "0"},
        )
        ADMIN_FIGURES["confirm_seconds"] = round(time.perf_counter() - started, 2)
    if done.status_code != 302 or Contact.objects.count() != len(lines) - 1:
        raise SystemExit(f"the admin import failed: {done.status_code}")
    return len(lines) - 1


ADMIN_FIGURES: dict[str, float] = {}


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as source:
        return sum(1 for _row in csv.reader(source)) - 1


STEPS = {
    "contacts_ours": contacts_ours,
    "contacts_raw": contacts_raw,
    "export_ours": export_ours,
    "export_raw": export_raw,
    "deals_ours": deals_ours,
    "deals_stock": deals_stock,
    "deals_raw": deals_raw,
    "admin_preview": admin_preview,
}


# Report.


def build_report(engine: str, args, runs: dict) -> dict:
    def ratio(ours: str, raw: str) -> float:
        return round(runs[ours]["seconds"] / runs[raw]["seconds"], 2)

    for run in runs.values():
        run["rows_per_second"] = round(run["rows"] / run["seconds"])
        run["peak_mb"] = round(run["peak_mb"], 1)
    checks = {
        "contacts_import_vs_raw": {
            "ratio": ratio("contacts_ours", "contacts_raw"),
            "target": TARGETS["contacts"],
        },
        "contacts_import_peak_mb": {
            "value": runs["contacts_ours"]["peak_mb"],
            "target": MAX_MEMORY_MB,
        },
        "contacts_export_vs_raw": {
            "ratio": ratio("export_ours", "export_raw"),
            "target": TARGETS["export"],
        },
    }
    for check in checks.values():
        check["meets_target"] = check.get("ratio", check.get("value")) <= check["target"]
    return {
        "engine": engine,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "params": {"contacts": args.contacts, "companies": args.companies, "deals": args.deals},
        "runs": runs,
        "checks": checks,
    }


def print_table(report: dict) -> None:
    header = ["step", "rows", "seconds", "rows/s", "statements", "peak MB"]
    rows = [
        [
            name,
            f"{run['rows']:,}",
            f"{run['seconds']:.2f}",
            f"{run['rows_per_second']:,}",
            f"{run['queries']:,}",
            f"{run['peak_mb']:.0f}",
        ]
        for name, run in report["runs"].items()
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\nImport and export on {report['engine']}")
    for i, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print(" | ".join(cells))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    print()
    admin = report["runs"].get("admin_preview")
    if admin:
        print(
            f"admin, {admin['rows']:,} rows: preview {admin['preview_seconds']} s "
            f"({admin['preview_kb']:,} KB page), confirm {admin['confirm_seconds']} s"
        )
    for name, check in report["checks"].items():
        value = check.get("ratio", check.get("value"))
        verdict = "ok" if check["meets_target"] else "MISS"
        print(f"{name:<26} {value:>8} (target <= {check['target']})  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
