"""Next steps in the admin, driven as a user does: the fieldset saved with a note, the reminder
after a note, the closing rule on every admin path, the list column, filters and sort at a
fixed "today", the saved filters, the bulk action and the board's marks."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.models import Contact, ContactNote, Deal, DealNote, NextStepDue, SavedFilter
from tests.factories import lost_reason, make_contact, make_deal, make_user, stage
from tests.forms import form_data

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
CONTACTS = reverse("admin:crm_admin_contact_changelist")
BOARD = reverse("admin:crm_admin_deal_board")

# An instant and the date it is in each zone: the last day of November in UTC, already the
# first of December in Auckland; the first of December in UTC, still November 30 in Los Angeles.
ZONES = [
    ("UTC", datetime(2026, 11, 30, 11, 30, tzinfo=UTC), date(2026, 11, 30)),
    ("Pacific/Auckland", datetime(2026, 11, 30, 11, 30, tzinfo=UTC), date(2026, 12, 1)),
    ("America/Los_Angeles", datetime(2026, 12, 1, 5, 0, tzinfo=UTC), date(2026, 11, 30)),
]


@pytest.fixture
def clock(monkeypatch, settings):
    """Stop Django's clock at an instant in a zone: every `timezone.now()`, and so the
    filters' `timezone.localdate()`, then says that moment."""

    def stop_at(zone: str, instant: datetime) -> None:
        settings.TIME_ZONE = zone
        monkeypatch.setattr(timezone, "now", lambda: instant)

    return stop_at


def change_url(obj) -> str:
    return reverse(f"admin:crm_admin_{obj._meta.model_name}_change", args=[obj.pk])


def open_form(client, obj, **changes) -> dict:
    return form_data(client.get(change_url(obj)), f"{obj._meta.model_name}_form", **changes)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def listed(client, url, **params) -> list:
    response = client.get(url, params)
    assert response.status_code == 200, f"{url}?{params} answered {response.status_code}"
    assert "e" not in response.wsgi_request.GET
    return list(response.context["cl"].result_list)


def days(today: date, n: int) -> date:
    return today + timedelta(days=n)


# --- the change pages ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["deal", "contact"])
def test_the_next_step_fieldset_sits_right_before_the_notes_and_saves_with_a_note(
    staff_client, admin_user, model
):
    record = make_deal() if model == "deal" else make_contact()
    due = days(timezone.localdate(), 3)
    page = staff_client.get(change_url(record)).content.decode()
    names = re.findall(r'name="([^"]+)"', page)
    # Nothing of the record's own between the next step and the notes inline.
    after = names[names.index("next_step_due") + 1 : names.index("notes-0-text")]
    assert names.index("next_step") == names.index("next_step_due") - 1
    assert all(name.startswith("notes-") for name in after), after

    data = open_form(
        staff_client,
        record,
        **{"notes-0-text": "Met the buyer", "next_step": "Send the quote"},
        next_step_due=due.isoformat(),
    )
    response = staff_client.post(change_url(record), data, follow=True)
    assert response.redirect_chain[0][1] == 302
    record.refresh_from_db()
    assert (record.next_step, record.next_step_due) == ("Send the quote", due)
    note = (DealNote if model == "deal" else ContactNote).objects.get()
    assert (note.text, note.created_by) == ("Met the buyer", admin_user)
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]


def test_a_due_date_without_a_step_is_refused_on_the_form(staff_client):
    deal = make_deal()
    data = open_form(staff_client, deal, next_step_due=timezone.localdate().isoformat())
    response = staff_client.post(change_url(deal), data)
    assert response.status_code == 200
    assert "Say what the next step is, or leave its date empty." in response.content.decode()
    deal.refresh_from_db()
    assert deal.next_step_due is None


def test_a_contact_has_an_owner_chosen_by_autocomplete_defaulting_to_the_user(
    staff_client, admin_user
):
    add = reverse("admin:crm_admin_contact_add")
    page = staff_client.get(add)
    owner_select = re.search(r'<select name="owner"[^>]*>.*?</select>', page.content.decode(), re.S)
    assert owner_select and "admin-autocomplete" in owner_select.group(0)
    data = form_data(page, "contact_form", first_name="Ola", last_name="Nord")
    data["email"] = "ola@example.com"
    assert data["owner"] == str(admin_user.pk)
    assert staff_client.post(add, data).status_code == 302
    assert Contact.objects.get(email="ola@example.com").owner == admin_user

    colleague = make_user()
    contact = Contact.objects.get(email="ola@example.com")
    staff_client.post(change_url(contact), open_form(staff_client, contact, owner=colleague.pk))
    contact.refresh_from_db()
    assert contact.owner == colleague


