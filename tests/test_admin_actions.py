"""List actions on deals and contacts, driven as a user does: POSTs and intermediate pages."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.models import Contact, Deal
from tests.factories import lost_reason, make_contact, make_deal, make_tag, make_user, stage

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
CONTACTS = reverse("admin:crm_admin_contact_changelist")


def run_action(client, url, action, selected=(), *, across=False, follow=True, **extra):
    """POST the list's action form; by default follow the redirect back to the list."""
    data = {"action": action, "index": "0", "select_across": "1" if across else "0"}
    data["_selected_action"] = [str(pk) for pk in selected] or ["0"]
    data.update(extra)
    return client.post(url, data, follow=follow)


def messages_of(response) -> list[str]:
    """The messages shown on the page the user ends up on."""
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_mark_won_action_reports_what_it_did(staff_client):
    deals = [make_deal(probability=20) for _ in range(12)]
    untouched = make_deal()
    response = run_action(staff_client, DEALS, "mark_won", [d.pk for d in deals])
    assert response.redirect_chain == [(DEALS, 302)]
    assert messages_of(response) == ["12 deals marked as won."]
    assert Deal.objects.filter(stage__name="Closed-Won", probability=100).count() == 12
    untouched.refresh_from_db()
    assert untouched.stage.name == "Prospecting"


def test_mark_lost_action_on_one_deal_uses_the_singular(staff_client):
    deal = make_deal()
    response = run_action(
        staff_client, DEALS, "mark_lost", [deal.pk], apply="1", lost_reason=lost_reason().pk
    )
    assert messages_of(response) == ["1 deal marked as lost: Price."]


def test_mark_won_without_a_won_stage_is_refused_and_changes_nothing(staff_client):
    from crm_admin.models import Stage

    Stage.objects.filter(outcome="won").update(outcome="open")
    deal = make_deal()
    response = run_action(staff_client, DEALS, "mark_won", [deal.pk])
    assert "No pipeline stage has the outcome" in messages_of(response)[0]
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_select_all_across_pages_applies_to_the_whole_filtered_list(staff_client):
    open_deals = [make_deal(stage=stage("Negotiation")) for _ in range(3)]
    lost = make_deal(stage=stage("Closed-Lost"))
    response = run_action(staff_client, f"{DEALS}?status=open", "mark_won", across=True)
    assert messages_of(response) == ["3 deals marked as won."]
    assert Deal.objects.filter(pk__in=[d.pk for d in open_deals], stage__outcome="won").count() == 3
    lost.refresh_from_db()
    assert lost.stage.name == "Closed-Lost"


def test_move_to_stage_asks_which_stage_then_moves(staff_client):
    deals = [make_deal(), make_deal()]
    selected = [d.pk for d in deals]
    page = run_action(staff_client, DEALS, "move_to_stage", selected)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Move deals to a stage" in html and "This applies to 2 deals." in html
    assert Deal.objects.filter(stage__name="Negotiation").count() == 0

    negotiation = stage("Negotiation")
    response = run_action(
        staff_client, DEALS, "move_to_stage", selected, apply="1", stage=str(negotiation.pk)
    )
    assert response.redirect_chain == [(DEALS, 302)]
    assert messages_of(response) == ["2 deals moved to Negotiation."]
    assert Deal.objects.filter(stage=negotiation).count() == 2


def test_move_to_stage_without_a_choice_shows_the_form_error(staff_client):
    deal = make_deal()
    response = run_action(staff_client, DEALS, "move_to_stage", [deal.pk], apply="1", stage="")
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_assign_owner_asks_which_user(staff_client):
    seller = make_user(username="seller")
    deals = [make_deal(), make_deal()]
    page = run_action(staff_client, DEALS, "assign_owner", [d.pk for d in deals])
    assert "seller" in page.content.decode()
    response = run_action(
        staff_client, DEALS, "assign_owner", [d.pk for d in deals], apply="1", owner=seller.pk
    )
    assert messages_of(response) == ["2 deals assigned to seller."]
    assert Deal.objects.filter(owner=seller).count() == 2


