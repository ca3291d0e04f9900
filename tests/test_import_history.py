"""The deal import and the stage history: the `lost_reason` column (by name in any case,
unknown names refused, cleared off deals that are not lost), and exactly one history row per
stage the import sets (a new deal's first, an existing deal's move), by the importing user,
none for rows that keep the stage; bulk, at any size."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.models import Deal
from tests.factories import lost_reason, make_contact, make_deal, make_user, stage
from tests.forms import form_data
from tests.test_import import DATA, crm_import, failing_import, snapshot, write

pytestmark = pytest.mark.django_db

HEADER = "id,title,contact_email,amount,stage,lost_reason\n"
IMPORT = reverse("admin:crm_admin_deal_import")
CONFIRM = reverse("admin:crm_admin_deal_process_import")


@pytest.fixture
def contacts(db):
    crm_import("contacts", DATA / "contacts.csv")
    LostReason.objects.create(name="Zu groß für uns", order=7)


def history(deal) -> list[tuple]:
    """(from, to, lost reason, by) of the deal's history rows, oldest first."""
    return [
        (
            row.from_stage and row.from_stage.name,
            row.to_stage.name,
            row.lost_reason and row.lost_reason.name,
            row.changed_by,
        )
        for row in DealStageChange.objects.filter(deal=deal)
        .select_related("from_stage", "to_stage", "lost_reason", "changed_by")
        .order_by("changed_at", "id")
    ]


def test_a_lost_reason_is_found_by_its_name_in_any_case(contacts):
    out, _err = crm_import("deals", DATA / "deals_lost_reasons.csv")
    assert "4 created" in out
    reasons = dict(Deal.objects.values_list("title", "lost_reason__name"))
    assert reasons == {
        "Lost on price": "Price",
        "Too big for them": "Zu groß für uns",  # "GROSS" is "groß", folded
        "Still talking": None,  # open: the reason is cleared
        "Lost for no reason": None,
    }
    # Each new deal: one row, from no stage, when it entered it, with the lost reason.
    for deal in Deal.objects.all():
        assert history(deal) == [(None, deal.stage.name, reasons[deal.title], None)]
        row = DealStageChange.objects.get(deal=deal)
        assert row.changed_at == deal.stage_entered_at
        assert row.from_stage_entered_at is None


def test_an_unknown_lost_reason_is_a_row_error_naming_the_valid_ones(contacts):
    before, history_before = snapshot(), DealStageChange.objects.count()
    message, err = failing_import("deals", DATA / "deals_lost_reasons_bad.csv")
    assert "2 errors: nothing was imported." in message
    valid = "Price, Competitor, No budget, No decision, Timing, Other, Zu groß für uns"
    assert err.splitlines() == [
        f"row 3, column lost_reason: “Too pricey” is not a lost reason; use one of: {valid}.",
        f"row 4, column lost_reason: “Competiton” is not a lost reason; use one of: {valid}.",
    ]
    assert snapshot() == before
    assert DealStageChange.objects.count() == history_before


def test_an_update_records_one_move_per_changed_stage_and_none_for_the_rest(tmp_path):
    moving = make_deal(title="Moving")
    staying = make_deal(title="Staying", stage=stage("Negotiation"))
    untouched = make_deal(title="Untouched", stage=stage("Negotiation"))
    entered = Deal.objects.get(pk=moving.pk).stage_entered_at - timedelta(days=3)
    Deal.objects.filter(pk=moving.pk).update(stage_entered_at=entered)
    rows = "".join(
        f"{deal.pk},{deal.title},{deal.contact.email},{amount},{name},\n"
        for deal, amount, name in (
            (moving, "1000.00", "Negotiation"),
            (staying, "2500.00", "Negotiation"),  # the amount changes, not the stage
            (untouched, "1000.00", "Negotiation"),
        )
    )
    path = write(tmp_path, "deals.csv", HEADER + rows)

    out, _err = crm_import("deals", path)
    assert "0 created, 2 updated, 1 unchanged" in out
    assert history(moving) == [
        (None, "Prospecting", None, None),
        ("Prospecting", "Negotiation", None, None),
    ]
    move = DealStageChange.objects.filter(deal=moving).first()
    assert move.from_stage_entered_at == entered
    assert Deal.objects.get(pk=moving.pk).stage_entered_at == move.changed_at > entered
    for deal in (staying, untouched):
        assert history(deal) == [(None, "Negotiation", None, None)]
    assert Deal.objects.get(pk=staying.pk).stage_entered_at == staying.stage_entered_at

    crm_import("deals", path)  # again: every row unchanged, nothing recorded
    assert DealStageChange.objects.count() == 4


