"""Every page at 1,000 and at 1,000,000 rows on PostgreSQL: queries, median ms, ratio, SQL ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/scale.py
    ... bench/scale.py --keep-db            # keep both databases; a later run reuses them
    ... bench/scale.py --large 100000       # a quicker run at 100k rows

Two databases, crm_scale_small and crm_scale_large on the server of DATABASE_URL, are
migrated and seeded by `crm_seed` (bulk inserts; the large one is 1,000,000 contacts and
deals, 200,000 companies and 1,000,000 notes, a few minutes), then VACUUM ANALYZE. A child
process per size requests each page with Django's test client as a superuser and DEBUG off:
--warmup untimed requests, one under CaptureQueriesContext for the query count and the SQL
time, then --repeat timed ones; the table shows the median, the large/small ratio and the
targets (ratio at most 1.5; search at most 100 ms of SQL; dashboard and board at most 300 ms
at the large size).

It also times the 100-row contact list next to Django's stock admin rendering the same rows
and columns (bench/stock_admin.py) in the same process, alternating rounds, and reports the
ratio (target: at most 1.2) and both pages' HTML size (target: under 300 KB).
Results: bench/results/scale-postgresql.json.
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
SEED = 1
BENCH_USER = "bench-scale"
TARGET_RATIO = 1.5
TARGET_SEARCH_SQL_MS = 100
TARGET_OVERVIEW_MS = 300  # dashboard and board at the large size
TARGET_RENDER_RATIO = 1.2
TARGET_HTML_KB = 300


def sizes_for(large: int) -> dict[str, dict[str, int]]:
    return {
        "small": {"companies": 200, "contacts": 1_000, "deals": 1_000, "notes": 1_000},
        "large": {
            "companies": large // 5,
            "contacts": large,
            "deals": large,
            "notes": large,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=1_000_000, help="Contacts and deals.")
    parser.add_argument("--repeat", type=int, default=5, help="Timed requests per page.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed requests per page first.")
    parser.add_argument("--keep-db", action="store_true", help="Keep and reuse the databases.")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="A postgres:// URL (default: $DATABASE_URL).",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)
    if not databases.is_postgres(args.database_url):
        parser.error("this benchmark runs on PostgreSQL: pass --database-url postgres://...")

    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = sizes_for(args.large)
    runs = {}
    for size, params in sizes.items():
        url = urlunsplit(urlsplit(args.database_url)._replace(path=f"/crm_scale_{size}"))
        reuse = args.keep_db and is_seeded(url, params)
        if not reuse:
            databases.recreate(url)
        print(f"== {size}: {'measuring' if reuse else 'seeding and measuring'}", flush=True)
        try:
            runs[size] = run_size(args, size, url, params, reuse=reuse)
        except subprocess.CalledProcessError:
            print(f"The {size} run failed; its error is above.", file=sys.stderr)
            return 1
        finally:
            if args.keep_db:
                marker(url).write_text(json.dumps({**params, "seed": SEED}))
            else:
                databases.drop(url)
    report = build_report(runs, args)
    print_report(report)
    out = RESULTS / "scale-postgresql.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    return 0


def marker(url: str) -> Path:
    return RESULTS / f".seeded-scale-{urlsplit(url).path.strip('/')}.json"


def is_seeded(url: str, params: dict) -> bool:
    path = marker(url)
    if not path.exists() or json.loads(path.read_text()) != {**params, "seed": SEED}:
        return False
    return databases.exists(url)


def run_size(args, size: str, url: str, params: dict, *, reuse: bool) -> dict:
    arguments = [size, "--params", json.dumps(params), "--repeat", str(args.repeat)]
    arguments += ["--warmup", str(args.warmup), *(["--reuse"] if reuse else [])]
    return databases.run_child(__file__, url, arguments)


# The child: seeding and measuring one size.


def run_child(args) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.test.utils import override_settings

    with override_settings(
        DEBUG=False, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF="bench.stock_admin"
    ):
        result = seed_and_measure(args)
    Path(args.json_out).write_text(json.dumps(result))
    return 0


def seed_and_measure(args) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    params = json.loads(args.params)
    result = {"size": args.child, "params": params, "seed_seconds": None}
    call_command("migrate", interactive=False, verbosity=0)
    if not args.reuse:
        started = time.perf_counter()
        call_command("crm_seed", **params, seed=SEED, verbosity=1)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
    result["rows"] = table_counts()
    client = logged_in_client()
    result["pages"] = [measure(client, label, url, args) for label, url, _kind in pages()]
    result["kinds"] = {label: kind for label, _url, kind in pages()}
    # A sales rep's own pipeline with CRM_DEAL_VISIBILITY="own": the rule narrows every
    # deal page to the rep's deals through the owner indexes.
    with override_settings(CRM_DEAL_VISIBILITY="own"):
        rep = rep_client()
        for label, url, kind in rep_pages():
            result["pages"].append(measure(rep, label, url, args))
            result["kinds"][label] = kind
    result["render"] = compare_render(client, args)
    return result


def table_counts() -> dict[str, int]:
    from crm_admin.deal_history import DealStageChange
    from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote

    counted = (Company, Contact, Deal, ContactNote, DealNote, DealStageChange)
    return {m.__name__: m.objects.count() for m in counted}


def logged_in_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    User = get_user_model()
    user = User.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = User.objects.create_superuser(BENCH_USER, "bench-scale@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def pages() -> list[tuple[str, str, str]]:
    """(label, url, kind) of every page measured; kind picks the extra target: "search",
    "overview" (dashboard and board) or "page"."""
    from django.db.models import Count
    from django.urls import reverse

    from crm_admin.deal_history import DealStageChange, LostReason
    from crm_admin.models import Contact, Deal, Stage

    stage = Stage.objects.filter(outcome=Stage.Outcome.OPEN).order_by("order", "id").first()
    owner = Deal.objects.exclude(owner=None).order_by("id").values_list("owner", flat=True)[0]
    reason = LostReason.objects.order_by("order", "id").first()
    # Stale deals to find: the open stages go stale after 30 days, unless the data says else.
    if not Stage.objects.filter(stale_after_days__isnull=False).exists():
        Stage.objects.filter(outcome=Stage.Outcome.OPEN).update(stale_after_days=30)

    def busiest(rows, key):
        """The record with the most `rows` pointing at it (whose page has the most to show)."""
        top = rows.values(key).annotate(n=Count("id")).order_by("-n", key).values_list(key)
        return top.first()[0]

    deal = busiest(DealStageChange.objects, "deal")
    contact = busiest(Deal.objects, "contact")
    company = busiest(Contact.objects.exclude(company=None), "company")
    contacts = reverse("admin:crm_admin_contact_changelist")
    deals = reverse("admin:crm_admin_deal_changelist")
    companies = reverse("admin:crm_admin_company_changelist")
    return [
        ("contact list", contacts, "page"),
        ("deal list", deals, "page"),
        ("company list", companies, "page"),
        ("deals of one stage", f"{deals}?stage__id__exact={stage.pk}", "page"),
        ("deals of one owner", f"{deals}?owner={owner}", "page"),
        ("contact search ?q=Last123", f"{contacts}?q=Last123", "search"),
        ("contact search ?q=smith", f"{contacts}?q=smith", "search"),
        ("deal search ?q=renewal", f"{deals}?q=renewal", "search"),
        ("company search ?q=tech", f"{companies}?q=tech", "search"),
        ("stale deals", f"{deals}?stale=yes", "page"),
        ("deals lost for a reason", f"{deals}?lost_reason={reason.pk}", "page"),
        ("deal page (timeline)", reverse("admin:crm_admin_deal_change", args=[deal]), "page"),
        (
            "contact page (deals, timeline)",
            reverse("admin:crm_admin_contact_change", args=[contact]),
            "page",
        ),
        (
            "company page (contacts, deals, timeline)",
            reverse("admin:crm_admin_company_change", args=[company]),
            "page",
        ),
        ("dashboard /admin/", reverse("admin:index"), "overview"),
        (
            "dashboard history section",
            reverse("admin:crm_admin_deal_history_figures"),
            "overview",
        ),
        ("pipeline board", reverse("admin:crm_admin_deal_board"), "overview"),
        ("API contacts", "/api/crm/contacts/", "page"),
        ("API deals", "/api/crm/deals/", "page"),
        ("API companies", "/api/crm/companies/", "page"),
        ("API contacts ?search=smith", "/api/crm/contacts/?search=smith", "search"),
        ("API deals ?search=renewal", "/api/crm/deals/?search=renewal", "search"),
    ]


def rep_client():
    """A client logged in as the owner of the first seeded deal, made a Sales rep."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from crm_admin.models import Deal
    from crm_admin.roles import SALES_REP

    owner = Deal.objects.exclude(owner=None).order_by("id").first().owner
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    owner.groups.add(Group.objects.get(name=SALES_REP))
    client = Client()
    client.force_login(owner)
    return client