def update_columns(queries, table: str) -> list[list[str]]:
    updates = [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]
    return [
        sorted(re.findall(r'"(\w+)" =', sql.split(" SET ")[1].split(" WHERE ")[0]))
        for sql in updates
    ]


@pytest.mark.parametrize("model", ["deal", "contact"])
def test_saving_only_the_next_step_writes_only_its_columns(staff_client, model):
    record = make_deal() if model == "deal" else make_contact()
    data = open_form(
        staff_client, record, next_step="Call", next_step_due=timezone.localdate().isoformat()
    )
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.post(change_url(record), data).status_code == 302
    assert update_columns(queries, f"crm_admin_{model}") == [
        ["next_step", "next_step_due", "updated_at"]
    ]


def test_a_form_opened_before_the_bulk_next_step_is_refused(staff_client, admin_user):
    deal = make_deal()
    data = open_form(staff_client, deal, next_step="Mine")
    services.next_steps_set(rows=Deal.objects.filter(pk=deal.pk), text="Theirs", actor=admin_user)
    response = staff_client.post(change_url(deal), data)
    assert response.status_code == 200
    assert "Your changes are below and were not saved" in response.content.decode()
    deal.refresh_from_db()
    assert deal.next_step == "Theirs"


# --- the reminder after a note -------------------------------------------------------------


def save_with_note(client, record, **changes):
    data = open_form(client, record, **{"notes-0-text": "Called them"}, **changes)
    response = client.post(change_url(record), data, follow=True)
    assert response.redirect_chain, "saved"
    return messages_of(response)


@pytest.mark.parametrize("model", ["deal", "contact"])
def test_a_note_on_a_record_without_a_next_step_says_to_set_one(staff_client, model):
    record = make_deal() if model == "deal" else make_contact()
    said = save_with_note(staff_client, record)
    assert said[0].endswith("was changed successfully.")
    assert said[1:] == [f"No next step for this {model}: set one so it is not forgotten."]


def test_a_note_on_a_record_with_an_overdue_step_says_so(staff_client, clock):
    clock("Pacific/Auckland", datetime(2026, 11, 30, 11, 30, tzinfo=UTC))  # Dec 1 there
    deal = make_deal(next_step="Send the quote", next_step_due=date(2026, 11, 28))
    assert save_with_note(staff_client, deal)[1:] == [
        "The next step of this deal is overdue (due 28 Nov): move its date, or set the step "
        "that comes next."
    ]
    contact = make_contact(next_step="Call", next_step_due=date(2025, 11, 30))
    assert "overdue (due 30 Nov 2025)" in save_with_note(staff_client, contact)[1]


def test_no_reminder_when_the_step_is_fine_closed_or_no_note_was_added(staff_client):
    today = timezone.localdate()
    fine = make_deal(next_step="Call", next_step_due=today)
    assert len(save_with_note(staff_client, fine)) == 1
    undated = make_contact(next_step="Some day")
    assert len(save_with_note(staff_client, undated)) == 1
    won = make_deal(stage=stage("Closed-Won"))
    assert len(save_with_note(staff_client, won)) == 1
    # Setting the step in the same save as the note: nothing to remind.
    assert len(save_with_note(staff_client, make_deal(), next_step="Book a demo")) == 1
    deal = make_deal()
    response = staff_client.post(
        change_url(deal), open_form(staff_client, deal, title="Renamed"), follow=True
    )
    assert len(messages_of(response)) == 1


def test_a_note_added_on_the_add_page_reminds_too(staff_client):
    add = reverse("admin:crm_admin_contact_add")
    data = form_data(staff_client.get(add), "contact_form", email="new@example.com")
    data.update({"first_name": "New", "last_name": "Person", "notes-0-text": "First call"})
    response = staff_client.post(add, data, follow=True)
    assert messages_of(response)[1:] == [
        "No next step for this contact: set one so it is not forgotten."
    ]


