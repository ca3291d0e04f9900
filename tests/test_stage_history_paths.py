"""Every path that creates a deal or changes its stage, against the one rule: exactly one
DealStageChange per changed deal (none for a write that keeps the stage), `stage_entered_at`
the row's time, the row by the user who made the change, with the lost reason when the move
lost the deal, and the reason cleared when a deal leaves a lost stage. Then hostile input on
the issue's new surfaces (the board's move, the bulk forms, the lost reason and stage admins,
the import's lost_reason column, the timeline's page) and their permissions.

The paths tested elsewhere are named in the review's report (tests/test_stage_history.py,
tests/test_admin_lost_reasons.py, tests/test_import_history.py, ...); these are the gaps."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.models import Deal, Stage
from tests.factories import (
    lost_reason,
    make_company,
    make_contact,
    make_deal,
    make_user,
    stage,
)
from tests.forms import form_data
from tests.test_import import crm_import, failing_import, snapshot, write

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
BOARD = reverse("admin:crm_admin_deal_board")
REASONS = reverse("admin:crm_admin_lostreason_changelist")
IMPORT = reverse("admin:crm_admin_deal_import")
CONFIRM = reverse("admin:crm_admin_deal_process_import")
REQUIRED = "Say why the deal was lost: choose a lost reason."


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def history(deal) -> list[DealStageChange]:
    return list(
        DealStageChange.objects.filter(deal=deal)
        .select_related("from_stage", "to_stage", "lost_reason")
        .order_by("changed_at", "id")
    )


def assert_one_move(deal, before: list, *, to: str, by, reason=None, from_=None) -> None:
    """The deal got exactly one history row since `before` (its rows then): into `to`, by
    `by`, from the stage it was in, with `reason`; and it entered `to` at the row's time."""
    rows = history(deal)
    assert rows[: len(before)] == before
    assert len(rows) == len(before) + 1, [str(row) for row in rows]
    row, previous = rows[-1], before[-1]
    saved = Deal.objects.get(pk=deal.pk)
    assert (row.from_stage_id, row.to_stage.name) == (from_ or previous.to_stage_id, to)
    assert row.from_stage_entered_at == previous.changed_at
    assert row.changed_by == by
    assert row.lost_reason == reason == saved.lost_reason
    assert (saved.stage.name, saved.stage_entered_at) == (to, row.changed_at)


def change_url(deal) -> str:
    return reverse("admin:crm_admin_deal_change", args=[deal.pk])


def move_url(deal) -> str:
    return reverse("admin:crm_admin_deal_move", args=[deal.pk])


def post_deal_form(client, deal=None, **overrides):
    url = change_url(deal) if deal else reverse("admin:crm_admin_deal_add")
    return client.post(url, form_data(client.get(url), "deal_form", **overrides))


def run_action(client, action, deals, *, follow=True, **extra):
    data = {"action": action, "index": "0", "select_across": "0"}
    data["_selected_action"] = [str(deal.pk) for deal in deals] or ["0"]
    return client.post(DEALS, data | extra, follow=follow)


def board_json(client, deal, **data):
    return client.post(move_url(deal), data, headers={"Accept": "application/json"})


def button(client, deal, name, **data):
    url = reverse(f"admin:crm_admin_deal_{name}_detail", args=[deal.pk])
    return client.post(url, {"_form_submitted": "on", **data}, headers={"HX-Request": "true"})


def upload(client, content: bytes):
    page = client.get(IMPORT)
    data = form_data(page, "import-form", format="0")
    data["import_file"] = SimpleUploadedFile("deals.csv", content)
    return client.post(IMPORT, data)


def aged(deal, days: int = 3) -> Deal:
    """The deal as if created and in its stage `days` ago, so that a move's times differ."""
    then = timezone.now() - timedelta(days=days)
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=then, created_at=then)
    DealStageChange.objects.filter(deal=deal).update(changed_at=then)
    return Deal.objects.get(pk=deal.pk)


# --- each path: one row per change, none for a write that keeps the stage --------------------


