"""A bounded mixed load on gunicorn (4 workers) and PostgreSQL at 100k rows: req/s, p50/p95/p99.

    .venv/bin/python bench/load.py                      # 8 users, 10 s warm-up, 60 s
    ... bench/load.py --users 4 --duration 30 --keep-db   # keep the database; a later run reuses it
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python bench/load.py

The database crm_load on the server of --database-url (default: $DATABASE_URL, else
postgres://postgres@127.0.0.1:5432/crm) is migrated and seeded by `crm_seed` (20,000 companies,
100,000 contacts, deals and notes; a minute or two), then VACUUM ANALYZE. A superuser and a
sales rep (staff, view permissions plus "change deal") get a fresh random password, the static
files are collected, and gunicorn serves the project with --workers workers on a free port of
127.0.0.1, configured as in production (DEBUG off, SECRET_KEY, whitenoise's manifest) except
for HTTPS, with CACHE_URL (default redis://127.0.0.1:6379/14, emptied first) as the cache the
workers share.

--users virtual users (threads, the standard library's http.client and a cookie jar each; the
first --reps of them log in as the rep, the others as the superuser) each log in once through
/admin/login/ and then request, without pause, a weighted mix (untimed for --warmup seconds,
then timed for --duration; both together at most 120): the contact and deal lists, a search
on each, the pipeline board, the dashboard, the contacts and deals API (session
authentication), a board move (JSON, between the first two open stages) and the "Move to
stage…" bulk action on 3 deals (its question page, then `apply`). Every deal a user moves is
its own, so the run ends by checking that each is in the stage its last answered move put it.
Any answer other than the expected one (200; a redirect for the login and the bulk action's
apply) or a failed connection is an error: the run fails when there is one, printing the
first few answers and the end of gunicorn's log.

The table shows, per kind of request and overall: requests, req/s, p50/p95/p99 latency in ms
(nearest rank) and errors; the machine's load average before and after. Results:
bench/results/load-postgresql.json.
"""

import argparse
import http.client
import json
import math
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on sys.path: import from the project root only.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]
from bench import databases  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DATABASE = "crm_load"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/crm"
SEED = 1
SIZES = {"companies": 20_000, "contacts": 100_000, "deals": 100_000, "notes": 100_000}
MAX_DURATION = 120
ADMIN_USER = "bench-load"
REP_USER = "bench-load-rep"
REP_GROUP = "Load test reps"
DEALS_PER_USER = 40
BULK_SELECTION = 3
CONTACT_TERMS = ["smith", "garcia", "wilson", "john", "lee"]
DEAL_TERMS = ["renewal", "pilot", "migration", "support", "training"]
# (kind, weight): what a user does next, drawn with these weights.
MIX = [
    ("contact list", 3),
    ("deal list", 3),
    ("contact search", 2),
    ("deal search", 2),
    ("pipeline board", 2),
    ("dashboard", 2),
    ("API contacts", 2),
    ("API deals", 2),
    ("board move", 2),
    ("bulk action", 1),
]
# The rows of the table: the bulk action is two requests, each timed on its own.
KINDS = [kind for kind, _weight in MIX if kind != "bulk action"]
KINDS += ["bulk action: question", "bulk action: apply", "login"]
ERRORS_SHOWN = 5