# --- the closing rule on every admin path --------------------------------------------------


def test_a_deal_form_closing_the_deal_clears_its_step_and_says_so(staff_client):
    deal = make_deal(next_step="Send the quote", next_step_due=timezone.localdate())
    data = open_form(staff_client, deal, stage=str(stage("Closed-Won").pk))
    response = staff_client.post(change_url(deal), data, follow=True)
    (said,) = messages_of(response)
    assert said.endswith(
        "was changed successfully. Its next step “Send the quote” was cleared: a won or lost "
        "deal has none."
    )
    deal.refresh_from_db()
    assert (deal.stage.name, deal.next_step, deal.next_step_due) == ("Closed-Won", "", None)


@pytest.mark.parametrize("closed", ["Closed-Won", "Closed-Lost"])
def test_a_step_typed_into_a_form_closing_the_deal_is_refused(staff_client, closed):
    deal = make_deal()
    data = open_form(staff_client, deal, stage=str(stage(closed).pk), next_step="Invoice them")
    response = staff_client.post(change_url(deal), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "A won or lost deal has no next step: clear it, or keep the deal in an open stage." in page
    )
    assert 'value="Invoice them"' in page, "what was typed stays in the form"
    deal.refresh_from_db()
    assert (deal.stage.name, deal.next_step) == ("Prospecting", "")


def test_a_closed_deal_reopened_by_its_form_may_get_a_step(staff_client):
    deal = make_deal(stage=stage("Closed-Lost"))
    data = open_form(staff_client, deal, stage=str(stage("Negotiation").pk), next_step="Retry")
    assert staff_client.post(change_url(deal), data).status_code == 302
    deal.refresh_from_db()
    assert (deal.stage.name, deal.next_step) == ("Negotiation", "Retry")


def why() -> dict:
    """The lost reason every path marking a deal lost asks for (the others ignore it)."""
    return {"lost_reason": str(lost_reason().pk)}


def close_by_button(client, deal, outcome):
    url = reverse(f"admin:crm_admin_deal_mark_{outcome}_detail", args=[deal.pk])
    assert client.post(url, {"_form_submitted": "on", **why()}).status_code == 302


def close_by_board_json(client, deal, outcome):
    name = {"won": "Closed-Won", "lost": "Closed-Lost"}[outcome]
    response = client.post(
        reverse("admin:crm_admin_deal_move", args=[deal.pk]),
        {"stage": stage(name).pk, **why()},
        headers={"Accept": "application/json"},
    )
    assert response.json()["deal"]["next_step"] == "", "the card drops its step"


def close_by_board_form(client, deal, outcome):
    name = {"won": "Closed-Won", "lost": "Closed-Lost"}[outcome]
    response = client.post(
        reverse("admin:crm_admin_deal_move", args=[deal.pk]), {"stage": stage(name).pk, **why()}
    )
    assert response.status_code == 302


def close_by_bulk_action(client, deal, outcome):
    data = {"action": f"mark_{outcome}", "index": "0", "_selected_action": [str(deal.pk)]}
    data.update({"apply": "1", **why()})
    assert client.post(DEALS, data).status_code == 302


def close_by_move_action(client, deal, outcome):
    name = {"won": "Closed-Won", "lost": "Closed-Lost"}[outcome]
    data = {"action": "move_to_stage", "index": "0", "_selected_action": [str(deal.pk)]}
    data.update({"apply": "1", "stage": str(stage(name).pk), **why()})
    assert client.post(DEALS, data).status_code == 302


@pytest.mark.parametrize("outcome", ["won", "lost"])
@pytest.mark.parametrize(
    "close",
    [
        close_by_button,
        close_by_board_json,
        close_by_board_form,
        close_by_bulk_action,
        close_by_move_action,
    ],
)
def test_every_admin_path_that_closes_a_deal_clears_its_next_step(staff_client, close, outcome):
    deal = make_deal(next_step="Send the quote", next_step_due=timezone.localdate())
    other = make_deal(next_step="Untouched")
    close(staff_client, deal, outcome)
    deal.refresh_from_db()
    assert deal.stage.outcome == outcome
    assert (deal.next_step, deal.next_step_due) == ("", None)
    other.refresh_from_db()
    assert other.next_step == "Untouched"