def test_the_add_form_records_the_creation_by_the_user(staff_client, admin_user):
    contact = make_contact()
    response = post_deal_form(
        staff_client, title="Kiosk", contact=str(contact.pk), stage=str(stage("Negotiation").pk)
    )
    assert response.status_code == 302
    deal = Deal.objects.get(title="Kiosk")
    [row] = history(deal)
    assert (row.from_stage, row.to_stage.name, row.changed_by) == (None, "Negotiation", admin_user)
    assert (row.from_stage_entered_at, row.lost_reason) == (None, None)
    assert deal.stage_entered_at == row.changed_at


def test_the_change_form_records_one_move_and_stamps_the_entry(staff_client, admin_user):
    deal = aged(make_deal())
    before = history(deal)
    response = post_deal_form(staff_client, deal, stage=str(stage("Negotiation").pk))
    assert response.status_code == 302
    assert_one_move(deal, before, to="Negotiation", by=admin_user)
    assert Deal.objects.get(pk=deal.pk).stage_entered_at > deal.stage_entered_at


def test_the_change_form_with_a_note_records_one_move(staff_client, admin_user):
    deal = aged(make_deal())
    before = history(deal)
    response = post_deal_form(
        staff_client,
        deal,
        stage=str(stage("Closed-Won").pk),
        **{"notes-TOTAL_FORMS": "1", "notes-0-text": "Signed today"},
    )
    assert response.status_code == 302
    assert deal.notes.filter(text="Signed today").exists()
    assert_one_move(deal, before, to="Closed-Won", by=admin_user)


def bulk_deals(count: int, stage_name: str = "Negotiation") -> list[Deal]:
    """`count` deals created in bulk, each with its creation row (as the import does)."""
    contact = make_contact()
    deals = [
        Deal(title=f"Bulk {i}", contact=contact, stage=stage(stage_name)) for i in range(count)
    ]
    for deal in deals:
        deal.apply_stage_outcome(at=timezone.now() - timedelta(days=2))
    Deal.objects.bulk_create(deals)
    DealStageChange.objects.bulk_create(deal.pending_stage_change for deal in deals)
    return deals


BULK_ACTIONS = {
    "mark as won": ("mark_won", {}, "Closed-Won", None),
    "mark as lost": ("mark_lost", {"apply": "1", "lost_reason": "Timing"}, "Closed-Lost", "Timing"),
    "move to an open stage": (
        "move_to_stage",
        {"apply": "1", "stage": "Prospecting"},
        "Prospecting",
        None,
    ),
    "move to a lost stage": (
        "move_to_stage",
        {"apply": "1", "stage": "Closed-Lost", "lost_reason": "Price"},
        "Closed-Lost",
        "Price",
    ),
}


def bulk_action(client, action, fields, count, already):
    """Run the action on `count` new deals and one already in the target stage; the
    statements it ran and the deals."""
    deals = bulk_deals(count)
    data = dict(fields)
    if "stage" in data:
        data["stage"] = str(stage(data["stage"]).pk)
    if "lost_reason" in data:
        data["lost_reason"] = str(lost_reason(data["lost_reason"]).pk)
    with CaptureQueriesContext(connection) as captured:
        response = run_action(client, action, [*deals, already], follow=False, **data)
    assert response.status_code == 302, response.content.decode()[:500]
    return len(captured), deals


@pytest.mark.parametrize(
    ("action", "fields", "target", "reason"), BULK_ACTIONS.values(), ids=BULK_ACTIONS
)
def test_each_bulk_action_records_one_row_per_changed_deal_in_constant_statements(
    staff_client, admin_user, action, fields, target, reason
):
    already = make_deal(stage=stage(target), lost_reason=lost_reason("Other") if reason else None)
    already_rows = history(already)
    bulk_action(staff_client, action, fields, 1, already)  # warm-up: session, content types
    small, _deals = bulk_action(staff_client, action, fields, 3, already)
    large, deals = bulk_action(staff_client, action, fields, 40, already)
    assert small == large, f"{small} statements for 3 deals, {large} for 40"

    expected = lost_reason(reason) if reason else None
    for deal in deals:
        [created, moved] = history(deal)
        assert (moved.from_stage.name, moved.to_stage.name) == ("Negotiation", target)
        assert (moved.changed_by, moved.lost_reason) == (admin_user, expected)
        assert moved.from_stage_entered_at == created.changed_at
        saved = Deal.objects.get(pk=deal.pk)
        assert (saved.stage_entered_at, saved.lost_reason) == (moved.changed_at, expected)
    # The deal already there: no row, and it keeps its own reason and entry time.
    assert history(already) == already_rows
    kept = Deal.objects.get(pk=already.pk)
    assert (kept.stage_entered_at, kept.lost_reason) == (
        already.stage_entered_at,
        already.lost_reason,
    )


