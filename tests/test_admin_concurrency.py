"""Two people at once on a change form: a stale form is refused, a save writes only its changes.

Each test opens the form as a browser does (GET), lets the record change by another path, then
POSTs the form as it was. The PostgreSQL tests run the admin save and the other writer on two
connections at once and check that the other writer waits for the save's row lock.
"""

import re
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models.signals import pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.models import Company, Contact, ContactNote, Deal
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user, stage
from tests.forms import form_data

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two writers at once on SQLite are covered by the SQLite locking tests",
)
WHEN = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d"
NOT_SAVED = "Your changes are below and were not saved: reload the page to see the current values"


def change_url(obj) -> str:
    return reverse(f"admin:crm_admin_{obj._meta.model_name}_change", args=[obj.pk])


def open_form(client, obj, **changes) -> dict:
    """The change form of `obj` as the browser has it, with the user's edits typed in."""
    return form_data(client.get(change_url(obj)), f"{obj._meta.model_name}_form", **changes)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ann(db):
    return make_user(username="ann", first_name="Ann", last_name="Smith", is_superuser=True)


def page_of(response) -> str:
    assert response.status_code == 200, "a refused form is shown again, not a redirect"
    return response.content.decode()


@pytest.mark.django_db
def test_the_change_form_carries_the_version_it_was_opened_at(staff_client):
    deal = make_deal()
    data = open_form(staff_client, deal)
    assert data["_version"] == deal.updated_at.isoformat()


@pytest.mark.django_db
def test_a_deal_form_opened_before_mark_won_is_refused_and_keeps_the_input(staff_client, ann):
    deal = make_deal(title="Pilot", amount=Decimal("1000.00"), probability=40)
    stale = open_form(staff_client, deal, amount="2500.00", title="Pilot, phase 2")
    services.deals_mark_won(deals=Deal.objects.filter(pk=deal.pk), actor=ann)

    page = page_of(staff_client.post(change_url(deal), stale))

    assert re.search(
        rf"Ann Smith changed this deal at {WHEN} \(Moved to stage Closed-Won\)\.", page
    )
    assert NOT_SAVED in page
    assert 'value="2500.00"' in page and 'value="Pilot, phase 2"' in page
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability, deal.title) == ("Closed-Won", 100, "Pilot")
    assert deal.amount == Decimal("1000.00")


@pytest.mark.django_db
def test_a_deal_form_opened_before_a_board_move_is_refused(staff_client, ann):
    deal = make_deal()
    stale = open_form(staff_client, deal, probability="70")
    move = reverse("admin:crm_admin_deal_move", args=[deal.pk])
    login(ann).post(move, {"stage": stage("Negotiation").pk})

    page = page_of(staff_client.post(change_url(deal), stale))

    assert re.search(rf"Ann Smith changed this deal at {WHEN} \(Moved to stage Negotiation\)", page)
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability) == ("Negotiation", 50)


@pytest.mark.django_db
def test_a_contact_form_opened_before_a_bulk_tag_add_is_refused(staff_client, ann):
    contact = make_contact(title="Buyer")
    stale = open_form(staff_client, contact, title="Head of purchasing")
    vip = make_tag(name="VIP")
    services.tags_add(rows=Contact.objects.filter(pk=contact.pk), tags=[vip], actor=ann)

    page = page_of(staff_client.post(change_url(contact), stale))

    assert re.search(rf"Ann Smith changed this contact at {WHEN} \(Tags added: VIP\)\.", page)
    assert 'value="Head of purchasing"' in page
    contact.refresh_from_db()
    assert contact.title == "Buyer"
    assert list(contact.tags.all()) == [vip]


@pytest.mark.django_db
def test_a_contact_form_opened_before_an_import_changed_it_is_refused(staff_client):
    from crm_admin.resources import ContactResource, read_csv

    contact = make_contact(title="Buyer", phone="111")
    stale = open_form(staff_client, contact, title="Head of purchasing")
    data = f"email,first_name,phone\n{contact.email},{contact.first_name},222\n".encode()
    result = ContactResource().import_data(read_csv(data), dry_run=False)
    assert result.updated == 1

    page = page_of(staff_client.post(change_url(contact), stale))

    assert "This contact was changed at" in page and NOT_SAVED in page
    contact.refresh_from_db()
    assert (contact.title, contact.phone) == ("Buyer", "222")