USERS_SCRIPT = """
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

User = get_user_model()
password = os.environ["LOAD_PASSWORD"]
group, _ = Group.objects.get_or_create(name=os.environ["LOAD_REP_GROUP"])
group.permissions.set(
    Permission.objects.filter(
        content_type__app_label="crm_admin",
        codename__in=[
            "view_company", "view_contact", "view_deal", "view_stage", "view_tag",
            "change_deal",
        ],
    )
)
for username, superuser in ((os.environ["LOAD_ADMIN"], True), (os.environ["LOAD_REP"], False)):
    user, _ = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.com"}
    )
    user.is_active = user.is_staff = True
    user.is_superuser = superuser
    user.set_password(password)
    user.save()
    user.groups.set([] if superuser else [group])
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="Virtual users (threads).")
    parser.add_argument(
        "--reps", type=int, default=2, help="How many of the users log in as the sales rep."
    )
    parser.add_argument(
        "--duration", type=int, default=60, help=f"Seconds of load (at most {MAX_DURATION})."
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="Seconds of the same load first, untimed (its errors still count).",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes.")
    parser.add_argument("--keep-db", action="store_true", help="Keep and reuse the database.")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_SERVER,
        help="A postgres:// URL naming the server; the database is crm_load on it "
        "(default: $DATABASE_URL, else %(default)s).",
    )
    parser.add_argument(
        "--cache-url",
        default="redis://127.0.0.1:6379/14",
        help="The workers' shared cache (CACHE_URL); emptied before the run.",
    )
    args = parser.parse_args()
    if not databases.is_postgres(args.database_url):
        parser.error("this benchmark runs on PostgreSQL: pass --database-url postgres://...")
    if args.duration < 1 or args.warmup < 0 or args.warmup + args.duration > MAX_DURATION:
        parser.error(f"--duration (at least 1) plus --warmup is at most {MAX_DURATION} seconds")
    if args.users < 1 or not 0 <= args.reps <= args.users:
        parser.error("--users must be at least 1 and --reps between 0 and --users")

    RESULTS.mkdir(parents=True, exist_ok=True)
    url = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{DATABASE}"))
    password = secrets.token_urlsafe(16)
    env = server_env(url, args.cache_url)
    server = None
    try:
        seed_seconds = prepare_database(url, env, keep=args.keep_db)
        print("== users, static files, cache", flush=True)
        manage(
            env,
            "shell",
            "-c",
            USERS_SCRIPT,
            extra={
                "LOAD_PASSWORD": password,
                "LOAD_ADMIN": ADMIN_USER,
                "LOAD_REP": REP_USER,
                "LOAD_REP_GROUP": REP_GROUP,
            },
        )
        manage(env, "collectstatic", "--no-input", "--verbosity", "0")
        empty_cache(args.cache_url)
        work = load_work(url, args.users)
        server = Server(env, workers=args.workers)
        print(f"== gunicorn, {args.workers} workers on 127.0.0.1:{server.port}", flush=True)
        server.start()
        load_before = os.getloadavg()
        print(
            f"== {args.users} users ({args.reps} reps): {args.warmup} s warm-up, "
            f"{args.duration} s timed, "
            f"load average {format_load(load_before)}",
            flush=True,
        )
        run = run_load(server.port, password, work, args)
        load_after = os.getloadavg()
        mismatched = check_stages(url, run.expected)
    finally:
        if server is not None:
            server.stop()
        if not args.keep_db:
            marker(url).unlink(missing_ok=True)
            databases.drop(url)

    report = build_report(run, args, seed_seconds, work, load_before, load_after, mismatched)
    print_report(report)
    out = RESULTS / "load-postgresql.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten {out.relative_to(ROOT)}")
    if run.warmup_errors or any(run.errors.values()) or mismatched:
        print_failures(run, mismatched, server)
        return 1
    server.log.unlink()
    return 0


# The database and the server.


def server_env(url: str, cache_url: str) -> dict[str, str]:
    """Production settings (README, "Production") minus HTTPS, which 127.0.0.1 does not speak."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "CACHE_URL": cache_url,
        "PYTHONPATH": str(ROOT),
    }


def manage(env: dict, *command: str, extra: dict | None = None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env={**env, **(extra or {})}, check=True
    )


def marker(url: str) -> Path:
    return RESULTS / f".seeded-load-{urlsplit(url).path.strip('/')}.json"


def is_seeded(url: str) -> bool:
    path = marker(url)
    if not path.exists() or json.loads(path.read_text()) != {**SIZES, "seed": SEED}:
        return False
    return databases.exists(url)


def prepare_database(url: str, env: dict, *, keep: bool) -> float | None:
    """Migrate (always: a no-op when current) and seed unless a kept database is reused;
    returns the seconds seeding took, None when reused."""
    if keep and is_seeded(url):
        print(f"== {DATABASE}: reusing the seeded database", flush=True)
        manage(env, "migrate", "--no-input", "--verbosity", "0")
        return None
    print(f"== {DATABASE}: migrating and seeding", flush=True)
    marker(url).unlink(missing_ok=True)
    databases.recreate(url)
    manage(env, "migrate", "--no-input", "--verbosity", "0")
    started = time.perf_counter()
    seed = [f"--{name}={count}" for name, count in SIZES.items()]
    manage(env, "crm_seed", *seed, f"--seed={SEED}")
    with connect(url) as connection:
        connection.execute("VACUUM ANALYZE")
    seconds = round(time.perf_counter() - started, 1)
    if keep:
        marker(url).write_text(json.dumps({**SIZES, "seed": SEED}))
    return seconds


def connect(url: str):
    import psycopg

    conninfo = urlunsplit(urlsplit(url)._replace(scheme="postgresql"))
    return psycopg.connect(conninfo, autocommit=True)


