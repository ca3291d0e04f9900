"""Two people at once: writers on SQLite wait their turn instead of failing, imports of one model
run one after the other, and an import the database refuses halfway writes nothing.

Every test here runs real transactions on separate connections, one per thread. On SQLite they
use a file database of their own (the suite's in-memory database has one connection, and
other test runs in the same tree must not share the file); on PostgreSQL the test database,
with committed transactions.
"""

import sqlite3
import threading
from io import StringIO

import pytest
import tablib
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.utils import load_backend
from import_export.results import RowResult

from crm_admin.deal_history import DealStageChange
from crm_admin.models import Company, Contact, ContactNote, Deal, Stage
from crm_admin.resources import ContactResource, DealResource, read_csv
from crm_admin.services import deals_move_to_stage
from tests.test_import import DEAL_HEADER

# How long a thread that holds a transaction gives the other thread to get in its way, where
# nothing shows that the other is waiting (SQLite). Enough for the interleaving to happen on
# a busy machine without the fix; with the fix the other thread is blocked meanwhile.
INTERLEAVE_SECONDS = 1.5

requires_sqlite = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's own locking; PostgreSQL locks by rows"
)
requires_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs two connections writing at once"
)


class Worker(threading.Thread):
    """`work()` in a thread of its own, on its own connection (closed at the end); outcome()
    gives its result or raises its exception."""

    def __init__(self, work, connect):
        super().__init__(daemon=True)
        self.work, self.connect = work, connect
        self.result = self.error = None
        self.done = threading.Event()

    def run(self):
        self.connect()
        try:
            self.result = self.work()
        except Exception as error:  # handed to the test thread by outcome()
            self.error = error
        finally:
            connections.close_all()
            self.done.set()

    def outcome(self):
        self.join(timeout=120)
        assert not self.is_alive(), "the thread is still waiting"
        if self.error is not None:
            raise self.error
        return self.result


class Databases:
    """What a test needs to run threads on the database under test."""

    def __init__(self, connect):
        self.connect = connect

    def start(self, work) -> Worker:
        worker = Worker(work, self.connect)
        worker.start()
        return worker

    def let_in(self, other: Worker) -> None:
        """Called by a thread inside its transaction: give `other` the chance to read or
        write now. Returns once `other` has finished, or is blocked waiting for a lock."""
        if connection.vendor != "postgresql":
            other.done.wait(timeout=INTERLEAVE_SECONDS)
            return
        for _attempt in range(3000):
            if other.done.wait(timeout=0.01) or self.waiting_for_a_lock():
                return

    @staticmethod
    def waiting_for_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock')"
            )
            return cursor.fetchone()[0]


@pytest.fixture
def sqlite_file_db(django_db_setup, django_db_blocker, tmp_path):
    """The test database's schema in a file of this test's own, with the project's SQLite
    OPTIONS (WAL, IMMEDIATE transactions, busy timeout), as `default` in this thread and in
    every Worker; the in-memory test database is left untouched."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's file locking")
    with django_db_blocker.unblock():
        memory = connections["default"]
        file_settings = {**memory.settings_dict, "NAME": str(tmp_path / "crm.sqlite3")}
        memory.ensure_connection()
        target = sqlite3.connect(file_settings["NAME"])
        memory.connection.backup(target)
        target.close()

        def connect():
            backend = load_backend(file_settings["ENGINE"])
            connections["default"] = backend.DatabaseWrapper(file_settings, "default")

        connect()
        try:
            yield Databases(connect)
        finally:
            connections["default"].close()
            connections["default"] = memory


@pytest.fixture
def two_connections(request):
    """Databases for threads: a file SQLite database, or PostgreSQL's test database, where
    the test's transactions commit (the test needs `committed_db`)."""
    if connection.vendor == "sqlite":
        return request.getfixturevalue("sqlite_file_db")
    return Databases(lambda: None)