@pytest.mark.django_db
def test_a_deal_form_opened_before_its_stage_changed_outcome_is_refused(staff_client, ann):
    negotiation = stage("Negotiation")
    deal = make_deal(stage=negotiation, amount=Decimal("100.00"))
    stale = open_form(staff_client, deal, amount="250.00")
    services.stage_change_outcome(stage=negotiation, outcome="won", actor=ann)

    page = page_of(staff_client.post(change_url(deal), stale))

    assert re.search(rf"Ann Smith changed this deal at {WHEN}", page)
    deal.refresh_from_db()
    assert deal.amount == Decimal("100.00") and deal.probability == 100


@pytest.mark.django_db
def test_a_contact_form_opened_before_a_bulk_tag_removal_is_refused(staff_client, ann):
    vip = make_tag(name="VIP")
    contact = make_contact(tags=[vip])
    stale = open_form(staff_client, contact, phone="+1 555 0100")
    services.tags_remove(rows=Contact.objects.filter(pk=contact.pk), tags=[vip], actor=ann)

    page = page_of(staff_client.post(change_url(contact), stale))

    assert "Ann Smith changed this contact at" in page and "(Tags removed: VIP)" in page
    contact.refresh_from_db()
    assert (contact.phone, list(contact.tags.all())) == ("", [])


@pytest.mark.django_db
def test_bulk_tag_changes_leave_rows_they_do_not_change_current():
    vip = make_tag(name="VIP")
    tagged, plain = make_contact(tags=[vip]), make_contact()
    versions = dict(Contact.objects.values_list("pk", "updated_at"))
    services.tags_add(rows=Contact.objects.all(), tags=[vip])
    assert Contact.objects.get(pk=tagged.pk).updated_at == versions[tagged.pk]
    assert Contact.objects.get(pk=plain.pk).updated_at > versions[plain.pk]
    services.tags_remove(rows=Contact.objects.filter(pk=tagged.pk), tags=[make_tag()])
    assert Contact.objects.get(pk=tagged.pk).updated_at == versions[tagged.pk]


@pytest.mark.django_db
def test_a_company_form_opened_before_a_colleagues_save_is_refused(staff_client, ann):
    company = make_company(name="Northwind", industry="Software")
    stale = open_form(staff_client, company, industry="Retail")
    response = login(ann).post(change_url(company), open_form(login(ann), company, name="Acme"))
    assert response.status_code == 302

    page = page_of(staff_client.post(change_url(company), stale))

    assert re.search(rf"Ann Smith changed this company at {WHEN} \(Changed Name\)\.", page)
    assert 'value="Retail"' in page
    company.refresh_from_db()
    assert (company.name, company.industry) == ("Acme", "Software")


@pytest.mark.django_db
def test_without_a_history_entry_the_refusal_says_when(staff_client):
    company = make_company(industry="Software")
    stale = open_form(staff_client, company, industry="Retail")
    Company.objects.filter(pk=company.pk).update(name="Renamed", updated_at=timezone.now())

    page = page_of(staff_client.post(change_url(company), stale))

    assert re.search(rf"This company was changed at {WHEN}, after you opened it\.", page)
    assert Company.objects.get(pk=company.pk).industry == "Software"


@pytest.mark.django_db
def test_a_form_without_its_version_is_refused(staff_client):
    deal = make_deal(probability=40)
    data = open_form(staff_client, deal, probability="60")
    del data["_version"]
    page = page_of(staff_client.post(change_url(deal), data))
    assert "This form does not say which version of the deal it was opened at" in page
    assert Deal.objects.get(pk=deal.pk).probability == 40


@pytest.mark.django_db
def test_a_refused_form_keeps_the_version_it_was_opened_at(staff_client, ann):
    deal = make_deal()
    stale = open_form(staff_client, deal, amount="5.00")
    services.deals_mark_won(deals=Deal.objects.filter(pk=deal.pk), actor=ann)
    again = form_data(staff_client.post(change_url(deal), stale), "deal_form")
    assert again["_version"] == stale["_version"], "sending it again must be refused again"
    page_of(staff_client.post(change_url(deal), again))
    assert Deal.objects.get(pk=deal.pk).amount == Decimal("1000.00")


