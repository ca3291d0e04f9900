"""The timeline of a deal, a contact and a company (crm_admin.timeline and its template): what
it holds, in which order, paged, at a constant number of queries, only what the user may see."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import unfold
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.deal_history import DealStageChange
from crm_admin.models import ContactNote, Deal, DealNote
from crm_admin.timeline import (
    TimelineKind,
    TimelineSource,
    company_timeline,
    contact_timeline,
    deal_timeline,
    page_number,
)
from tests.factories import (
    lost_reason,
    make_company,
    make_contact,
    make_deal,
    make_user,
    stage,
)

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "crm_admin/templates/admin/crm_admin"


def create_deal(*, actor, **fields) -> Deal:
    """A deal created as the admin form creates one: by `actor`, recorded in its history."""
    fields.setdefault("title", "Deal")
    fields.setdefault("stage", stage("Prospecting"))
    deal = Deal(**fields)
    deal.actor = actor
    deal.save()
    return deal


def move(deal: Deal, stage_name: str, *, actor) -> None:
    """A move through the deal's own save(), as the admin form makes it."""
    deal = Deal.objects.get(pk=deal.pk)
    deal.stage = stage(stage_name)
    deal.actor = actor
    deal.save()


def only(deal: Deal):
    return Deal.objects.filter(pk=deal.pk)


def kinds(page) -> list[str]:
    return [item.kind for item in page]


def test_deal_timeline_shows_creation_moves_notes_and_the_loss_with_who_and_when():
    ann, bob = make_user(first_name="Ann", last_name="Lee"), make_user()
    deal = create_deal(actor=ann, contact=make_contact())
    note = DealNote.objects.create(deal=deal, text="Sent the proposal", created_by=bob)
    move(deal, "Negotiation", actor=ann)
    services.deals_mark_lost(deals=only(deal), actor=bob, lost_reason=lost_reason("Competitor"))

    page = deal_timeline(deal=deal)

    changes = list(DealStageChange.objects.filter(deal=deal).order_by("changed_at"))
    assert kinds(page) == [
        TimelineKind.LOST,
        TimelineKind.MOVED,
        TimelineKind.NOTE,
        TimelineKind.CREATED,
    ]
    lost, moved, noted, created = page
    assert (lost.who, lost.at, lost.lost_reason.name) == (bob, changes[2].changed_at, "Competitor")
    assert lost.text == "Moved from Negotiation to Closed-Lost."
    assert (moved.who, moved.at, moved.text) == (
        ann,
        changes[1].changed_at,
        "Moved from Prospecting to Negotiation.",
    )
    assert moved.lost_reason is None
    assert (noted.who, noted.at, noted.text) == (bob, note.created_at, "Sent the proposal")
    assert (created.who, created.at, created.text) == (
        ann,
        changes[0].changed_at,
        "Created in Prospecting.",
    )
    # The deal's own timeline names no other record.
    assert all(item.deal is None and item.contact is None for item in page)


def test_a_win_is_marked_won_and_a_deal_created_closed_says_where():
    user = make_user()
    deal = create_deal(actor=user, contact=make_contact())
    services.deals_mark_won(deals=only(deal), actor=user)
    won_at_creation = create_deal(actor=user, contact=make_contact(), stage=stage("Closed-Won"))

    assert kinds(deal_timeline(deal=deal)) == [TimelineKind.WON, TimelineKind.CREATED]
    [created] = deal_timeline(deal=won_at_creation)
    assert (created.kind, created.text) == (TimelineKind.CREATED, "Created in Closed-Won.")


def test_a_move_says_how_long_the_deal_was_in_the_stage_it_left():
    user = make_user()
    deal = create_deal(actor=user, contact=make_contact())
    Deal.objects.filter(pk=deal.pk).update(
        stage_entered_at=timezone.now() - timedelta(days=3, hours=2)
    )
    services.deals_move_to_stage(deals=only(deal), stage=stage("Negotiation"), actor=user)

    latest = deal_timeline(deal=deal)[0]
    assert latest.text == "Moved from Prospecting to Negotiation after 3\xa0days, 2\xa0hours."