# --- the list column, its sort, the filters ------------------------------------------------


def column(client, url, name="display_next_step", **params) -> dict:
    """The list's cells of one column as text, by record."""
    response = client.get(url, params)
    assert response.status_code == 200
    found = {}
    for row in response.content.decode().split("<tr")[1:]:
        key = re.search(r'name="_selected_action" value="(\d+)"', row)
        cell = re.search(rf'<td class="field-{name}[^"]*">(.*?)</td>', row, re.S)
        if key and cell:
            found[int(key.group(1))] = " ".join(re.sub(r"<[^>]+>", " ", cell.group(1)).split())
    return found


@pytest.mark.parametrize("url", [DEALS, CONTACTS])
def test_the_next_step_column_says_overdue_and_today_in_words(staff_client, clock, url):
    clock("UTC", datetime(2026, 11, 30, 11, 30, tzinfo=UTC))
    make = make_deal if url == DEALS else make_contact
    late = make(next_step="Chase <them>", next_step_due=date(2026, 11, 27))
    now = make(next_step="Call", next_step_due=date(2026, 11, 30))
    later = make(next_step="Visit", next_step_due=date(2027, 1, 4))
    undated = make(next_step="Some day")
    none = make()
    cells = column(staff_client, url)
    assert cells[late.pk] == "Chase &lt;them&gt; Overdue 27 Nov"
    assert cells[now.pk] == "Call Today 30 Nov"
    assert cells[later.pk] == "Visit 4 Jan 2027"
    assert cells[undated.pk] == "Some day"
    assert cells[none.pk] == "-"
    page = staff_client.get(url).content.decode()
    assert re.search(r"bg-red-100[^>]*>\s*Overdue\s*<", page), "overdue: colour and word"


def test_the_next_step_column_is_drawn_without_a_template_per_cell(staff_client, settings):
    from django.test.signals import template_rendered

    for i in range(5):
        make_deal(next_step=f"Step {i}", next_step_due=timezone.localdate() - timedelta(days=i))
    staff_client.get(DEALS)  # the cells' shapes are rendered once, then kept
    rendered = []

    def seen(sender, template, **kwargs):
        rendered.append(template.name)

    template_rendered.connect(seen)
    try:
        staff_client.get(DEALS)
    finally:
        template_rendered.disconnect(seen)
    cell_templates = {
        "unfold/helpers/display_header.html",
        "unfold/helpers/display_label.html",
        "unfold/helpers/label.html",
    }
    assert rendered and not cell_templates & set(rendered)


def sort_index(client, url) -> int:
    response = client.get(url)
    return response.context["cl"].list_display.index("display_next_step")


@pytest.mark.parametrize("url", [DEALS, CONTACTS])
def test_sorting_by_next_step_puts_the_soonest_first_and_undated_last(staff_client, url):
    make = make_deal if url == DEALS else make_contact
    today = timezone.localdate()
    undated = make(next_step="Some day")
    none = make()
    late = make(next_step="Late", next_step_due=days(today, -3))
    soon = make(next_step="Soon", next_step_due=days(today, 2))
    later = make(next_step="Later", next_step_due=days(today, 40))
    index = sort_index(staff_client, url)
    ascending = [r.pk for r in listed(staff_client, url, o=str(index))]
    assert ascending[:3] == [late.pk, soon.pk, later.pk]
    assert set(ascending[3:]) == {undated.pk, none.pk}
    descending = [r.pk for r in listed(staff_client, url, o=f"-{index}")]
    # Django's reverse of the sort: latest first, the undated ones first (the index's order).
    assert set(descending[:2]) == {undated.pk, none.pk}
    assert descending[2:] == [later.pk, soon.pk, late.pk]


def names_of(rows) -> set[str]:
    return {row.next_step or "none" for row in rows}


@pytest.mark.parametrize(("zone", "instant", "today"), ZONES)
def test_the_deal_next_step_filter_at_a_fixed_today_counts_open_deals_only(
    staff_client, clock, zone, instant, today
):
    clock(zone, instant)
    for name, n in {"late": -1, "today": 0, "tomorrow": 1, "week_end": 7, "later": 8}.items():
        make_deal(title=name, next_step=name, next_step_due=days(today, n))
    make_deal(title="none")  # open, no step
    make_deal(stage=stage("Closed-Won"), title="won")  # closed: in no bucket, not even "none"
    make_deal(stage=stage("Closed-Lost"), title="lost")

    def titles(due):
        return {deal.title for deal in listed(staff_client, DEALS, next_step=due)}

    assert titles("overdue") == {"late"}
    assert titles("today") == {"today"}
    assert titles("week") == {"tomorrow", "week_end"}
    assert titles("none") == {"none"}
    assert len(listed(staff_client, DEALS)) == 8