# Threads see only committed rows; the flush afterwards would also wipe the stages and saved
# filters of the data migrations, which serialized rollback restores for the next tests.
committed_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def stages() -> tuple[Stage, Stage]:
    """Two open stages (the file database may hold no data migration's rows)."""
    first, _new = Stage.objects.get_or_create(name="Prospecting", defaults={"order": 1})
    second, _new = Stage.objects.get_or_create(name="Qualified", defaults={"order": 2})
    return first, second


def contacts_file(count: int, *, company: str = "") -> tablib.Dataset:
    dataset = tablib.Dataset(headers=["first_name", "email", "company"])
    for i in range(count):
        dataset.append([f"P{i}", f"p{i}@example.com", company])
    return dataset


# --- SQLite: writers wait their turn ----------------------------------------------------


@requires_sqlite
def test_a_contact_save_and_a_note_logged_meanwhile_both_succeed(sqlite_file_db):
    contact = Contact.objects.create(first_name="Kim", email="kim@example.com")
    logging: list[Worker] = []

    def log_a_call():
        return ContactNote.objects.create(contact_id=contact.pk, text="Called")

    def save_contact():
        # As the admin saves: read the record, then write it, in one transaction. Without
        # IMMEDIATE transactions the note commits between the two and the write fails with
        # "database is locked".
        with transaction.atomic():
            loaded = Contact.objects.get(pk=contact.pk)
            logging.append(sqlite_file_db.start(log_a_call))
            sqlite_file_db.let_in(logging[0])
            loaded.title = "Buyer"
            loaded.save()

    sqlite_file_db.start(save_contact).outcome()
    note = logging[0].outcome()

    contact.refresh_from_db()
    assert contact.title == "Buyer"
    assert list(contact.notes.values_list("text", flat=True)) == ["Called"]
    assert contact.last_contacted_at == note.created_at


@requires_sqlite
def test_a_long_import_and_board_moves_meanwhile_all_succeed(sqlite_file_db):
    first, second = stages()
    deal = Deal.objects.create(
        title="Pilot",
        contact=Contact.objects.create(first_name="Kim", email="kim@example.com"),
        stage=first,
    )
    checking, imported = threading.Event(), threading.Event()
    moved: list[Stage] = []

    def move_cards():
        # A colleague on the board, moving one card back and forth until the import is over.
        while not (imported.is_set() and len(moved) >= 3):
            target = second if deal_stage() == first.pk else first
            assert deals_move_to_stage(deals=Deal.objects.filter(pk=deal.pk), stage=target) == 1
            moved.append(target)
        return len(moved)

    def deal_stage():
        return Deal.objects.values_list("stage_id", flat=True).get(pk=deal.pk)

    def progress(phase, done, total):
        if phase == "checking" and not checking.is_set():
            checking.set()
            # The rows are read: without IMMEDIATE transactions, a move lands here and the
            # import's first write fails with "database is locked".
            sqlite_file_db.let_in(mover)

    def run_import():
        try:
            return ContactResource().import_data(
                contacts_file(300, company="Nordwind"), dry_run=False, progress=progress
            )
        finally:
            imported.set()

    mover = sqlite_file_db.start(move_cards)
    importing = sqlite_file_db.start(run_import)
    result = importing.outcome()
    moves = mover.outcome()

    assert not result.has_errors(), result.error_lines()
    assert (result.created, result.errors) == (300, 0)
    assert Contact.objects.filter(company__name="Nordwind").count() == 300
    assert moves == len(moved) >= 3
    assert deal_stage() == moved[-1].pk