def rep_pages() -> list[tuple[str, str, str]]:
    from django.urls import reverse

    deals = reverse("admin:crm_admin_deal_changelist")
    return [
        ("rep (own): deal list", deals, "page"),
        ("rep (own): deal search ?q=renewal", f"{deals}?q=renewal", "search"),
        ("rep (own): pipeline board", reverse("admin:crm_admin_deal_board"), "overview"),
        ("rep (own): dashboard", reverse("admin:index"), "overview"),
        (
            "rep (own): dashboard history section",
            reverse("admin:crm_admin_deal_history_figures"),
            "overview",
        ),
        ("rep (own): API deals", "/api/crm/deals/", "page"),
    ]


def measure(client, label: str, url: str, args) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_ACCEPT": "application/json"} if url.startswith("/api/") else {}
    for _ in range(max(args.warmup, 1)):
        response = client.get(url, **headers)
        if response.status_code != 200:
            raise SystemExit(f"{label}: {url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as captured:
        client.get(url, **headers)
    queries = list(captured.captured_queries)
    gc.collect()
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        client.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
    sql_ms = sum(float(q["time"]) for q in queries) * 1000
    median = statistics.median(timings)
    print(f"   {label:<30} {len(queries):>3} queries {median:>8.1f} ms  SQL {sql_ms:>7.1f} ms")
    slowest = sorted(queries, key=lambda q: -float(q["time"]))[:3]
    return {
        "page": label,
        "url": url,
        "queries": len(queries),
        "median_ms": round(median, 1),
        "sql_ms": round(sql_ms, 1),
        "timings_ms": [round(ms, 1) for ms in timings],
        "slowest_queries": [
            {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:500]} for q in slowest
        ],
    }