def test_a_move_into_a_lost_stage_records_its_reason_and_leaving_it_clears_it(tmp_path):
    deal = make_deal(title="Pilot")
    lost = write(
        tmp_path, "lost.csv", HEADER + f"{deal.pk},Pilot,{deal.contact.email},,Closed-Lost,timing\n"
    )
    crm_import("deals", lost)
    assert Deal.objects.get(pk=deal.pk).lost_reason == lost_reason("Timing")
    assert history(deal)[-1] == ("Prospecting", "Closed-Lost", "Timing", None)

    reopened = write(
        tmp_path,
        "reopened.csv",
        "id,title,contact_email,stage\n" + f"{deal.pk},Pilot,{deal.contact.email},Negotiation\n",
    )
    crm_import("deals", reopened)
    assert Deal.objects.get(pk=deal.pk).lost_reason is None
    assert history(deal)[-1] == ("Closed-Lost", "Negotiation", None, None)


def test_a_file_without_the_column_keeps_a_lost_deals_reason(tmp_path):
    deal = make_deal(title="Gone", stage=stage("Closed-Lost"), lost_reason=lost_reason("Price"))
    path = write(
        tmp_path,
        "d.csv",
        f"id,title,contact_email,amount,stage\n{deal.pk},Gone,{deal.contact.email},5,Closed-Lost\n",
    )
    crm_import("deals", path)
    assert Deal.objects.get(pk=deal.pk).lost_reason == lost_reason("Price")
    assert len(history(deal)) == 1, "the amount changed, not the stage"


def test_a_dry_run_records_no_history(contacts):
    out, _err = crm_import("deals", DATA / "deals_lost_reasons.csv", "--dry-run")
    assert "4 to be created" in out
    assert not DealStageChange.objects.exists()


def test_history_rows_are_written_in_bulk_at_any_size(tmp_path):
    contact = make_contact()

    def import_statements(count: int) -> tuple[list[str], list[str]]:
        made = Deal.objects.bulk_create(
            Deal(title=f"M{count}-{i}", contact=contact, stage=stage("Prospecting"))
            for i in range(count)
        )
        rows = [f"{deal.pk},{deal.title},{contact.email},,Negotiation,\n" for deal in made]
        rows += [f",N{count}-{i},{contact.email},,Closed-Lost,Price\n" for i in range(count)]
        path = write(tmp_path, f"d{count}.csv", HEADER + "".join(rows))
        with CaptureQueriesContext(connection) as captured:
            crm_import("deals", path)
        statements = [q["sql"] for q in captured.captured_queries]
        reads = [sql for sql in statements if sql.startswith("SELECT")]
        inserts = [sql for sql in statements if 'INSERT INTO "crm_admin_dealstagechange"' in sql]
        return reads, inserts

    small_reads, small_inserts = import_statements(5)
    large_reads, large_inserts = import_statements(150)
    assert len(small_reads) == len(large_reads)
    # One INSERT per batch of the import, split only by the database's parameter limit.
    fields = [f for f in DealStageChange._meta.concrete_fields if not f.primary_key]
    for inserts, rows in ((small_inserts, 10), (large_inserts, 300)):
        per_statement = connection.ops.bulk_batch_size(fields, [None] * rows)
        assert len(inserts) == -(-rows // per_statement)
    # Exactly one row per deal: a move for the 150 updated ones, a creation for the new.
    moved = DealStageChange.objects.filter(
        deal__title__startswith="M150-", from_stage__isnull=False
    )
    assert moved.count() == 150
    created = DealStageChange.objects.filter(deal__title__startswith="N150-")
    assert created.count() == 150
    assert set(created.values_list("lost_reason__name", flat=True)) == {"Price"}


# --- in the admin ------------------------------------------------------------------------


def upload(client, content: bytes):
    page = client.get(IMPORT)
    data = form_data(page, "import-form", format="0")
    data["import_file"] = SimpleUploadedFile("deals.csv", content)
    return client.post(IMPORT, data)


def test_the_preview_shows_a_reason_cleared_and_the_rows_record_the_importing_user(
    client, contacts
):
    importer = make_user(
        username="importer",
        perms=[
            "crm_admin.import_deal",
            "crm_admin.add_deal",
            "crm_admin.change_deal",
            "crm_admin.view_deal",
        ],
    )
    client.force_login(importer)
    preview = upload(client, (DATA / "deals_lost_reasons.csv").read_bytes())
    html = preview.content.decode()
    assert 'data-total="new">4</dd>' in html and 'data-total="errors">0</dd>' in html
    assert html.count("<td>(cleared: only a lost deal has a lost reason)</td>") == 1
    assert "Zu groß für uns" not in html, "the file's spelling is shown"
    assert "ZU GROSS FÜR UNS" in html
    assert not DealStageChange.objects.exists(), "the preview writes nothing"

    client.post(CONFIRM, form_data(preview, "import-confirm"))
    assert Deal.objects.count() == 4
    assert set(DealStageChange.objects.values_list("changed_by", flat=True)) == {importer.pk}
    assert DealStageChange.objects.count() == 4


def test_an_unknown_reason_is_shown_as_a_row_error_in_the_preview(staff_client, contacts):
    preview = upload(staff_client, (DATA / "deals_lost_reasons_bad.csv").read_bytes())
    html = preview.content.decode()
    assert 'data-total="errors">2</dd>' in html
    assert "“Too pricey” is not a lost reason; use one of: Price, Competitor" in html
    assert 'id="import-confirm"' not in html