def test_contact_timeline_holds_its_notes_its_deals_notes_and_moves_and_its_creation():
    user = make_user()
    contact = make_contact()
    first = create_deal(actor=user, contact=contact, title="First")
    second = create_deal(actor=user, contact=contact, title="Second")
    own_note = ContactNote.objects.create(contact=contact, text="Called", created_by=user)
    deal_note = DealNote.objects.create(deal=second, text="Demo booked", created_by=user)
    services.deals_mark_lost(deals=only(first), actor=user, lost_reason=lost_reason())
    # Someone else's history stays out.
    other = make_contact()
    create_deal(actor=user, contact=other)
    ContactNote.objects.create(contact=other, text="Not this one")

    page = contact_timeline(contact=contact)

    assert [(item.kind, item.text, item.deal) for item in page] == [
        (TimelineKind.LOST, "Moved from Prospecting to Closed-Lost.", first),
        (TimelineKind.NOTE, "Demo booked", second),
        (TimelineKind.NOTE, "Called", None),
        (TimelineKind.CREATED, "Created in Prospecting.", second),
        (TimelineKind.CREATED, "Created in Prospecting.", first),
        (TimelineKind.CREATED, "Contact created.", None),
    ]
    assert page[0].lost_reason.name == "Price"
    assert page[2].at == own_note.created_at and page[1].at == deal_note.created_at
    assert page[-1].at == contact.created_at
    assert all(item.contact is None for item in page)


def test_company_timeline_holds_its_contacts_their_notes_and_their_deals_history():
    user = make_user()
    company = make_company()
    ann = make_contact(company=company, first_name="Ann")
    bea = make_contact(company=company, first_name="Bea")
    deal = create_deal(actor=user, contact=bea, title="Bea's deal")
    ContactNote.objects.create(contact=ann, text="Met Ann", created_by=user)
    DealNote.objects.create(deal=deal, text="Quote sent", created_by=user)
    move(deal, "Negotiation", actor=user)
    elsewhere = make_contact(company=make_company())
    create_deal(actor=user, contact=elsewhere)
    ContactNote.objects.create(contact=elsewhere, text="Other company")

    page = company_timeline(company=company)

    assert [(item.kind, item.text, item.deal, item.contact) for item in page] == [
        (TimelineKind.MOVED, "Moved from Prospecting to Negotiation.", deal, bea),
        (TimelineKind.NOTE, "Quote sent", deal, bea),
        (TimelineKind.NOTE, "Met Ann", None, ann),
        (TimelineKind.CREATED, "Created in Prospecting.", deal, bea),
        (TimelineKind.CREATED, "Contact created.", None, bea),
        (TimelineKind.CREATED, "Contact created.", None, ann),
        (TimelineKind.CREATED, "Company created.", None, None),
    ]
    assert page[-1].at == company.created_at


def test_sources_leave_out_what_the_viewer_may_not_see():
    user = make_user()
    deal = create_deal(actor=user, contact=make_contact())
    DealNote.objects.create(deal=deal, text="Hidden")

    page = deal_timeline(deal=deal, sources={TimelineSource.STAGE_CHANGE})

    assert kinds(page) == [TimelineKind.CREATED]
    assert page.paginator.count == 1
    assert list(deal_timeline(deal=deal, sources=set())) == []


# --- paging ---------------------------------------------------------------------------------


def deal_with_notes(count: int, *, at=None) -> Deal:
    deal = make_deal()
    at = at or timezone.now()
    DealNote.objects.bulk_create(
        DealNote(deal=deal, text=f"Note {i}", created_at=at + timedelta(seconds=i))
        for i in range(count)
    )
    return deal


def test_timeline_pages_by_twenty_newest_first():
    deal = deal_with_notes(44)  # + the creation: 45 rows, three pages

    first, second, third = (deal_timeline(deal=deal, page=n) for n in (1, 2, 3))

    assert first.paginator.num_pages == 3 and first.paginator.count == 45
    assert [item.text for item in first] == [f"Note {i}" for i in range(43, 23, -1)]
    assert [item.text for item in second] == [f"Note {i}" for i in range(23, 3, -1)]
    assert [item.text for item in third] == [
        "Note 3",
        "Note 2",
        "Note 1",
        "Note 0",
        "Created in Prospecting.",
    ]
    assert (second.has_previous(), second.has_next(), second.number) == (True, True, 2)


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        ("2", 2),
        (2, 2),
        ("99", 3),
        ("99999999999999999999999", 3),
        ("0", 1),
        ("-1", 1),
        ("abc", 1),
        ("", 1),
        (None, 1),
        ("1.5", 1),
        ("\uff12", 1),
    ],
)
def test_a_page_out_of_range_gives_the_nearest_page_and_no_number_the_first(asked, given):
    deal = deal_with_notes(44)
    assert deal_timeline(deal=deal, page=asked).number == given
    assert page_number(asked, 3) == given


def test_an_empty_history_is_one_empty_page():
    assert page_number("5", 0) == 1
    page = deal_timeline(deal=make_deal(), page="7", sources={TimelineSource.DEAL_NOTE})
    assert (page.number, list(page), page.paginator.count) == (1, [], 0)