def test_the_boards_form_post_records_one_move_by_the_user(staff_client, admin_user):
    deal = aged(make_deal())
    before = history(deal)
    response = staff_client.post(
        move_url(deal), {"stage": stage("Closed-Lost").pk, "lost_reason": lost_reason("Other").pk}
    )
    assert response.status_code == 302
    assert_one_move(deal, before, to="Closed-Lost", by=admin_user, reason=lost_reason("Other"))


def test_a_board_move_into_the_deals_own_column_records_nothing(staff_client):
    deal = aged(make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Price")))
    before = history(deal)
    response = board_json(
        staff_client, deal, stage=stage("Closed-Lost").pk, lost_reason=lost_reason("Timing").pk
    )
    assert response.status_code == 200
    assert response.json()["deal"]["lost_reason"] == "Lost: Price"
    assert history(deal) == before
    saved = Deal.objects.get(pk=deal.pk)
    assert (saved.stage_entered_at, saved.lost_reason) == (
        deal.stage_entered_at,
        lost_reason("Price"),
    )


def test_a_board_move_stamps_the_entry_and_records_the_user(staff_client, admin_user):
    deal = aged(make_deal())
    before = history(deal)
    assert board_json(staff_client, deal, stage=stage("Negotiation").pk).status_code == 200
    assert_one_move(deal, before, to="Negotiation", by=admin_user)


def test_the_buttons_record_one_move_and_nothing_on_a_deal_already_there(staff_client, admin_user):
    won = aged(make_deal())
    before = history(won)
    assert button(staff_client, won, "mark_won").headers["HX-Redirect"] == change_url(won)
    assert_one_move(won, before, to="Closed-Won", by=admin_user)
    after = history(won)
    button(staff_client, won, "mark_won")
    assert history(won) == after, "marking a won deal won again moves nothing"
    assert "Nothing to change." in messages_of(staff_client.get(change_url(won)))

    lost = aged(make_deal(stage=stage("Negotiation")))
    before = history(lost)
    button(staff_client, lost, "mark_lost", lost_reason=lost_reason("No budget").pk)
    assert_one_move(lost, before, to="Closed-Lost", by=admin_user, reason=lost_reason("No budget"))
    after = history(lost)
    button(staff_client, lost, "mark_lost", lost_reason=lost_reason("Price").pk)
    assert history(lost) == after
    assert Deal.objects.get(pk=lost.pk).lost_reason == lost_reason("No budget")


def test_an_import_through_the_admin_records_its_moves_by_the_importing_user(
    staff_client, admin_user
):
    moving = aged(make_deal(title="Moving"))
    staying = aged(make_deal(title="Staying", stage=stage("Negotiation")))
    before = {deal.pk: history(deal) for deal in (moving, staying)}
    rows = "".join(
        f"{deal.pk},{deal.title},{deal.contact.email},{amount},{name},{reason}\n"
        for deal, amount, name, reason in (
            (moving, "1000.00", "Closed-Lost", "competitor"),
            (staying, "7.00", "Negotiation", ""),
        )
    )
    preview = upload(
        staff_client, ("id,title,contact_email,amount,stage,lost_reason\n" + rows).encode()
    )
    assert 'data-total="errors">0</dd>' in preview.content.decode()
    assert history(moving) == before[moving.pk], "the preview records nothing"
    staff_client.post(CONFIRM, form_data(preview, "import-confirm"))

    assert_one_move(
        moving, before[moving.pk], to="Closed-Lost", by=admin_user, reason=lost_reason("Competitor")
    )
    assert history(staying) == before[staying.pk]
    saved = Deal.objects.get(pk=staying.pk)
    assert (saved.amount, saved.stage_entered_at) == (7, staying.stage_entered_at)


def test_the_import_command_records_moves_by_nobody(tmp_path):
    deal = aged(make_deal(title="Pilot"))
    before = history(deal)
    path = write(
        tmp_path,
        "d.csv",
        f"id,title,contact_email,stage\n{deal.pk},Pilot,{deal.contact.email},Closed-Won\n",
    )
    crm_import("deals", path)
    assert_one_move(deal, before, to="Closed-Won", by=None)


# Plain ORM: the instance remembers the stage it was loaded with, however it was loaded.


def test_a_save_after_a_bulk_move_and_a_refresh_is_no_second_move():
    deal = make_deal(stage=stage("Negotiation"))
    services.deals_move_to_stage(deals=Deal.objects.filter(pk=deal.pk), stage=stage("Closed-Won"))
    deal.refresh_from_db()
    moved = history(deal)
    closed_at, entered = deal.closed_at, deal.stage_entered_at

    deal.title = "Renamed"
    deal.save()

    assert history(deal) == moved
    saved = Deal.objects.get(pk=deal.pk)
    assert (saved.closed_at, saved.stage_entered_at) == (closed_at, entered)


def test_a_save_of_a_deal_loaded_without_its_stage_is_no_move():
    deal = make_deal(stage=stage("Negotiation"))
    before = history(deal)
    only_title = Deal.objects.only("title").get(pk=deal.pk)
    only_title.title = "Renamed"
    only_title.save()
    Deal.objects.defer("stage").get(pk=deal.pk).save(update_fields=["title"])
    assert history(deal) == before
    assert Deal.objects.get(pk=deal.pk).stage_entered_at == deal.stage_entered_at


def test_a_move_of_a_deal_loaded_without_its_stage_records_where_it_came_from():
    deal = aged(make_deal(stage=stage("Negotiation")))
    before = history(deal)
    loaded = Deal.objects.defer("stage", "stage_entered_at").get(pk=deal.pk)
    loaded.stage = stage("Closed-Won")
    loaded.save()
    assert_one_move(deal, before, to="Closed-Won", by=None, from_=stage("Negotiation").pk)


def test_a_save_that_leaves_the_stage_out_records_the_move_when_the_stage_is_saved():
    deal = aged(make_deal())
    before = history(deal)
    deal.stage = stage("Negotiation")
    deal.save(update_fields=["title"])
    assert history(deal) == before, "the stage was not written"
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"
    deal.save()
    assert_one_move(deal, before, to="Negotiation", by=None)


def test_a_save_of_the_stage_by_its_attname_follows_the_rule():
    deal = aged(make_deal())
    before = history(deal)
    deal.stage_id = stage("Closed-Won").pk
    deal.save(update_fields=["stage_id"])
    assert_one_move(deal, before, to="Closed-Won", by=None)
    assert Deal.objects.get(pk=deal.pk).closed_at is not None


# --- a stage's change of outcome moves no deal -----------------------------------------------


def stage_form(client, obj, **changes) -> dict:
    url = reverse("admin:crm_admin_stage_change", args=[obj.pk])
    return form_data(client.get(url), "stage_form", **changes)


def test_a_change_of_outcome_in_the_admin_records_no_stage_change(staff_client):
    negotiation = stage("Negotiation")
    deal = aged(make_deal(stage=negotiation))
    before = history(deal)
    url = reverse("admin:crm_admin_stage_change", args=[negotiation.pk])
    data = stage_form(staff_client, negotiation, outcome="won")
    assert staff_client.post(url, {**data, "confirm_outcome_change": "on"}).status_code == 302
    assert history(deal) == before
    saved = Deal.objects.get(pk=deal.pk)
    assert (saved.closed_at is not None, saved.stage_entered_at) == (True, deal.stage_entered_at)


def test_a_lost_stage_made_open_clears_its_deals_reasons_and_records_nothing(staff_client):
    lost = stage("Closed-Lost")
    deal = make_deal(stage=lost, lost_reason=lost_reason("Price"))
    before = history(deal)
    url = reverse("admin:crm_admin_stage_change", args=[lost.pk])
    data = stage_form(staff_client, lost, outcome="open")
    assert staff_client.post(url, {**data, "confirm_outcome_change": "on"}).status_code == 302
    assert Deal.objects.get(pk=deal.pk).lost_reason is None, "only a lost deal has a reason"
    assert history(deal) == before


# --- leaving a lost stage clears the reason, on each path -----------------------------------


def lost_deal() -> Deal:
    return aged(make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Price")))


def test_leaving_a_lost_stage_clears_the_reason_on_every_path(staff_client, admin_user, tmp_path):
    paths = {}

    deal = paths["form"] = lost_deal()
    post_deal_form(staff_client, deal, stage=str(stage("Negotiation").pk))
    deal = paths["mark won action"] = lost_deal()
    run_action(staff_client, "mark_won", [deal])
    deal = paths["move action"] = lost_deal()
    run_action(staff_client, "move_to_stage", [deal], apply="1", stage=stage("Prospecting").pk)
    deal = paths["mark won button"] = lost_deal()
    button(staff_client, deal, "mark_won")
    deal = paths["board"] = lost_deal()
    board_json(staff_client, deal, stage=stage("Negotiation").pk)
    deal = paths["board form"] = lost_deal()
    staff_client.post(move_url(deal), {"stage": stage("Negotiation").pk})
    deal = paths["import"] = lost_deal()
    path = write(
        tmp_path,
        "d.csv",
        f"id,title,contact_email,stage,lost_reason\n{deal.pk},{deal.title},{deal.contact.email},"
        "Negotiation,Price\n",
    )
    crm_import("deals", path)

    for name, deal in paths.items():
        saved = Deal.objects.select_related("stage").get(pk=deal.pk)
        assert saved.stage.outcome != Stage.Outcome.LOST, name
        assert saved.lost_reason is None, name
        [_created, moved] = history(deal)
        assert (moved.from_stage.name, moved.lost_reason) == ("Closed-Lost", None), name
        assert moved.changed_by == (None if name == "import" else admin_user), name


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["abc", "-1", "0", "1.5", "99999999999999999999", "1e3", "\x00", "Price", "\uff11"],
    ids=repr,
)
def test_a_board_move_with_a_bogus_lost_reason_is_refused_clearly(staff_client, bad):
    deal = make_deal()
    before = history(deal)
    response = board_json(staff_client, deal, stage=stage("Closed-Lost").pk, lost_reason=bad)
    if bad == "\uff11":
        # A full-width digit is the number one to Python's int(): the first shipped reason.
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["error"] in (
        "That lost reason does not exist (any more). Reload the board.",
        "Null characters are not allowed.",
    )
    assert history(deal) == before
    response = staff_client.post(
        move_url(deal), {"stage": stage("Closed-Lost").pk, "lost_reason": bad}, follow=True
    )
    assert response.redirect_chain == [(BOARD, 302)]
    assert len(messages_of(response)) == 1
    assert history(deal) == before


def test_a_board_move_with_two_reasons_or_a_reason_for_an_open_column(staff_client):
    deal = make_deal()
    two = [lost_reason("Price").pk, lost_reason("Timing").pk]
    response = board_json(staff_client, deal, stage=stage("Closed-Lost").pk, lost_reason=two)
    # A form field reads the last of repeated values, as Django's QueryDict does.
    assert response.status_code == 200
    assert Deal.objects.get(pk=deal.pk).lost_reason == lost_reason("Timing")

    other = make_deal()
    response = board_json(
        staff_client, other, stage=stage("Negotiation").pk, lost_reason=lost_reason("Price").pk
    )
    assert response.status_code == 200
    assert response.json()["deal"]["lost_reason"] == ""
    saved = Deal.objects.get(pk=other.pk)
    assert (saved.stage.name, saved.lost_reason) == ("Negotiation", None)
    assert history(other)[-1].lost_reason is None


@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999", "-1", "1%00"])
def test_a_board_move_of_a_deal_that_is_no_deal_is_a_404(staff_client, object_id):
    url = reverse("admin:crm_admin_deal_move", args=[object_id])
    response = staff_client.post(url, {"stage": stage("Closed-Won").pk})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"stage": "abc"},
        {"stage": "99999999999999999999"},
        {"stage": ""},
        {"stage": "Closed-Lost", "lost_reason": "abc"},
        {"stage": "Closed-Lost", "lost_reason": "99999999999999999999"},
    ],
    ids=repr,
)
def test_the_move_action_with_bogus_choices_asks_again(staff_client, fields):
    deal = make_deal()
    before = history(deal)
    data = dict(fields)
    if data["stage"] == "Closed-Lost":
        data["stage"] = stage("Closed-Lost").pk
    response = run_action(staff_client, "move_to_stage", [deal], apply="1", **data)
    assert response.status_code == 200 and not response.redirect_chain
    page = response.content.decode()
    assert "Move deals to a stage" in page
    assert (
        "Select a valid choice" in page
        or "does not exist (any more)" in page
        or ("This field is required." in page)
    )
    assert history(deal) == before


