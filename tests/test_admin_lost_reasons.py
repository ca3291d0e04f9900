"""Lost reasons in the admin: their list, and the reason asked on every path that marks deals
lost (the deal form, the bulk actions, the deal page's button, the board), each recording one
stage history row per changed deal by the user who made the change."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.models import Deal, Stage
from tests.factories import lost_reason, make_contact, make_deal, stage
from tests.forms import form_data

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
REASONS = reverse("admin:crm_admin_lostreason_changelist")
REQUIRED = "Say why the deal was lost: choose a lost reason."


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_action(client, action, deals, **extra):
    data = {"action": action, "index": "0", "select_across": "0"}
    data["_selected_action"] = [str(deal.pk) for deal in deals]
    return client.post(DEALS, data | extra, follow=True)


def history(deal) -> list[DealStageChange]:
    return list(DealStageChange.objects.filter(deal=deal).order_by("changed_at", "id"))


def last_change(deal) -> DealStageChange:
    return history(deal)[-1]


def change_url(deal) -> str:
    return reverse("admin:crm_admin_deal_change", args=[deal.pk])


def post_deal_form(client, deal=None, **overrides):
    url = change_url(deal) if deal else reverse("admin:crm_admin_deal_add")
    return client.post(url, form_data(client.get(url), "deal_form", **overrides))


def mark_lost_button(client, deal, **data):
    url = reverse("admin:crm_admin_deal_mark_lost_detail", args=[deal.pk])
    return client.post(url, {"_form_submitted": "on", **data}, headers={"HX-Request": "true"})


def board_move(client, deal, stage_name, **data):
    url = reverse("admin:crm_admin_deal_move", args=[deal.pk])
    return client.post(
        url, {"stage": stage(stage_name).pk, **data}, headers={"Accept": "application/json"}
    )


# --- the list of reasons ---------------------------------------------------------------------


def test_the_reason_list_shows_the_shipped_reasons_in_order_with_their_deal_counts(staff_client):
    make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Timing"))
    make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Timing"))
    response = staff_client.get(REASONS)
    assert response.status_code == 200
    rows = {reason.name: reason.deal_count for reason in response.context["cl"].result_list}
    assert list(rows) == ["Price", "Competitor", "No budget", "No decision", "Timing", "Other"]
    assert rows["Timing"] == 2 and rows["Price"] == 0
    page = response.content.decode()
    assert f'href="{DEALS}?lost_reason={lost_reason("Timing").pk}">2</a>' in page


def test_a_reason_added_in_the_admin_goes_to_the_end_and_names_are_unique_in_any_case(
    staff_client,
):
    add = reverse("admin:crm_admin_lostreason_add")
    response = staff_client.post(
        add, form_data(staff_client.get(add), "lostreason_form", name="Lost touch")
    )
    assert response.status_code == 302
    assert list(LostReason.objects.values_list("name", flat=True))[-1] == "Lost touch"

    response = staff_client.post(
        add, form_data(staff_client.get(add), "lostreason_form", name="PRICE")
    )
    assert response.status_code == 200
    assert "A lost reason with this name already exists." in response.content.decode()
    assert LostReason.objects.filter(name__iexact="price").count() == 1


def test_a_reason_is_renamed_and_its_deals_keep_it(staff_client):
    deal = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Other"))
    reason = lost_reason("Other")
    url = reverse("admin:crm_admin_lostreason_change", args=[reason.pk])
    response = staff_client.post(
        url, form_data(staff_client.get(url), "lostreason_form", name="Went quiet")
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.lost_reason.name == "Went quiet"


def test_dragging_reasons_reorders_them(staff_client):
    price, other = lost_reason("Price"), lost_reason("Other")
    response = staff_client.post(
        reverse("admin:crm_admin_lostreason_sortable_update"),
        {"updatedItems": [[other.pk, price.order], [price.pk, other.order]]},
        content_type="application/json",
    )
    assert response.status_code == 200
    names = list(LostReason.objects.values_list("name", flat=True))
    assert (names[0], names[-1]) == ("Other", "Price")


def test_an_unused_reason_is_deleted(staff_client):
    reason = LostReason.objects.create(name="Unused", order=99)
    response = staff_client.post(
        reverse("admin:crm_admin_lostreason_delete", args=[reason.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not LostReason.objects.filter(pk=reason.pk).exists()


def test_deleting_a_reason_that_deals_have_is_refused_clearly(staff_client):
    reason = lost_reason("Price")
    make_deal(stage=stage("Closed-Lost"), lost_reason=reason)
    url = reverse("admin:crm_admin_lostreason_delete", args=[reason.pk])
    assert "Give those deals another reason first" in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 deal still belongs to the selected lost reason." in page
    assert LostReason.objects.filter(pk=reason.pk).exists()


def test_deleting_a_reason_kept_only_by_the_history_is_refused_clearly(staff_client):
    reason = lost_reason("Price")
    deal = make_deal(stage=stage("Closed-Lost"), lost_reason=reason)
    # Reopened: the deal has no reason any more, its history still has it.
    deal.stage = stage("Negotiation")
    deal.save()
    assert Deal.objects.get(pk=deal.pk).lost_reason is None
    response = staff_client.post(
        REASONS, {"action": "delete_selected", "_selected_action": [reason.pk], "post": "yes"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "still belongs to the selected lost reason" in page
    assert "stage history keeps the reason" in page
    assert LostReason.objects.filter(pk=reason.pk).exists()


# --- stages: staleness and deletion ----------------------------------------------------------


def post_stage_form(client, stage_obj, **overrides):
    url = reverse("admin:crm_admin_stage_change", args=[stage_obj.pk])
    return client.post(url, form_data(client.get(url), "stage_form", **overrides))


def test_a_stage_gets_its_stale_after_days_in_the_admin(staff_client):
    negotiation = stage("Negotiation")
    response = post_stage_form(staff_client, negotiation, stale_after_days="14")
    assert response.status_code == 302
    negotiation.refresh_from_db()
    assert negotiation.stale_after_days == 14
    page = staff_client.get(reverse("admin:crm_admin_stage_changelist")).content.decode()
    assert "14 days" in page


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("Negotiation", "0", "A deal is stale after one day at least."),
        ("Closed-Won", "30", "A won or lost deal is never stale"),
    ],
)
def test_a_stale_after_days_that_would_not_work_is_refused(staff_client, name, value, message):
    response = post_stage_form(staff_client, stage(name), stale_after_days=value)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert stage(name).stale_after_days is None


def test_deleting_a_stage_kept_only_by_the_history_is_refused_clearly(staff_client):
    demo = Stage.objects.create(name="Demo booked")
    deal = make_deal(stage=demo)
    deal.stage = stage("Negotiation")
    deal.save()
    assert not demo.deals.exists()
    url = reverse("admin:crm_admin_stage_delete", args=[demo.pk])
    response = staff_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "history keeps it" in response.content.decode()
    response = staff_client.post(
        reverse("admin:crm_admin_stage_changelist"),
        {"action": "delete_selected", "_selected_action": [demo.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert "2 deal stage changes still belong to the selected pipeline stage." in (
        response.content.decode()
    )
    assert Stage.objects.filter(pk=demo.pk).exists()


# --- the deal form ---------------------------------------------------------------------------


def test_the_form_asks_why_when_it_moves_a_deal_to_a_lost_stage(staff_client, admin_user):
    deal = make_deal(probability=40)
    response = post_deal_form(staff_client, deal, stage=str(stage("Closed-Lost").pk))
    assert response.status_code == 200
    assert REQUIRED in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"
    assert len(history(deal)) == 1, "only its creation"

    response = post_deal_form(
        staff_client,
        deal,
        stage=str(stage("Closed-Lost").pk),
        lost_reason=str(lost_reason("Price").pk),
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason, deal.probability) == (
        "Closed-Lost",
        lost_reason("Price"),
        0,
    )
    created, moved = history(deal)
    assert (moved.from_stage, moved.to_stage, moved.changed_by) == (
        stage("Prospecting"),
        stage("Closed-Lost"),
        admin_user,
    )
    assert moved.lost_reason == lost_reason("Price")
    assert moved.from_stage_entered_at == created.changed_at


def test_the_form_asks_why_for_a_new_deal_in_a_lost_stage(staff_client, admin_user):
    contact = make_contact()
    fields = {"title": "Kiosk", "contact": str(contact.pk), "stage": str(stage("Closed-Lost").pk)}
    response = post_deal_form(staff_client, **fields)
    assert REQUIRED in response.content.decode()
    assert not Deal.objects.filter(title="Kiosk").exists()

    response = post_deal_form(staff_client, **fields, lost_reason=str(lost_reason("Timing").pk))
    assert response.status_code == 302
    deal = Deal.objects.get(title="Kiosk")
    assert deal.lost_reason == lost_reason("Timing")
    [created] = history(deal)
    assert (created.from_stage, created.to_stage, created.changed_by, created.lost_reason) == (
        None,
        stage("Closed-Lost"),
        admin_user,
        lost_reason("Timing"),
    )


def test_other_edits_of_a_lost_deal_need_no_reason_and_record_no_move(staff_client):
    # Lost without a reason (imported, or before reasons were asked).
    deal = make_deal(stage=stage("Closed-Lost"))
    before = history(deal)
    response = post_deal_form(staff_client, deal, title="Renamed", amount="250.00")
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.title, deal.amount, deal.lost_reason) == ("Renamed", Decimal("250.00"), None)
    assert history(deal) == before


def test_a_save_that_keeps_the_stage_records_no_stage_change(staff_client):
    deal = make_deal(stage=stage("Negotiation"))
    before = history(deal)
    response = post_deal_form(staff_client, deal, probability="75")
    assert response.status_code == 302
    assert history(deal) == before


def test_the_form_refuses_taking_the_reason_away_from_a_lost_deal(staff_client):
    deal = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Price"))
    response = post_deal_form(staff_client, deal, lost_reason="")
    assert REQUIRED in response.content.decode()
    deal.refresh_from_db()
    assert deal.lost_reason == lost_reason("Price")


def test_the_form_refuses_a_reason_for_a_deal_that_is_not_lost(staff_client):
    deal = make_deal()
    response = post_deal_form(staff_client, deal, lost_reason=str(lost_reason("Price").pk))
    assert "Only a lost deal has a lost reason" in response.content.decode()
    deal.refresh_from_db()
    assert deal.lost_reason is None


def test_reopening_a_lost_deal_in_the_form_clears_its_reason(staff_client, admin_user):
    deal = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Price"))
    response = post_deal_form(staff_client, deal, stage=str(stage("Negotiation").pk))
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason) == ("Negotiation", None)
    assert (last_change(deal).changed_by, last_change(deal).lost_reason) == (admin_user, None)


def test_the_form_refuses_an_unknown_reason(staff_client):
    deal = make_deal()
    response = post_deal_form(
        staff_client, deal, stage=str(stage("Closed-Lost").pk), lost_reason="999999"
    )
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_the_deal_page_says_since_when_the_deal_is_in_its_stage(staff_client):
    deal = make_deal()
    page = staff_client.get(change_url(deal)).content.decode()
    assert "In stage since" in page and "(0 days)" in page


# --- bulk actions ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 25])
def test_bulk_mark_lost_asks_why_then_records_one_change_per_deal(staff_client, admin_user, size):
    deals = [make_deal(stage=stage("Negotiation")) for _ in range(size)]
    already = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Other"))
    chosen = [*deals, already]
    page = run_action(staff_client, "mark_lost", chosen)
    assert "Mark deals as lost" in page.content.decode()
    assert DealStageChange.objects.count() == size + 1, "only the creations"

    refused = run_action(staff_client, "mark_lost", chosen, apply="1", lost_reason="")
    assert refused.status_code == 200 and not refused.redirect_chain
    assert REQUIRED in refused.content.decode()
    assert not Deal.objects.filter(pk__in=[d.pk for d in deals], stage__outcome="lost").exists()

    response = run_action(
        staff_client, "mark_lost", chosen, apply="1", lost_reason=lost_reason("Competitor").pk
    )
    noun = "deal" if size == 1 else "deals"
    assert messages_of(response) == [f"{size} {noun} marked as lost: Competitor."]
    lost = Deal.objects.filter(pk__in=[d.pk for d in deals])
    assert lost.filter(stage__name="Closed-Lost", lost_reason__name="Competitor").count() == size
    moves = DealStageChange.objects.filter(to_stage=stage("Closed-Lost"), from_stage__isnull=False)
    assert moves.count() == size, "one row per changed deal, none for the deal already lost"
    assert set(moves.values_list("changed_by", "lost_reason__name", "from_stage__name")) == {
        (admin_user.pk, "Competitor", "Negotiation")
    }
    already.refresh_from_db()
    assert already.lost_reason.name == "Other"


def test_bulk_mark_lost_refuses_an_unknown_reason(staff_client):
    deal = make_deal()
    response = run_action(staff_client, "mark_lost", [deal], apply="1", lost_reason="999999")
    assert "That lost reason does not exist (any more)" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_bulk_move_to_a_lost_stage_asks_why(staff_client, admin_user):
    deals = [make_deal(), make_deal()]
    lost = stage("Closed-Lost")
    refused = run_action(staff_client, "move_to_stage", deals, apply="1", stage=lost.pk)
    assert not refused.redirect_chain, "the page asks again"
    assert REQUIRED in refused.content.decode()
    assert not Deal.objects.filter(stage=lost).exists()

    response = run_action(
        staff_client,
        "move_to_stage",
        deals,
        apply="1",
        stage=lost.pk,
        lost_reason=lost_reason("No budget").pk,
    )
    assert messages_of(response) == ["2 deals moved to Closed-Lost: No budget."]
    assert Deal.objects.filter(stage=lost, lost_reason__name="No budget").count() == 2
    for deal in deals:
        change = last_change(deal)
        assert (change.to_stage, change.changed_by, change.lost_reason.name) == (
            lost,
            admin_user,
            "No budget",
        )


def test_bulk_move_to_an_open_stage_needs_no_reason(staff_client, admin_user):
    deal = make_deal()
    response = run_action(
        staff_client, "move_to_stage", [deal], apply="1", stage=stage("Negotiation").pk
    )
    assert messages_of(response) == ["1 deal moved to Negotiation."]
    assert (last_change(deal).to_stage.name, last_change(deal).changed_by) == (
        "Negotiation",
        admin_user,
    )


# --- the deal page's button ------------------------------------------------------------------


def test_the_mark_lost_dialog_offers_the_reasons(staff_client):
    deal = make_deal()
    url = reverse("admin:crm_admin_deal_mark_lost_detail", args=[deal.pk])
    page = staff_client.get(url).content.decode()
    assert "Mark this deal as lost?" in page
    assert 'id="id_dialog_lost_reason"' in page
    for reason in LostReason.objects.all():
        assert f'<option value="{reason.pk}">{reason.name}</option>' in page


def test_the_mark_lost_button_asks_why_then_records_the_move(staff_client, admin_user):
    deal = make_deal(probability=40)
    response = mark_lost_button(staff_client, deal)
    assert response.status_code == 200 and "HX-Redirect" not in response.headers
    assert REQUIRED in response.content.decode(), "the dialog shows the refusal"
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"

    response = mark_lost_button(staff_client, deal, lost_reason="999999")
    assert "That lost reason does not exist (any more)" in response.content.decode()

    response = mark_lost_button(staff_client, deal, lost_reason=lost_reason("Price").pk)
    assert response.headers["HX-Redirect"] == change_url(deal)
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason) == ("Closed-Lost", lost_reason("Price"))
    assert len(history(deal)) == 2
    assert (last_change(deal).changed_by, last_change(deal).lost_reason) == (
        admin_user,
        lost_reason("Price"),
    )
    page = staff_client.get(change_url(deal))
    assert "The deal is marked as lost: Price." in messages_of(page)


def test_the_mark_won_button_records_its_move(staff_client, admin_user):
    deal = make_deal()
    url = reverse("admin:crm_admin_deal_mark_won_detail", args=[deal.pk])
    staff_client.post(url, {"_form_submitted": "on"})
    assert (last_change(deal).to_stage.name, last_change(deal).changed_by) == (
        "Closed-Won",
        admin_user,
    )
    assert len(history(deal)) == 2


# --- the board -------------------------------------------------------------------------------


def test_a_board_move_to_a_lost_column_without_a_reason_is_refused(staff_client):
    deal = make_deal()
    response = board_move(staff_client, deal, "Closed-Lost")
    assert response.status_code == 400
    assert response.json() == {"error": REQUIRED}
    response = board_move(staff_client, deal, "Closed-Lost", lost_reason="999999")
    assert response.status_code == 400
    assert (
        "That lost reason does not exist (any more). Reload the board."
        in (response.json()["error"])
    )
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"
    assert len(history(deal)) == 1


def test_a_board_move_to_a_lost_column_records_the_reason(staff_client, admin_user):
    deal = make_deal()
    response = board_move(staff_client, deal, "Closed-Lost", lost_reason=lost_reason("Timing").pk)
    assert response.status_code == 200
    payload = response.json()
    assert payload["message"] == f"“{deal.title}” moved to Closed-Lost: Timing."
    assert payload["deal"]["lost_reason"] == "Lost: Timing"
    deal.refresh_from_db()
    assert deal.lost_reason == lost_reason("Timing")
    assert len(history(deal)) == 2
    change = last_change(deal)
    assert (change.from_stage.name, change.changed_by, change.lost_reason) == (
        "Prospecting",
        admin_user,
        lost_reason("Timing"),
    )

    response = board_move(staff_client, deal, "Negotiation")
    assert response.json()["deal"]["lost_reason"] == ""
    deal.refresh_from_db()
    assert deal.lost_reason is None
    assert len(history(deal)) == 3


def test_the_boards_form_post_asks_why_too(staff_client):
    deal = make_deal()
    url = reverse("admin:crm_admin_deal_move", args=[deal.pk])
    response = staff_client.post(url, {"stage": stage("Closed-Lost").pk}, follow=True)
    assert response.redirect_chain == [(reverse("admin:crm_admin_deal_board"), 302)]
    assert messages_of(response) == [REQUIRED]
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"

    page = response.content.decode()
    assert f'id="move-reason-{deal.pk}" name="lost_reason"' in page
    assert 'id="lost-reason-dialog"' in page
    staff_client.post(
        url, {"stage": stage("Closed-Lost").pk, "lost_reason": lost_reason("Other").pk}
    )
    deal.refresh_from_db()
    assert deal.lost_reason == lost_reason("Other")


def test_a_board_move_to_an_open_column_needs_no_reason(staff_client, admin_user):
    deal = make_deal()
    assert board_move(staff_client, deal, "Negotiation").status_code == 200
    assert (last_change(deal).to_stage.name, last_change(deal).changed_by) == (
        "Negotiation",
        admin_user,
    )


# --- CRM_REQUIRE_LOST_REASON=False -----------------------------------------------------------


def test_without_required_reasons_every_path_marks_lost_without_one(staff_client, settings):
    settings.CRM_REQUIRE_LOST_REASON = False
    lost = stage("Closed-Lost")
    by_form, by_mark, by_move, by_button, by_board = (make_deal() for _ in range(5))

    assert post_deal_form(staff_client, by_form, stage=str(lost.pk)).status_code == 302
    response = run_action(staff_client, "mark_lost", [by_mark], apply="1", lost_reason="")
    assert "1 deal marked as lost." in messages_of(response)
    run_action(staff_client, "move_to_stage", [by_move], apply="1", stage=lost.pk)
    assert mark_lost_button(staff_client, by_button).headers["HX-Redirect"]
    assert board_move(staff_client, by_board, "Closed-Lost").status_code == 200

    for deal in (by_form, by_mark, by_move, by_button, by_board):
        deal.refresh_from_db()
        assert (deal.stage, deal.lost_reason) == (lost, None)
        assert len(history(deal)) == 2
        assert last_change(deal).to_stage == lost


def test_without_required_reasons_the_label_is_not_marked_required(staff_client, settings):
    deal = make_deal()
    url = reverse("admin:crm_admin_deal_mark_lost_detail", args=[deal.pk])
    assert "required" in staff_client.get(url).content.decode()
    settings.CRM_REQUIRE_LOST_REASON = False
    page = staff_client.get(url).content.decode()
    assert 'id="id_dialog_lost_reason"' in page
    assert "required" not in page