def test_rows_at_the_same_moment_keep_one_order_so_each_shows_on_exactly_one_page():
    contact = make_contact()
    deal = make_deal(contact=contact)
    at = timezone.now()
    ContactNote.objects.bulk_create(
        ContactNote(contact=contact, text=f"C{i}", created_at=at) for i in range(25)
    )
    DealNote.objects.bulk_create(
        DealNote(deal=deal, text=f"D{i}", created_at=at) for i in range(25)
    )

    pages = [contact_timeline(contact=contact, page=n) for n in (1, 2, 3)]

    texts = [item.text for page in pages for item in page]
    assert len(texts) == len(set(texts)) == 52  # 50 notes, the deal's and the contact's creation
    # Same moment: contact notes above deal notes, each newest (highest id) first.
    assert texts[:25] == [f"C{i}" for i in range(24, -1, -1)]
    assert texts[25:50] == [f"D{i}" for i in range(24, -1, -1)]


# --- a constant number of queries -----------------------------------------------------------


def add_history(rounds: int, *, user) -> Deal:
    """A deal of a contact at a company, and `rounds` rounds of every kind of row each of
    their timelines holds (a colleague joins, a contact note, a deal note, a move), so that
    any page of 20 holds each kind."""
    contact = make_contact(company=make_company())
    deal = create_deal(actor=user, contact=contact)
    for i in range(rounds):
        make_contact(company=contact.company)
        ContactNote.objects.create(contact=contact, text=f"Call {i}", created_by=user)
        DealNote.objects.create(deal=deal, text=f"Proposal {i}", created_by=user)
        to = "Negotiation" if i % 2 == 0 else "Prospecting"
        services.deals_move_to_stage(deals=only(deal), stage=stage(to), actor=user)
    return deal


TIMELINES = {
    "deal": lambda deal, page: deal_timeline(deal=deal, page=page),
    "contact": lambda deal, page: contact_timeline(contact=deal.contact, page=page),
    "company": lambda deal, page: company_timeline(company=deal.contact.company, page=page),
}


@pytest.mark.parametrize(
    ("kind", "queries"),
    [
        ("deal", 4),  # count, page, stage changes, deal notes
        ("contact", 5),  # and contact notes (the contact's creation is the contact: no query)
        ("company", 6),  # and contacts (the company's creation is the company: no query)
    ],
)
def test_a_timeline_page_costs_the_same_queries_at_any_history_length(
    django_assert_num_queries, kind, queries
):
    user = make_user()
    small, large = add_history(1, user=user), add_history(40, user=user)
    timeline = TIMELINES[kind]

    for deal, pages in ((small, [1]), (large, [1, 2, 4])):
        for number in pages:
            with django_assert_num_queries(queries):
                page = timeline(deal, number)
            assert page.number == number and len({item.source for item in page}) >= 2
    assert timeline(large, 1).paginator.count >= 81


# --- the change pages -----------------------------------------------------------------------


def change_url(record) -> str:
    return reverse(f"admin:crm_admin_{record._meta.model_name}_change", args=[record.pk])