@pytest.mark.parametrize("selected", ["abc", "99999999999999999999", "-1", "1.5", "\x00"], ids=repr)
def test_an_action_on_rows_that_are_no_ids_is_refused_clearly(staff_client, selected):
    deal = make_deal()
    reason = lost_reason("Other")
    for url, action, extra in (
        (DEALS, "mark_lost", {"apply": "1", "lost_reason": reason.pk}),
        (DEALS, "mark_won", {}),
        (REASONS, "delete_selected", {"post": "yes"}),
    ):
        data = {"action": action, "index": "0", "select_across": "0"}
        data["_selected_action"] = [str(deal.pk if url == DEALS else reason.pk), selected]
        response = staff_client.post(url, data | extra, follow=True)
        assert response.status_code == 200, (url, action)
        assert messages_of(response) == ["Those rows are not valid: nothing was changed."]
    assert len(history(deal)) == 1
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"
    assert LostReason.objects.filter(pk=reason.pk).exists()


def test_select_all_with_broken_filters_marks_nothing_lost(staff_client):
    deal = make_deal()
    response = staff_client.post(
        f"{DEALS}?lost_reason=abc&stale=maybe&stage__id__exact=xyz",
        {
            "action": "mark_lost",
            "index": "0",
            "select_across": "1",
            "_selected_action": ["0"],
            "apply": "1",
            "lost_reason": lost_reason().pk,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert len(history(deal)) == 1
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"


@pytest.mark.parametrize(
    "params",
    [
        {"lost_reason": "99999999999999999999"},
        {"lost_reason": "-1"},
        {"lost_reason": "\x00"},
        {"stale": "maybe"},
        {"stale": "yes", "lost_reason": "none"},
    ],
    ids=repr,
)
def test_the_deal_list_and_board_with_odd_filter_values_do_not_fail(staff_client, params):
    make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason())
    for url in (DEALS, BOARD):
        response = staff_client.get(url, params, follow=True)
        assert response.status_code == 200, url


ADD_REASON = reverse("admin:crm_admin_lostreason_add")


def add_reason(client, name: str):
    return client.post(ADD_REASON, form_data(client.get(ADD_REASON), "lostreason_form", name=name))


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("price", "A lost reason with this name already exists."),
        ("  PRICE  ", "A lost reason with this name already exists."),
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 101, "Ensure this value has at most 100 characters (it has 101)."),
        ("Bad\x00name", "Null characters are not allowed."),
    ],
    ids=repr,
)
def test_the_lost_reason_admin_refuses_bad_names_clearly(staff_client, name, refusal):
    count = LostReason.objects.count()
    response = add_reason(staff_client, name)
    assert response.status_code == 200
    assert refusal in response.content.decode()
    assert LostReason.objects.count() == count