@pytest.mark.django_db
def test_a_note_logged_meanwhile_is_no_conflict_and_keeps_last_contacted_at(staff_client):
    contact = make_contact(title="Buyer")
    stale = open_form(staff_client, contact, title="Head buyer")
    note = ContactNote.objects.create(contact=contact, text="Called, keen")

    response = staff_client.post(change_url(contact), stale)

    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.title, contact.last_contacted_at) == ("Head buyer", note.created_at)


@pytest.mark.django_db
def test_a_note_added_on_a_colleagues_form_does_not_make_mine_stale(staff_client, ann):
    contact = make_contact(title="Buyer")
    mine = open_form(staff_client, contact, title="Head buyer")
    colleague = login(ann)
    response = colleague.post(
        change_url(contact), open_form(colleague, contact, **{"notes-0-text": "Sent the offer"})
    )
    assert response.status_code == 302 and contact.notes.count() == 1

    assert staff_client.post(change_url(contact), mine).status_code == 302
    contact.refresh_from_db()
    assert contact.title == "Head buyer"
    assert contact.last_contacted_at == contact.notes.get().created_at


@pytest.mark.django_db
def test_a_note_logged_between_the_forms_read_and_write_keeps_last_contacted_at(staff_client):
    """The same interleaving as on two connections, forced on one: a note is logged after the
    admin loaded the contact for saving and before it writes."""
    contact = make_contact()
    data = open_form(staff_client, contact, title="Head buyer")
    logged = []

    def colleague_logs_a_call(sender, instance, **kwargs):
        if instance.pk == contact.pk and not logged:
            logged.append(ContactNote.objects.create(contact_id=contact.pk, text="Call"))

    pre_save.connect(colleague_logs_a_call, sender=Contact)
    try:
        assert staff_client.post(change_url(contact), data).status_code == 302
    finally:
        pre_save.disconnect(colleague_logs_a_call, sender=Contact)
    contact.refresh_from_db()
    assert (contact.title, contact.last_contacted_at) == ("Head buyer", logged[0].created_at)


def update_statements(queries, table: str) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]


@pytest.mark.django_db
def test_a_deal_save_writes_only_the_changed_column(staff_client):
    deal = make_deal(tags=[make_tag()], probability=40)
    data = open_form(staff_client, deal, amount="2500.00")
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.post(change_url(deal), data).status_code == 302
    (update,) = update_statements(queries, "crm_admin_deal")
    assignments = update.split(" SET ")[1].split(" WHERE ")[0]
    assert sorted(re.findall(r'"(\w+)" =', assignments)) == ["amount", "updated_at"]
    # One read: the tags the form compares with; rewriting them would read the links again.
    tag_queries = [q for q in queries if '"crm_admin_deal_tags"' in q["sql"]]
    assert len(tag_queries) == 1, "the tags the form left alone are not rewritten"


@pytest.mark.django_db
def test_a_stage_change_from_the_form_writes_the_stage_rule_with_it(staff_client):
    deal = make_deal(probability=40)
    data = open_form(staff_client, deal, stage=str(stage("Closed-Won").pk))
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.post(change_url(deal), data).status_code == 302
    (update,) = update_statements(queries, "crm_admin_deal")
    assert '"stage_id" =' in update and '"closed_at" =' in update and '"title" =' not in update
    deal.refresh_from_db()
    assert (deal.probability, deal.closed_at is not None) == (100, True)


@pytest.mark.django_db
def test_a_contact_save_never_writes_last_contacted_at(staff_client):
    contact = make_contact()
    data = open_form(staff_client, contact, phone="+1 555 0100")
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.post(change_url(contact), data).status_code == 302
    (update,) = update_statements(queries, "crm_admin_contact")
    assignments = update.split(" SET ")[1].split(" WHERE ")[0]
    assert sorted(re.findall(r'"(\w+)" =', assignments)) == ["phone", "phone_key", "updated_at"]


@pytest.mark.django_db
def test_adding_only_a_note_does_not_write_the_contact_row(staff_client):
    contact = make_contact()
    data = open_form(staff_client, contact, **{"notes-0-text": "Called"})
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.post(change_url(contact), data).status_code == 302
    updates = update_statements(queries, "crm_admin_contact")
    assert len(updates) == 1 and '"last_contacted_at" =' in updates[0], "only the note's touch"
    assert Contact.objects.get(pk=contact.pk).updated_at == contact.updated_at