def timeline_html(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('<section id="timeline"')
    return html[start : html.index("</section>", start)]


def test_each_change_page_shows_its_timeline(staff_client, admin_user):
    company = make_company()
    contact = make_contact(company=company)
    deal = create_deal(actor=admin_user, contact=contact, title="Fleet renewal")
    services.deals_mark_lost(deals=only(deal), actor=admin_user, lost_reason=lost_reason("Timing"))

    html = timeline_html(staff_client.get(change_url(deal)))
    assert "Moved from Prospecting to Closed-Lost." in html and "Timing" in html
    assert "Created in Prospecting." in html and "by admin" in html
    for record in (contact, company):
        html = timeline_html(staff_client.get(change_url(record)))
        assert f'href="{change_url(deal)}">Fleet renewal</a>' in html
        assert "Timing" in html
    assert "Company created." in timeline_html(staff_client.get(change_url(company)))


def test_the_add_pages_show_no_timeline(staff_client):
    for model in ("deal", "contact", "company"):
        response = staff_client.get(reverse(f"admin:crm_admin_{model}_add"))
        assert response.status_code == 200
        assert 'id="record-history"' not in response.content.decode()


def test_notes_are_shown_escaped_with_their_line_breaks(staff_client):
    deal = make_deal()
    DealNote.objects.create(
        deal=deal, text="Zoë said <script>alert(1)</script>\n\u039f\u0394\u039f\u03a3 & 東京"
    )

    html = timeline_html(staff_client.get(change_url(deal)))

    assert (
        "Zoë said &lt;script&gt;alert(1)&lt;/script&gt;<br>\u039f\u0394\u039f\u03a3 &amp; 東京"
        in html
    )
    assert "<script>alert(1)" not in html


def test_the_timeline_pages_by_plain_links_and_bad_pages_do_not_fail(staff_client):
    deal = deal_with_notes(44)
    url = change_url(deal)

    first = timeline_html(staff_client.get(url))
    assert "Note 43" in first and "Note 23" not in first
    assert 'href="?timeline=2#timeline" rel="next"' in first
    second = timeline_html(staff_client.get(url, {"timeline": "2"}))
    assert "Note 23" in second and "Note 43" not in second and "Page 2 of 3" in second
    assert 'href="?timeline=1#timeline" rel="prev"' in second
    assert "Created in Prospecting." in timeline_html(staff_client.get(url, {"timeline": "999"}))
    for bad in ("abc", "-3", "0", "1e9", "\uff19"):
        assert "Note 43" in timeline_html(staff_client.get(url, {"timeline": bad}))


def test_paging_keeps_the_pages_other_parameters(staff_client):
    deal = deal_with_notes(44)
    html = timeline_html(staff_client.get(change_url(deal), {"_changelist_filters": "status=open"}))
    assert 'href="?_changelist_filters=status%3Dopen&amp;timeline=2#timeline"' in html


def test_notes_are_shown_only_to_users_who_may_view_them(client):
    contact = make_contact()
    ContactNote.objects.create(contact=contact, text="Private call")
    deal = make_deal(contact=contact)
    DealNote.objects.create(deal=deal, text="Deal whisper")
    records = ["crm_admin.view_contact", "crm_admin.view_deal"]
    notes = ["crm_admin.view_contactnote", "crm_admin.view_dealnote"]

    client.force_login(make_user(perms=records))
    html = timeline_html(client.get(change_url(contact)))
    assert "Private call" not in html and "Deal whisper" not in html
    assert "Created in Prospecting." in html and "Contact created." in html
    assert "Deal whisper" not in timeline_html(client.get(change_url(deal)))

    client.force_login(make_user(perms=records + notes))
    html = timeline_html(client.get(change_url(contact)))
    assert "Private call" in html and "Deal whisper" in html
    assert "Deal whisper" in timeline_html(client.get(change_url(deal)))


def test_a_user_who_may_not_view_deals_sees_none_of_their_history(client):
    company = make_company()
    contact = make_contact(company=company)
    deal = make_deal(contact=contact, title="Secret deal")
    DealNote.objects.create(deal=deal, text="Deal whisper")
    client.force_login(
        make_user(
            perms=["crm_admin.view_contact", "crm_admin.view_company", "crm_admin.view_dealnote"]
        )
    )

    for record in (contact, company):
        html = timeline_html(client.get(change_url(record)))
        assert "Secret deal" not in html and "Deal whisper" not in html
        assert "Created in" not in html
        assert "Contact created." in html


def test_a_company_page_without_contact_permission_shows_no_contacts(client):
    company = make_company()
    contact = make_contact(company=company, first_name="Hidden")
    ContactNote.objects.create(contact=contact, text="Met them")
    make_deal(contact=contact, title="Visible deal")
    client.force_login(
        make_user(
            perms=["crm_admin.view_company", "crm_admin.view_deal", "crm_admin.view_contactnote"]
        )
    )

    html = timeline_html(client.get(change_url(company)))

    assert "Contact created." not in html and "Met them" not in html and "Hidden" not in html
    assert "Visible deal" in html and "Company created." in html


def page_queries(client, url) -> int:
    client.get(url)  # warm-up: session save, per-process caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", ["deal", "contact", "company"])
def test_a_change_page_costs_the_same_queries_at_any_history_length(staff_client, model):
    user = make_user()
    small, large = add_history(1, user=user), add_history(40, user=user)
    records = {
        "deal": (small, large),
        "contact": (small.contact, large.contact),
        "company": (small.contact.company, large.contact.company),
    }[model]

    few, many = (page_queries(staff_client, change_url(record)) for record in records)

    assert few == many, f"{few} queries with a short history, {many} with a long one"


def test_the_templates_use_only_classes_that_unfolds_stylesheet_defines():
    css = (Path(unfold.__file__).parent / "static/unfold/css/styles.css").read_text()
    names = set()
    for name in ("record_history", "timeline", "related_deals", "related_contacts"):
        template = (TEMPLATES / f"{name}.html").read_text()
        for attribute in re.findall(r'class="([^"]*)"', template):
            names |= set(re.sub(r"\{[%{].*?[%}]\}", " ", attribute).split())
    missing = {n for n in names if "." + re.sub(r"([:/\[\].])", r"\\\1", n) not in css}
    assert not missing, f"not in Unfold's compiled CSS (the class would do nothing): {missing}"