def test_tag_actions_on_deals_and_contacts(staff_client):
    vip = make_tag(name="VIP")
    deal, contact = make_deal(), make_contact()
    response = run_action(staff_client, DEALS, "add_tags", [deal.pk], apply="1", tags=[vip.pk])
    assert messages_of(response) == ["Tagged 1 deal with VIP."]
    assert list(deal.tags.all()) == [vip]
    response = run_action(
        staff_client, CONTACTS, "add_tags", [contact.pk], apply="1", tags=[vip.pk]
    )
    assert list(contact.tags.all()) == [vip]
    response = run_action(staff_client, DEALS, "remove_tags", [deal.pk], apply="1", tags=[vip.pk])
    assert messages_of(response) == ["Removed VIP: 1 tag link removed."]
    assert not deal.tags.exists()


def test_set_status_on_contacts(staff_client):
    contacts = [make_contact(), make_contact()]
    page = run_action(staff_client, CONTACTS, "set_status", [c.pk for c in contacts])
    assert "Set contact status" in page.content.decode()
    response = run_action(
        staff_client,
        CONTACTS,
        "set_status",
        [c.pk for c in contacts],
        apply="1",
        status="pending_response",
    )
    assert messages_of(response) == ["2 contacts set to Pending response."]
    assert Contact.objects.filter(status="pending_response").count() == 2


@pytest.mark.parametrize(
    ("url", "action"),
    [(DEALS, "mark_won"), (DEALS, "move_to_stage"), (CONTACTS, "set_status")],
)
def test_view_only_staff_is_refused_and_nothing_changes(client, viewer, url, action):
    deal = make_deal()
    contact = deal.contact
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert f'value="{action}"' not in page, "the action is not offered"
    response = run_action(
        client,
        url,
        action,
        [deal.pk if url == DEALS else contact.pk],
        apply="1",
        stage=str(stage("Closed-Won").pk),
        status="inactive",
    )
    assert response.redirect_chain[0][1] == 302
    assert messages_of(response) == ["You do not have permission to do that: nothing was changed."]
    deal.refresh_from_db()
    contact.refresh_from_db()
    assert (deal.stage.name, contact.status) == ("Prospecting", "new")


def test_mark_won_and_lost_buttons_on_the_deal_page(staff_client):
    deal = make_deal(probability=40)
    change_url = reverse("admin:crm_admin_deal_change", args=[deal.pk])
    assert "mark-won" in staff_client.get(change_url).content.decode()

    won_url = reverse("admin:crm_admin_deal_mark_won_detail", args=[deal.pk])
    dialog = staff_client.get(won_url)
    assert dialog.status_code == 200 and "Mark this deal as won?" in dialog.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting", "opening the dialog changes nothing"

    response = staff_client.post(won_url, {"_form_submitted": "on"})
    assert response.status_code == 302 and response.url == change_url
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability) == ("Closed-Won", 100)

    lost_url = reverse("admin:crm_admin_deal_mark_lost_detail", args=[deal.pk])
    response = staff_client.post(
        lost_url,
        {"_form_submitted": "on", "lost_reason": lost_reason("Timing").pk},
        headers={"HX-Request": "true"},
    )
    assert response.headers["HX-Redirect"] == change_url
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability, deal.lost_reason) == (
        "Closed-Lost",
        0,
        lost_reason("Timing"),
    )


def test_deal_page_buttons_refuse_a_view_only_user(client, viewer):
    deal = make_deal()
    client.force_login(viewer)
    url = reverse("admin:crm_admin_deal_mark_won_detail", args=[deal.pk])
    assert client.post(url, {"_form_submitted": "on"}).status_code == 403
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_bulk_action_query_count_does_not_grow_with_the_selection(staff_client):
    contact = make_contact()
    prospecting = stage("Prospecting")

    def seed(count):
        Deal.objects.bulk_create(
            Deal(title=f"D{i}", contact=contact, stage=prospecting, amount=Decimal(5))
            for i in range(count)
        )

    def measure() -> int:
        Deal.objects.update(stage=prospecting, closed_at=None)
        with CaptureQueriesContext(connection) as captured:
            response = run_action(
                staff_client, f"{DEALS}?status=open", "mark_won", across=True, follow=False
            )
        assert response.status_code == 302
        return len(captured)

    seed(10)
    measure()  # warm-up: session and content-type caches
    small = measure()
    seed(9_990)
    large = measure()
    assert small == large
    assert Deal.objects.filter(stage__outcome="won").count() == 10_000