@pytest.mark.django_db
def test_changed_tags_are_saved_and_bump_the_version(staff_client):
    vip, partner = make_tag(name="VIP"), make_tag(name="Partner")
    contact = make_contact(tags=[vip])
    opened_at = contact.updated_at
    data = open_form(staff_client, contact, tags=[str(partner.pk)])
    assert staff_client.post(change_url(contact), data).status_code == 302
    contact.refresh_from_db()
    assert list(contact.tags.all()) == [partner]
    assert contact.updated_at > opened_at


# Two connections at once (PostgreSQL): the admin save is held inside its transaction, right
# before it writes, while another writer runs on its own connection.


def waits_for_a_lock(pid: int, worker: threading.Thread) -> bool:
    """Whether the backend `pid` gets stuck waiting for a lock while `worker` runs."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while worker.is_alive() and time.monotonic() < deadline:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return True
            time.sleep(0.01)
    return False


class Worker(threading.Thread):
    """Runs `work` on its own database connection; keeps its result or error."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.result = self.error = self.pid = None
        self.started_work = threading.Event()

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.started_work.set()
            self.result = self.work()
        except BaseException as error:  # reported by the test thread
            self.error = error
        finally:
            self.started_work.set()
            connections.close_all()


def hold_admin_save_then(*, model, client, url, data, other):
    """POST the admin form in one thread; when its save reaches the write (pre_save), run
    `other` in a second thread and see whether it waits for a lock. Returns (admin response,
    whether the other writer waited, the other writer's result)."""
    reached_write, resume = threading.Event(), threading.Event()
    admin = Worker(lambda: client.post(url, data))

    def hold(sender, **kwargs):
        if threading.current_thread() is admin:
            reached_write.set()
            resume.wait(timeout=20)

    pre_save.connect(hold, sender=model)
    try:
        admin.start()
        assert reached_write.wait(timeout=20), "the admin save never reached its write"
        writer = Worker(other)
        writer.start()
        writer.started_work.wait(timeout=20)
        waited = waits_for_a_lock(writer.pid, writer)
        resume.set()
        admin.join(timeout=20)
        writer.join(timeout=20)
    finally:
        resume.set()
        pre_save.disconnect(hold, sender=model)
    for worker in (admin, writer):
        if worker.error:
            raise worker.error
    return admin.result, waited, writer.result


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_note_logged_during_a_contact_save_waits_for_it_and_is_kept(admin_user):
    contact = make_contact(title="Buyer")
    client = login(admin_user)
    data = open_form(client, contact, title="Head buyer")

    response, waited, note = hold_admin_save_then(
        model=Contact,
        client=client,
        url=change_url(contact),
        data=data,
        other=lambda: ContactNote.objects.create(contact_id=contact.pk, text="Called"),
    )

    assert response.status_code == 302
    assert waited, "the note must wait for the contact row the save has locked"
    contact.refresh_from_db()
    assert (contact.title, contact.last_contacted_at) == ("Head buyer", note.created_at)


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_of_two_stale_deal_forms_saved_at_once_the_second_is_refused(admin_user, ann):
    deal = make_deal(probability=40)
    mine, hers = login(admin_user), login(ann)
    my_form = open_form(mine, deal, stage=str(stage("Negotiation").pk))
    her_form = open_form(hers, deal, amount="7000.00")

    _response, waited, refused = hold_admin_save_then(
        model=Deal,
        client=hers,
        url=change_url(deal),
        data=her_form,
        other=lambda: mine.post(change_url(deal), my_form),
    )

    assert waited, "the second save must wait for the row the first one has locked"
    page = page_of(refused)
    assert re.search(rf"Ann Smith changed this deal at {WHEN} \(Changed Amount\)\.", page)
    deal.refresh_from_db()
    assert (deal.stage.name, deal.amount) == ("Prospecting", Decimal("7000.00"))


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_mark_won_during_a_deal_save_waits_and_applies_after_it(admin_user):
    deal = make_deal(probability=40)
    client = login(admin_user)
    data = open_form(client, deal, stage=str(stage("Negotiation").pk), amount="3000.00")

    response, waited, won = hold_admin_save_then(
        model=Deal,
        client=client,
        url=change_url(deal),
        data=data,
        other=lambda: services.deals_mark_won(deals=Deal.objects.filter(pk=deal.pk)),
    )

    assert response.status_code == 302 and won == 1
    assert waited, "mark won must wait for the row the save has locked"
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability, deal.amount) == (
        "Closed-Won",
        100,
        Decimal("3000.00"),
    )