@pytest.mark.parametrize(("zone", "instant", "today"), ZONES)
def test_the_contact_next_step_filter_at_a_fixed_today(staff_client, clock, zone, instant, today):
    clock(zone, instant)
    for name, n in {"late": -1, "today": 0, "tomorrow": 1, "week_end": 7, "later": 8}.items():
        make_contact(next_step=name, next_step_due=days(today, n))
    make_contact()
    make_contact(next_step="undated")

    assert names_of(listed(staff_client, CONTACTS, next_step="overdue")) == {"late"}
    assert names_of(listed(staff_client, CONTACTS, next_step="today")) == {"today"}
    assert names_of(listed(staff_client, CONTACTS, next_step="week")) == {"tomorrow", "week_end"}
    assert names_of(listed(staff_client, CONTACTS, next_step="none")) == {"none"}


def test_the_filter_offers_the_buckets_of_the_model(staff_client):
    response = staff_client.get(DEALS)
    spec = next(
        s for s in response.context["cl"].filter_specs if s.expected_parameters() == ["next_step"]
    )
    assert list(spec.lookup_choices) == list(NextStepDue.choices)


def test_the_dashboards_links_to_the_users_steps_work(client, clock):
    clock("UTC", datetime(2026, 11, 30, 11, 30, tzinfo=UTC))
    rep = make_user(perms=["crm_admin.view_deal", "crm_admin.view_contact"])
    other = make_user()
    today = date(2026, 11, 30)
    mine = make_deal(owner=rep, next_step="Mine", next_step_due=today)
    make_deal(owner=other, next_step="Theirs", next_step_due=today)
    make_deal(owner=rep)  # no step
    my_contact = make_contact(owner=rep, next_step="Call", next_step_due=days(today, -2))
    make_contact(owner=other, next_step="Call", next_step_due=days(today, -2))
    client.force_login(rep)

    params = {"next_step": "today", "owner": "mine", "status": "open"}
    assert listed(client, DEALS, **params) == [mine]
    assert len(listed(client, DEALS, next_step="none", owner="mine", status="open")) == 1
    assert listed(client, CONTACTS, next_step="overdue", owner="mine") == [my_contact]


def test_the_contact_owner_filter_has_mine_unassigned_and_each_user(staff_client, admin_user):
    colleague = make_user(username="zoe")
    mine = make_contact(owner=admin_user)
    theirs = make_contact(owner=colleague)
    nobody = make_contact()
    assert listed(staff_client, CONTACTS, owner="mine") == [mine]
    assert listed(staff_client, CONTACTS, owner=str(colleague.pk)) == [theirs]
    assert listed(staff_client, CONTACTS, owner="none") == [nobody]
    page = staff_client.get(CONTACTS).content.decode()
    assert ">zoe<" in page and ">Mine<" in page


def test_the_due_follow_up_filter_says_and_uses_the_new_definition(staff_client, settings):
    settings.CRM_FOLLOW_UP_DAYS = 45
    now, today = timezone.now(), timezone.localdate()
    due_step = make_contact(next_step="Call", next_step_due=today, last_contacted_at=now)
    stale = make_contact(last_contacted_at=now - timedelta(days=46))
    never = make_contact()
    make_contact(next_step="Later", next_step_due=days(today, 3))  # has a step, not due yet
    make_contact(last_contacted_at=now - timedelta(days=44))
    page = staff_client.get(CONTACTS).content.decode()
    assert "Due a follow-up: next step due, or none and not contacted for 45 days" in page
    assert {c.pk for c in listed(staff_client, CONTACTS, last_contacted="due")} == {
        due_step.pk,
        stale.pk,
        never.pk,
    }