def test_the_lost_reason_admin_keeps_non_ascii_names_and_folds_their_case(staff_client):
    assert add_reason(staff_client, "Zu groß für uns 東京").status_code == 302
    reason = LostReason.objects.get(name="Zu groß für uns 東京")
    response = add_reason(staff_client, "ZU GROSS FÜR UNS 東京")
    assert "A lost reason with this name already exists." in response.content.decode()
    assert LostReason.objects.filter(name_key=reason.name_key).count() == 1
    assert "Zu groß für uns 東京" in staff_client.get(REASONS).content.decode()
    # Usable straight away on the board's dialog.
    deal = make_deal()
    response = board_json(staff_client, deal, stage=stage("Closed-Lost").pk, lost_reason=reason.pk)
    assert (
        response.json()["message"] == f"“{deal.title}” moved to Closed-Lost: Zu groß für uns 東京."
    )


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ("-1", "Ensure this value is greater than or equal to 0."),
        ("0", "A deal is stale after one day at least."),
        ("32768", "A deal is stale after 32767 days at most."),
        # Past what a date can go back: the deal list and the board failed on SQLite.
        ("3000000", "A deal is stale after 32767 days at most."),
        ("abc", "Enter a whole number."),
        ("1.5", "Enter a whole number."),
    ],
)
def test_stale_after_days_out_of_range_is_refused_clearly(staff_client, value, refusal):
    negotiation = stage("Negotiation")
    url = reverse("admin:crm_admin_stage_change", args=[negotiation.pk])
    response = staff_client.post(url, stage_form(staff_client, negotiation, stale_after_days=value))
    assert response.status_code == 200
    assert refusal in response.content.decode()
    assert stage("Negotiation").stale_after_days is None