def empty_cache(cache_url: str) -> None:
    """A cache left by an earlier run may hold figures of a database since re-seeded."""
    import redis

    redis.Redis.from_url(cache_url).flushdb()


@dataclass
class Work:
    stages: tuple[int, int]
    deals: list[dict[int, int]]  # per user: deal id -> its stage now
    rows: dict[str, int]


def load_work(url: str, users: int) -> Work:
    """The first two open stages and DEALS_PER_USER deals in them for each user."""
    with connect(url) as connection:
        stages = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM crm_admin_stage WHERE outcome = 'open' ORDER BY \"order\", id"
            )
        ]
        if len(stages) < 2:
            raise SystemExit("The load needs two open stages; the seeded pipeline has fewer.")
        deals = connection.execute(
            "SELECT id, stage_id FROM crm_admin_deal WHERE stage_id IN (%s, %s) "
            "ORDER BY id DESC LIMIT %s",
            [stages[0], stages[1], users * DEALS_PER_USER],
        ).fetchall()
        rows = {
            table: connection.execute(f"SELECT count(*) FROM crm_admin_{table}").fetchone()[0]
            for table in ("company", "contact", "deal", "contactnote", "dealnote")
        }
    if len(deals) < users * BULK_SELECTION:
        raise SystemExit("Too few deals in the first two open stages for the load.")
    return Work(
        stages=(stages[0], stages[1]),
        deals=[dict(deals[index::users]) for index in range(users)],
        rows=rows,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn in its own session (Ctrl-C reaches this script, which stops it), its log in a
    temporary file."""

    def __init__(self, env: dict, *, workers: int):
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="load-gunicorn-", suffix=".log")[1])
        self.process = None

    def start(self, timeout: float = 90) -> None:
        command = [sys.executable, "-m", "gunicorn", "project.wsgi"]
        command += ["--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}"]
        command += ["--graceful-timeout", "10"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}:\n{self.tail()}")
            try:
                status, _headers, _body = Client(self.port).request("GET", "/admin/login/")
            except OSError:
                status = None
            if status == 200:
                return
            time.sleep(0.5)
        raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: gunicorn's graceful shutdown
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# The load.


class Client:
    """One browser: a cookie jar and a new connection per request (gunicorn's sync workers
    close every connection after its answer)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, form: dict | list | None = None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                # Sent back as received, quoted or not, as a browser does.
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.coded_value
                else:
                    self.cookies.pop(name, None)
        return response.status, response.headers, data

    @property
    def csrf(self) -> str:
        return self.cookies.get("csrftoken", "")


@dataclass
class Run:
    timings: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: list[str] = field(default_factory=list)
    expected: dict[int, int] = field(default_factory=dict)  # deal id -> stage of its last move
    elapsed: float = 0.0
    measure_from: float = math.inf  # perf_counter() at the end of the warm-up
    warmup_requests: int = 0
    warmup_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, started: float, ms: float, problem: str | None) -> None:
        """Time a request started after the warm-up; count an error whenever it happened."""
        with self.lock:
            warmup = started < self.measure_from
            if warmup:
                self.warmup_requests += 1
            else:
                self.timings[kind].append(ms)
            if problem:
                if warmup:
                    self.warmup_errors += 1
                else:
                    self.errors[kind] += 1
                if len(self.samples) < ERRORS_SHOWN:
                    self.samples.append(f"{kind}: {problem}")