# --- saved filters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "query"),
    [
        ("contact", "next_step=overdue&owner=mine"),
        ("deal", "next_step=none&owner=mine&status=open"),
    ],
)
def test_the_next_step_and_owner_filters_can_be_saved(staff_client, target, query):
    add = reverse("admin:crm_admin_savedfilter_add")
    page = staff_client.get(add, {"target": target, "query": query})
    data = form_data(page, "savedfilter_form", name="My steps")
    assert staff_client.post(add + "?" + f"target={target}", data).status_code == 302
    saved = SavedFilter.objects.get(name="My steps")
    assert dict(p.split("=") for p in saved.query.split("&")) == dict(
        p.split("=") for p in query.split("&")
    )
    response = staff_client.get(saved.get_absolute_url())
    assert response.status_code == 200 and "e" not in response.wsgi_request.GET


# --- the bulk action -----------------------------------------------------------------------


def run_action(client, url, action, selected=(), *, across=False, follow=True, **extra):
    data = {"action": action, "index": "0", "select_across": "1" if across else "0"}
    data["_selected_action"] = [str(pk) for pk in selected] or ["0"]
    data.update(extra)
    return client.post(url, data, follow=follow)


def test_set_next_step_asks_then_sets_it_on_open_deals_and_leaves_closed_ones_out(
    staff_client, admin_user, clock
):
    clock("UTC", datetime(2026, 11, 30, 11, 30, tzinfo=UTC))
    open_deals = [make_deal(), make_deal(stage=stage("Negotiation"))]
    won = make_deal(stage=stage("Closed-Won"))
    selected = [d.pk for d in [*open_deals, won]]

    page = run_action(staff_client, DEALS, "set_next_step", selected)
    html = page.content.decode()
    assert page.status_code == 200 and "Set the next step" in html
    assert "This applies to 3 deals." in html
    assert 'name="text"' in html and 'name="due"' in html and "vDateField" in html
    assert Deal.objects.exclude(next_step="").count() == 0, "asking changes nothing"

    response = run_action(
        staff_client,
        DEALS,
        "set_next_step",
        selected,
        apply="1",
        text=" Call back ",
        due="2026-12-03",
    )
    assert messages_of(response) == [
        "Next step “Call back” (due 3 Dec) set on 2 deals.",
        "1 closed deal was left out: a won or lost deal has no next step.",
    ]
    assert set(Deal.objects.filter(pk__in=selected).values_list("next_step", "next_step_due")) == {
        ("Call back", date(2026, 12, 3)),
        ("", None),
    }
    won.refresh_from_db()
    assert won.next_step == ""
    history = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Deal))
    assert sorted(int(e.object_id) for e in history) == sorted(d.pk for d in open_deals)
    assert {e.user for e in history} == {admin_user}
    assert {e.change_message for e in history} == {"Next step set to “Call back” due 2026-12-03."}


def test_set_next_step_on_contacts_without_a_date_and_clearing_it(staff_client):
    contacts = [make_contact(), make_contact()]
    selected = [c.pk for c in contacts]
    response = run_action(
        staff_client,
        CONTACTS,
        "set_next_step",
        selected,
        apply="1",
        text="Send the brochure",
        due="",
    )
    assert messages_of(response) == ["Next step “Send the brochure” set on 2 contacts."]
    assert set(Contact.objects.values_list("next_step", "next_step_due")) == {
        ("Send the brochure", None)
    }
    response = run_action(staff_client, CONTACTS, "set_next_step", selected[:1], apply="1", text="")
    assert messages_of(response) == ["Next step cleared on 1 contact."]
    assert Contact.objects.get(pk=selected[0]).next_step == ""


def test_set_next_step_with_a_date_but_no_step_is_refused_and_changes_nothing(staff_client):
    deal = make_deal(next_step="Keep me")
    response = run_action(
        staff_client, DEALS, "set_next_step", [deal.pk], apply="1", text="", due="2026-12-03"
    )
    assert messages_of(response) == ["Say what the next step is, or leave its date empty."]
    deal.refresh_from_db()
    assert (deal.next_step, deal.next_step_due) == ("Keep me", None)


def test_set_next_step_with_a_bad_date_shows_the_form_again(staff_client):
    deal = make_deal()
    page = run_action(
        staff_client, DEALS, "set_next_step", [deal.pk], apply="1", text="Call", due="31/31/2026"
    )
    assert page.status_code == 200 and "Enter a valid date." in page.content.decode()
    deal.refresh_from_db()
    assert deal.next_step == ""