@committed_db
def test_two_moves_of_one_deal_at_once_chain_in_its_history(two_connections):
    first, second = stages()
    third, _new = Stage.objects.get_or_create(name="Proposal", defaults={"order": 3})
    deal = Deal.objects.create(
        title="Pilot",
        contact=Contact.objects.create(first_name="Kim", email="kim@example.com"),
        stage=first,
    )
    later: list[Worker] = []

    def move_to_third():
        return deals_move_to_stage(deals=Deal.objects.filter(pk=deal.pk), stage=third)

    def move_to_second():
        with transaction.atomic():
            moved = deals_move_to_stage(deals=Deal.objects.filter(pk=deal.pk), stage=second)
            # A colleague moves the same card now. Without the row lock, their history row
            # reads the stage before this move (first -> third) and the chain breaks.
            later.append(two_connections.start(move_to_third))
            two_connections.let_in(later[0])
            return moved

    assert two_connections.start(move_to_second).outcome() == 1
    assert later[0].outcome() == 1

    rows = list(
        DealStageChange.objects.filter(deal=deal)
        .order_by("changed_at", "id")
        .values_list("from_stage", "to_stage", "changed_at", "from_stage_entered_at")
    )
    assert [(row[0], row[1]) for row in rows] == [
        (None, first.pk),
        (first.pk, second.pk),
        (second.pk, third.pk),
    ]
    assert rows[2][3] == rows[1][2]  # the time in `second` starts when the first move made it
    assert Deal.objects.get(pk=deal.pk).stage_entered_at == rows[2][2]


# --- imports of one model run one after the other ---------------------------------------


DEALS_FILE = f"{DEAL_HEADER},Pilot,ana@example.com,,Prospecting,,,,\n"


def deals_file() -> tablib.Dataset:
    return read_csv(DEALS_FILE.encode())


def import_deals_with_the_resource():
    result = DealResource().import_data(deals_file(), dry_run=False)
    assert not result.has_errors(), result.error_lines()
    return (result.created, result.updated, result.unchanged)


def import_deals_with_the_command(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(DEALS_FILE, encoding="utf-8")

    def run():
        out = StringIO()
        call_command("crm_import", "deals", str(path), stdout=out, stderr=StringIO())
        return out.getvalue()

    return run


@committed_db
@pytest.mark.parametrize("second_by", ["resource", "crm_import"])
def test_two_imports_of_one_deals_file_at_once_create_the_deal_once(
    two_connections, tmp_path, second_by
):
    stages()
    Contact.objects.create(first_name="Ana", email="ana@example.com")
    if second_by == "resource":
        second_import = import_deals_with_the_resource
    else:
        second_import = import_deals_with_the_command(tmp_path)
    started: list[Worker] = []

    def progress(phase, done, total):
        if phase == "checking" and not started:
            # The first import has read the deals; the second starts now and, without the
            # lock, reads them too before the first writes "Pilot".
            started.append(two_connections.start(second_import))
            two_connections.let_in(started[0])

    def first_import():
        return DealResource().import_data(deals_file(), dry_run=False, progress=progress)

    first = two_connections.start(first_import).outcome()
    second = started[0].outcome()

    assert Deal.objects.filter(title="Pilot").count() == 1
    assert (first.created, first.errors) == (1, 0)
    if second_by == "resource":
        assert second == (0, 0, 1)
    else:
        assert "1 rows: 0 created, 0 updated, 1 unchanged, 0 errors." in second
    # And the file re-imports without "2 deals of this contact have this title".
    assert import_deals_with_the_resource() == (0, 0, 1)


@requires_postgresql
@committed_db
def test_an_import_refused_by_a_constraint_while_writing_saves_nothing():
    databases = Databases(lambda: None)
    rows = contacts_file(3, company="Nordwind")
    rows.append(["Sam", "sam@example.com", "Nordwind"])

    def add_sam():
        return Contact.objects.create(first_name="Samuel", email="SAM@example.com")

    def progress(phase, done, total):
        if phase == "checking":
            # Checked as new; another connection commits the same email (in another case)
            # before the import writes: the unique constraint refuses the import's INSERT.
            databases.start(add_sam).outcome()

    result = ContactResource().import_data(rows, dry_run=False, progress=progress)

    assert result.has_errors()
    assert "The database refused the import, nothing was saved" in str(result.error_lines()[0])
    assert list(Contact.objects.values_list("email", flat=True)) == ["SAM@example.com"]
    assert not Company.objects.filter(name="Nordwind").exists()
    assert result.totals[RowResult.IMPORT_TYPE_NEW] == 4