def test_the_longest_stale_after_days_works_on_every_surface(staff_client):
    negotiation = stage("Negotiation")
    url = reverse("admin:crm_admin_stage_change", args=[negotiation.pk])
    data = stage_form(staff_client, negotiation, stale_after_days="32767")
    assert staff_client.post(url, data).status_code == 302
    deal = make_deal(stage=negotiation)
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=timezone.now() - timedelta(days=32768))
    assert staff_client.get(DEALS, {"stale": "yes"}).context["cl"].result_count == 1
    assert staff_client.get(BOARD).status_code == 200
    assert staff_client.get(change_url(deal)).status_code == 200
    assert list(Deal.objects.stale()) == [deal]


IMPORT_HEADER = "id,title,contact_email,stage,lost_reason\n"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://x")', '“=HYPERLINK("http://x")” is not a lost reason'),
        ("💸", "“💸” is not a lost reason"),
        ("Price; Timing", "“Price; Timing” is not a lost reason"),
        ("y" * 300, f"“{'y' * 300}” is not a lost reason"),
    ],
    ids=["formula", "emoji", "two reasons", "long"],
)
def test_an_odd_lost_reason_in_an_import_is_a_row_error_naming_the_column(tmp_path, value, shown):
    contact = make_contact()
    cell = '"' + value.replace('"', '""') + '"' if '"' in value or ";" in value else value
    path = write(tmp_path, "d.csv", IMPORT_HEADER + f",Odd,{contact.email},Closed-Lost,{cell}\n")
    before, rows = snapshot(), DealStageChange.objects.count()
    message, err = failing_import("deals", path)
    assert "1 error: nothing was imported." in message
    assert err.startswith(f"row 2, column lost_reason: {shown}; use one of: Price, ")
    assert (snapshot(), DealStageChange.objects.count()) == (before, rows)