class VirtualUser:
    def __init__(self, index: int, port: int, username: str, password: str, work, run, stop):
        self.client = Client(port)
        self.username = username
        self.password = password
        self.rng = random.Random(SEED * 1000 + index)
        self.stages = work.stages
        self.deals = work.deals[index]
        self.order = list(self.deals)
        self.next_deal = 0
        self.run = run
        self.stop = stop

    def call(self, kind, method, path, *, expect=200, form=None, headers=None, check=None):
        """Time one request; anything but `expect` (and `check`'s approval) is an error."""
        started = time.perf_counter()
        problem = None
        try:
            status, answer_headers, body = self.client.request(
                method, path, form=form, headers=headers
            )
        except (OSError, http.client.HTTPException) as error:
            status, answer_headers, body = None, {}, b""
            problem = f"{method} {path}: {type(error).__name__}: {error}"
        ms = (time.perf_counter() - started) * 1000
        if problem is None and status != expect:
            where = answer_headers.get("Location", "")
            problem = f"{method} {path} answered {status} {where}: {snippet(body)}"
        if problem is None and check is not None:
            problem = check(answer_headers, body)
        self.run.record(kind, started, ms, problem)
        return problem is None, answer_headers, body

    def login(self) -> bool:
        ok, _headers, _body = self.call("login", "GET", "/admin/login/")
        if not ok:
            return False
        form = {
            "username": self.username,
            "password": self.password,
            "csrfmiddlewaretoken": self.client.csrf,
            "next": "/admin/",
        }
        ok, _headers, _body = self.call(
            "login",
            "POST",
            "/admin/login/?next=/admin/",
            form=form,
            expect=302,
            check=lambda headers, body: (
                None if headers.get("Location") == "/admin/" else "login did not land on /admin/"
            ),
        )
        return ok

    def loop(self) -> None:
        if not self.login():
            return
        kinds, weights = zip(*MIX, strict=True)
        while not self.stop.is_set():
            kind = self.rng.choices(kinds, weights)[0]
            getattr(self, "do_" + kind.lower().replace(" ", "_"))(kind)

    def do_contact_list(self, kind):
        self.call(kind, "GET", "/admin/crm_admin/contact/")

    def do_deal_list(self, kind):
        self.call(kind, "GET", "/admin/crm_admin/deal/")

    def do_contact_search(self, kind):
        term = self.rng.choice(CONTACT_TERMS)
        self.call(kind, "GET", f"/admin/crm_admin/contact/?q={term}")

    def do_deal_search(self, kind):
        term = self.rng.choice(DEAL_TERMS)
        self.call(kind, "GET", f"/admin/crm_admin/deal/?q={term}")

    def do_pipeline_board(self, kind):
        self.call(kind, "GET", "/admin/crm_admin/deal/board/")

    def do_dashboard(self, kind):
        self.call(kind, "GET", "/admin/")

    def do_api_contacts(self, kind):
        self.call(kind, "GET", "/api/crm/contacts/", headers={"Accept": "application/json"})

    def do_api_deals(self, kind):
        self.call(kind, "GET", "/api/crm/deals/", headers={"Accept": "application/json"})

    def pick(self, count: int) -> list[int]:
        picked = [self.order[(self.next_deal + n) % len(self.order)] for n in range(count)]
        self.next_deal = (self.next_deal + count) % len(self.order)
        return picked

    def other_stage(self, deal: int) -> int:
        first, second = self.stages
        return second if self.deals[deal] == first else first

    def moved(self, deals: list[int], stage: int) -> None:
        for deal in deals:
            self.deals[deal] = stage
        with self.run.lock:
            self.run.expected.update(dict.fromkeys(deals, stage))

    def do_board_move(self, kind):
        (deal,) = self.pick(1)
        stage = self.other_stage(deal)

        def check(_headers, body):
            answer = json.loads(body)
            if answer.get("deal", {}).get("stage") != stage:
                return f"the move answered {snippet(body)}"
            return None

        ok, _headers, _body = self.call(
            kind,
            "POST",
            f"/admin/crm_admin/deal/{deal}/move/",
            form={"stage": stage, "csrfmiddlewaretoken": self.client.csrf},
            headers={"Accept": "application/json"},
            check=check,
        )
        if ok:
            self.moved([deal], stage)

    def do_bulk_action(self, _kind):
        """The browser's two posts (crm_admin/admin/actions.py): the action on the checked
        rows, which answers the stage question page, then that page's form with `apply`."""
        deals = self.pick(BULK_SELECTION)
        stage = self.other_stage(deals[0])
        selection = {
            "action": "move_to_stage",
            "select_across": "0",
            "index": "0",
            "_selected_action": [str(deal) for deal in deals],
            "csrfmiddlewaretoken": self.client.csrf,
        }
        path = "/admin/crm_admin/deal/"
        ok, _headers, _body = self.call(
            "bulk action: question",
            "POST",
            path,
            form=selection,
            check=lambda _headers, body: None if b'name="apply"' in body else "no question page",
        )
        if not ok:
            return
        ok, _headers, _body = self.call(
            "bulk action: apply",
            "POST",
            path,
            form={**selection, "stage": str(stage), "apply": "1"},
            expect=302,
        )
        if ok:
            self.moved(deals, stage)


def snippet(body: bytes, limit: int = 300) -> str:
    return " ".join(body.decode(errors="replace").split())[:limit]