def test_set_next_step_runs_the_same_queries_for_ten_or_a_thousand_deals(staff_client):
    contact = make_contact()

    def measure(count: int) -> int:
        Deal.objects.bulk_create(
            Deal(title=f"D{i}", contact=contact, stage=stage("Prospecting")) for i in range(count)
        )
        with CaptureQueriesContext(connection) as captured:
            response = run_action(
                staff_client,
                f"{DEALS}?status=open",
                "set_next_step",
                across=True,
                follow=False,
                apply="1",
                text=f"Step {count}",
            )
        assert response.status_code == 302
        return len(captured)

    measure(1)  # warm-up: session and content-type caches
    small = measure(10)
    large = measure(990)
    assert small == large
    assert Deal.objects.filter(next_step="Step 990").count() == 1001


# --- the board -----------------------------------------------------------------------------


def cards(client) -> dict[str, str]:
    """Each card's text, by deal title."""
    page = client.get(BOARD).content.decode()
    found = re.findall(r"<li[^>]*data-card[^>]*>(.*?)</li>", page, re.S)
    texts = [" ".join(re.sub(r"<[^>]+>", " ", card).split()) for card in found]
    return {text.split(" ")[0]: text for text in texts}


def test_board_cards_show_the_step_and_mark_overdue_and_missing_ones(staff_client, clock):
    clock("Pacific/Auckland", datetime(2026, 11, 30, 11, 30, tzinfo=UTC))  # Dec 1 there
    make_deal(title="Late", next_step="Chase", next_step_due=date(2026, 11, 30))
    make_deal(title="Fine", next_step="Call", next_step_due=date(2026, 12, 1))
    make_deal(title="Bare", stage=stage("Negotiation"))
    make_deal(title="Won", stage=stage("Closed-Won"))
    shown = cards(staff_client)
    assert "Chase 30 Nov Overdue" in shown["Late"]
    assert "Call 1 Dec" in shown["Fine"] and "Overdue" not in shown["Fine"]
    assert "No next step" in shown["Bare"]
    assert "No next step" not in shown["Won"] and "Overdue" not in shown["Won"]
    page = staff_client.get(BOARD).content.decode()
    assert re.search(r"bg-red-100[^>]*>\s*Overdue\s*<", page)
    assert re.search(r"bg-orange-100[^>]*>\s*No next step\s*<", page)


def test_a_card_moved_out_of_a_closed_column_is_marked_without_a_step(staff_client):
    deal = make_deal(stage=stage("Closed-Lost"))
    response = staff_client.post(
        reverse("admin:crm_admin_deal_move", args=[deal.pk]),
        {"stage": stage("Negotiation").pk},
        headers={"Accept": "application/json"},
    )
    assert "No next step" in response.json()["deal"]["next_step"]


def board_queries(client) -> int:
    client.get(BOARD)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(BOARD).status_code == 200
    return len(captured)


def test_the_board_with_next_steps_runs_the_same_queries_at_two_sizes(staff_client):
    today = timezone.localdate()

    def add(count: int) -> None:
        contact = make_contact()
        Deal.objects.bulk_create(
            Deal(
                title=f"D{i}",
                contact=contact,
                stage=stage(["Prospecting", "Negotiation", "Closed-Won"][i % 3]),
                next_step="" if i % 3 else f"Step {i}",
                next_step_due=days(today, i % 5 - 2) if i % 3 == 0 else None,
            )
            for i in range(count)
        )

    add(3)
    small = board_queries(staff_client)
    add(300)
    assert board_queries(staff_client) == small


# --- the rule's two forms ------------------------------------------------------------------


def test_a_records_own_bucket_matches_the_querysets_for_every_case():
    today = date(2026, 11, 30)
    for n in (-40, -1, 0, 1, 6, 7, 8, 60):
        make_contact(next_step=f"in {n}", next_step_due=days(today, n))
    make_contact(next_step="undated")
    make_contact()
    contacts = list(Contact.objects.all())
    for due in NextStepDue:
        by_query = set(Contact.objects.next_step_due(due, today=today))
        in_memory = {c for c in contacts if c.next_step_due_on(today=today) == due}
        assert by_query == in_memory, due