def compare_render(client, args) -> dict:
    """The CRM's contact list and the stock admin's, same 100 rows and columns, alternating."""
    from django.conf import settings
    from django.test.utils import override_settings
    from django.urls import reverse

    from bench.stock_admin import STOCK_TEMPLATES

    crm_url = reverse("admin:crm_admin_contact_changelist")
    stock_url = reverse("stock:crm_admin_contact_changelist")
    # The project's template settings with Django's own admin templates first.
    stock_templates = override_settings(
        TEMPLATES=[{**settings.TEMPLATES[0], "DIRS": [STOCK_TEMPLATES]}]
    )

    def timed(url) -> tuple[float, int]:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, response.status_code)
        return elapsed, len(response.content)

    crm, stock = [], []
    sizes = {}
    for _round in range(2):
        for _ in range(max(args.warmup, 1)):
            timed(crm_url)
        for _ in range(7):
            ms, sizes["crm"] = timed(crm_url)
            crm.append(ms)
        with stock_templates:
            for _ in range(max(args.warmup, 1)):
                timed(stock_url)
            for _ in range(7):
                ms, sizes["stock"] = timed(stock_url)
                stock.append(ms)
    result = {
        "crm_median_ms": round(statistics.median(crm), 1),
        "stock_median_ms": round(statistics.median(stock), 1),
        "crm_html_kb": round(sizes["crm"] / 1024, 1),
        "stock_html_kb": round(sizes["stock"] / 1024, 1),
    }
    result["ratio"] = round(result["crm_median_ms"] / result["stock_median_ms"], 2)
    print(
        f"   render: CRM {result['crm_median_ms']} ms ({result['crm_html_kb']} KB), stock "
        f"{result['stock_median_ms']} ms ({result['stock_html_kb']} KB), ratio {result['ratio']}"
    )
    return result