def run_load(port: int, password: str, work: Work, args) -> Run:
    run = Run()
    stop = threading.Event()
    users = [
        VirtualUser(
            index, port, REP_USER if index < args.reps else ADMIN_USER, password, work, run, stop
        )
        for index in range(args.users)
    ]
    threads = [threading.Thread(target=user.loop, daemon=True) for user in users]
    run.measure_from = time.perf_counter() + args.warmup
    for thread in threads:
        thread.start()
    try:
        deadline = run.measure_from + args.duration
        while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    run.elapsed = time.perf_counter() - run.measure_from
    return run


def check_stages(url: str, expected: dict[int, int]) -> list[str]:
    """Every moved deal in the stage its last answered move chose; the misses, if any."""
    if not expected:
        return []
    with connect(url) as connection:
        found = dict(
            connection.execute(
                "SELECT id, stage_id FROM crm_admin_deal WHERE id = ANY(%s)", [list(expected)]
            ).fetchall()
        )
    return [
        f"deal {deal}: stage {found.get(deal)}, expected {stage}"
        for deal, stage in sorted(expected.items())
        if found.get(deal) != stage
    ]


# The report.


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def summary(timings: list[float], errors: int, elapsed: float) -> dict:
    if not timings:
        return {
            "requests": 0,
            "rps": 0.0,
            "p50_ms": None,
            "p95_ms": None,
            "p99_ms": None,
            "errors": 0,
        }
    return {
        "requests": len(timings),
        "rps": round(len(timings) / elapsed, 2),
        "p50_ms": round(percentile(timings, 0.50), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "p99_ms": round(percentile(timings, 0.99), 1),
        "errors": errors,
    }


def format_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def build_report(run, args, seed_seconds, work, load_before, load_after, mismatched) -> dict:
    every = [ms for timings in run.timings.values() for ms in timings]
    return {
        "engine": "postgresql",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": work.rows,
        "seed_seconds": seed_seconds,
        "server": f"gunicorn, {args.workers} sync workers, DEBUG off, shared cache",
        "users": args.users,
        "reps": args.reps,
        "duration_s": args.duration,
        "warmup": {
            "seconds": args.warmup,
            "requests": run.warmup_requests,
            "errors": run.warmup_errors,
        },
        "elapsed_s": round(run.elapsed, 1),
        "cpus": os.cpu_count(),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "mix": dict(MIX),
        "kinds": {
            kind: summary(run.timings[kind], run.errors[kind], run.elapsed) for kind in KINDS
        },
        "overall": summary(every, sum(run.errors.values()), run.elapsed),
        "deals_moved": len(run.expected),
        "stage_mismatches": mismatched,
        "error_samples": run.samples,
    }


def print_report(report: dict) -> None:
    rows = ", ".join(f"{count:,} {table}" for table, count in report["rows"].items())
    seeded = f", seeded in {report['seed_seconds']} s" if report["seed_seconds"] else ""
    warmup = report["warmup"]
    print(f"\nLoad on PostgreSQL: {rows}{seeded}")
    print(
        f"{report['server']}; {report['users']} users ({report['reps']} reps), no think time; "
        f"{warmup['requests']} requests in a {warmup['seconds']} s warm-up ({warmup['errors']} "
        f"errors), then {report['elapsed_s']} s timed; load average "
        f"{format_load(report['load_average']['before'])} before, "
        f"{format_load(report['load_average']['after'])} after "
        f"({report['cpus']} CPUs)"
    )
    header = ["request", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
    table = [header]
    for kind, stats in [*report["kinds"].items(), ("overall", report["overall"])]:
        if not stats["requests"]:
            table.append([kind, "0", "-", "-", "-", "-", "-"])
            continue
        table.append(
            [
                kind,
                str(stats["requests"]),
                f"{stats['rps']:.2f}",
                f"{stats['p50_ms']:.0f}",
                f"{stats['p95_ms']:.0f}",
                f"{stats['p99_ms']:.0f}",
                str(stats["errors"]),
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for index, row in enumerate(table):
        if index == len(table) - 1:
            print("-+-".join("-" * width for width in widths))
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print(" | ".join(cells))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    checked = "all in their expected stage" if not report["stage_mismatches"] else "MISMATCHES"
    print(f"\n{report['deals_moved']} deals moved by the board and the bulk action: {checked}")


def print_failures(run: Run, mismatched: list[str], server) -> None:
    for sample in run.samples:
        print(f"ERROR {sample}", file=sys.stderr)
    for line in mismatched[:ERRORS_SHOWN]:
        print(f"MISMATCH {line}", file=sys.stderr)
    if server is not None:
        print(f"\nThe end of gunicorn's log ({server.log}):\n{server.tail()}", file=sys.stderr)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # main()'s cleanup has run by now: gunicorn stopped, the database dropped unless kept.
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