def test_an_unknown_lost_reason_is_refused_even_for_an_open_stage(tmp_path):
    contact = make_contact()
    path = write(tmp_path, "d.csv", IMPORT_HEADER + f",Open,{contact.email},Negotiation,Pricey\n")
    _message, err = failing_import("deals", path)
    assert "row 2, column lost_reason: “Pricey” is not a lost reason" in err
    assert not Deal.objects.exists()


def test_a_lost_reason_with_spaces_around_it_is_found(tmp_path):
    contact = make_contact()
    path = write(
        tmp_path, "d.csv", IMPORT_HEADER + f',Spaced,{contact.email},Closed-Lost,"  no BUDGET "\n'
    )
    crm_import("deals", path)
    deal = Deal.objects.get(title="Spaced")
    assert deal.lost_reason == lost_reason("No budget")
    assert [row.lost_reason for row in history(deal)] == [lost_reason("No budget")]


@pytest.mark.parametrize("value", ["99999999999999999999", "-5", "1e9", "\x00", "\uff12"], ids=repr)
def test_the_timeline_page_of_contacts_and_companies_takes_any_value(staff_client, value):
    deal = make_deal(contact=make_contact(company=make_company()))
    for record in (deal.contact, deal.contact.company, deal):
        opts = record._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
        response = staff_client.get(url, {"timeline": value})
        assert response.status_code == 200, (url, value)
        assert "Created in Prospecting." in response.content.decode()