# The report.


def build_report(runs: dict, args) -> dict:
    small, large = runs["small"], runs["large"]
    rows = []
    for before, after in zip(small["pages"], large["pages"], strict=True):
        kind = large["kinds"][after["page"]]
        ratio = round(after["median_ms"] / before["median_ms"], 2)
        misses = []
        if before["queries"] != after["queries"]:
            misses.append("queries")
        if ratio > TARGET_RATIO:
            misses.append("ratio")
        if kind == "search" and after["sql_ms"] > TARGET_SEARCH_SQL_MS:
            misses.append("search SQL")
        if kind == "overview" and after["median_ms"] > TARGET_OVERVIEW_MS:
            misses.append("ms")
        rows.append(
            {
                "page": after["page"],
                "url": after["url"],
                "queries": {"small": before["queries"], "large": after["queries"]},
                "median_ms": {"small": before["median_ms"], "large": after["median_ms"]},
                "sql_ms": {"small": before["sql_ms"], "large": after["sql_ms"]},
                "ratio": ratio,
                "misses": misses,
                "slowest_queries_large": after["slowest_queries"],
            }
        )
    render = large["render"]
    render["misses"] = [
        *(["ratio"] if render["ratio"] > TARGET_RENDER_RATIO else []),
        *(["html"] if render["crm_html_kb"] > TARGET_HTML_KB else []),
    ]
    return {
        "engine": "postgresql",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "sizes": {
            size: {key: run[key] for key in ("params", "rows", "seed_seconds")}
            for size, run in runs.items()
        },
        "targets": {
            "ratio": TARGET_RATIO,
            "search_sql_ms": TARGET_SEARCH_SQL_MS,
            "overview_ms": TARGET_OVERVIEW_MS,
            "render_ratio": TARGET_RENDER_RATIO,
            "html_kb": TARGET_HTML_KB,
        },
        "pages": rows,
        "render": render,
    }


def print_report(report: dict) -> None:
    print(f"\nPages on PostgreSQL, median of {report['repeat']} requests")
    for size, info in report["sizes"].items():
        seeded = f", seeded in {info['seed_seconds']} s" if info["seed_seconds"] else ""
        print(f"  {size}: " + ", ".join(f"{n:,} {m}" for m, n in info["rows"].items()) + seeded)
    header = ["page", "queries", "ms small", "ms large", "ratio", "SQL ms large", "target"]
    table = [header]
    for row in report["pages"]:
        queries = row["queries"]
        table.append(
            [
                row["page"],
                f"{queries['small']}/{queries['large']}",
                f"{row['median_ms']['small']:.1f}",
                f"{row['median_ms']['large']:.1f}",
                f"{row['ratio']:.2f}",
                f"{row['sql_ms']['large']:.1f}",
                "ok" if not row["misses"] else "MISS " + ", ".join(row["misses"]),
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print(" | ".join(cells))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    render = report["render"]
    verdict = "ok" if not render["misses"] else "MISS " + ", ".join(render["misses"])
    print(
        f"\n100-row contact list: CRM {render['crm_median_ms']} ms, {render['crm_html_kb']} KB; "
        f"stock Django admin {render['stock_median_ms']} ms, {render['stock_html_kb']} KB; "
        f"ratio {render['ratio']} ({verdict})"
    )


if __name__ == "__main__":
    sys.exit(main())