# --- permissions -----------------------------------------------------------------------------


def test_a_viewer_cannot_mark_deals_lost_by_the_action_or_the_button(client, viewer):
    deal = make_deal()
    client.force_login(viewer)
    assert 'value="mark_lost"' not in client.get(DEALS).content.decode()
    response = run_action(client, "mark_lost", [deal], apply="1", lost_reason=lost_reason().pk)
    assert messages_of(response) == ["You do not have permission to do that: nothing was changed."]
    url = reverse("admin:crm_admin_deal_mark_lost_detail", args=[deal.pk])
    assert client.get(url).status_code == 403
    assert button(client, deal, "mark_lost", lost_reason=lost_reason().pk).status_code == 403
    assert "mark-lost" not in client.get(change_url(deal)).content.decode()
    response = board_json(client, deal, stage=stage("Closed-Lost").pk, lost_reason=lost_reason().pk)
    assert response.status_code == 403
    assert len(history(deal)) == 1
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"


def test_a_viewers_board_offers_no_move_and_no_reasons(client, viewer):
    make_deal()
    client.force_login(viewer)
    page = client.get(BOARD)
    assert page.status_code == 200
    assert page.context["lost_reasons"] == [] and page.context["can_move"] is False
    assert 'id="lost-reason-dialog"' not in page.content.decode()


def test_the_lost_reason_admin_needs_its_permissions(client):
    reason = lost_reason("Other")
    change = reverse("admin:crm_admin_lostreason_change", args=[reason.pk])
    delete = reverse("admin:crm_admin_lostreason_delete", args=[reason.pk])
    sort = reverse("admin:crm_admin_lostreason_sortable_update")
    order = {"updatedItems": [[reason.pk, 0]]}

    client.force_login(make_user(perms=["crm_admin.view_deal", "crm_admin.change_deal"]))
    for url in (REASONS, ADD_REASON, change, delete):
        assert client.get(url).status_code == 403, url
    assert client.post(ADD_REASON, {"name": "Sneaky"}).status_code == 403
    assert client.post(sort, order, content_type="application/json").status_code == 403

    client.force_login(make_user(perms=["crm_admin.view_lostreason"]))
    assert client.get(REASONS).status_code == 200
    assert client.get(change).status_code == 200, "a read-only page"
    assert client.post(change, {"name": "Renamed"}).status_code == 403
    assert client.get(ADD_REASON).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.post(sort, order, content_type="application/json").status_code == 403

    assert not LostReason.objects.filter(name__in=["Sneaky", "Renamed"]).exists()
    assert LostReason.objects.get(pk=reason.pk).order == reason.order


def test_the_stale_setting_needs_the_change_permission_on_stages(client, viewer):
    negotiation = stage("Negotiation")
    url = reverse("admin:crm_admin_stage_change", args=[negotiation.pk])
    client.force_login(viewer)
    assert (
        client.post(
            url, {"name": "Negotiation", "outcome": "open", "stale_after_days": "3"}
        ).status_code
        == 403
    )
    assert stage("Negotiation").stale_after_days is None
