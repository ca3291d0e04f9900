"""Import and export in the admin, driven as a user does: the upload form, the preview, the
confirmation, the export form and the "Export selected" action, with each permission."""

import csv
import io
import os
import tempfile
import time
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from crm_admin.admin.import_export import UPLOAD_MAX_AGE, UPLOAD_SIGNER
from crm_admin.models import Company, Contact, Deal
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user
from tests.forms import form_data
from tests.test_admin_actions import messages_of, run_action
from tests.test_import import CONTACT_HEADER, DATA, snapshot

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_admin_contact_changelist")
IMPORT = reverse("admin:crm_admin_contact_import")
CONFIRM = reverse("admin:crm_admin_contact_process_import")
EXPORT = reverse("admin:crm_admin_contact_export")
FORMAT = {"csv": "0", "xlsx": "1", "json": "2"}


def upload(client, name: str, content: bytes | None = None, *, url=IMPORT, file_format="csv"):
    """GET the import page, then POST its form with the file, as the browser does."""
    page = client.get(url)
    assert page.status_code == 200
    data = form_data(page, "import-form", format=FORMAT[file_format])
    content = (DATA / name).read_bytes() if content is None else content
    data["import_file"] = SimpleUploadedFile(name, content)
    return client.post(url, data)


def confirm(client, preview):
    return client.post(CONFIRM, form_data(preview, "import-confirm"), follow=True)


def many_contacts(count: int, *, bad_every: int = 0) -> bytes:
    rows = [
        f"P{i},Q,{'not-an-email' if bad_every and i % bad_every == 0 else f'p{i}@example.com'}"
        f",,,new,Co {i % 10},VIP,\n"
        for i in range(count)
    ]
    return (CONTACT_HEADER + "".join(rows)).encode()


def export_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text)))


# --- import ------------------------------------------------------------------------------


def test_import_preview_then_confirm_creates_the_contacts(staff_client):
    preview = upload(staff_client, "contacts.csv")
    html = preview.content.decode()
    assert '<dd class="font-semibold text-important" data-total="new">4</dd>' in html
    assert "Also new with these rows: 2 companies, 2 tags." in html
    assert html.count('<tr class="data-row new') == 4
    assert not Contact.objects.exists(), "the preview writes nothing"

    response = confirm(staff_client, preview)
    assert response.redirect_chain == [(CONTACTS, 302)]
    assert messages_of(response) == ["Imported contacts: 4 created, 0 updated, 0 unchanged."]
    assert Contact.objects.count() == 4
    assert "ann.lee@example.com" in response.content.decode()
    entries = LogEntry.objects.filter(action_flag=ADDITION)
    assert entries.count() == 4
    assert {e.change_message for e in entries} == {"Imported from contacts.csv."}


def test_reimporting_shows_every_row_unchanged(staff_client):
    confirm(staff_client, upload(staff_client, "contacts.csv"))
    html = upload(staff_client, "contacts.csv").content.decode()
    assert 'data-total="unchanged">4</dd>' in html and 'data-total="new">0</dd>' in html


def test_the_preview_of_a_large_file_shows_totals_and_only_the_first_rows(staff_client):
    preview = upload(staff_client, "big.csv", many_contacts(3000))
    html = preview.content.decode()
    assert 'data-total="new">3,000</dd>' in html
    assert html.count('<tr class="data-row') == 100
    assert "Showing the first 100 rows; 2,900 more are not shown." in html
    assert len(preview.content) < 400_000
    confirm(staff_client, preview)
    assert Contact.objects.count() == 3000
    assert Contact.objects.filter(tags__name="VIP").count() == 3000


def test_the_preview_shows_the_first_100_errors_with_the_total_and_no_confirmation(
    staff_client,
):
    make_contact(email="keep@example.com")
    before = snapshot()
    preview = upload(staff_client, "bad.csv", many_contacts(6000, bad_every=4))
    html = preview.content.decode()
    assert 'data-total="errors">1,500</dd>' in html
    assert html.count("Enter a valid email address.") == 100
    assert "<td>398</td>" in html  # the 100th bad row: data row 397 is row 398 of the sheet
    assert "<td>402</td>" not in html
    assert "Showing the first 100 errors; 1,400 more are not shown." in html
    assert len(preview.content) < 200_000
    assert 'id="import-confirm"' not in html
    assert 'id="import-form"' in html, "the user can upload a corrected file"
    assert snapshot() == before


def test_bad_files_are_refused_on_the_form_with_the_reason(staff_client):
    for name, reason in [
        ("binary.csv", "This is not a text file"),
        ("contacts_undecodable.csv", "neither UTF-8 nor Windows-1252"),
        ("header_only.csv", "no rows to import"),
    ]:
        html = upload(staff_client, name).content.decode()
        assert reason in html, name
        assert "Traceback" not in html
    html = upload(staff_client, "empty.csv").content.decode()
    assert "The submitted file is empty." in html


def test_a_legacy_windows_file_previews_with_its_accents(staff_client):
    html = upload(staff_client, "contacts_cp1252.csv").content.decode()
    assert "José" in html and "“Chief” of € budgets" in html


@override_settings(CRM_IMPORT_MAX_UPLOAD_MB=0.0001)
def test_an_upload_over_the_size_limit_is_refused(staff_client):
    html = upload(staff_client, "contacts.csv").content.decode()
    assert "the largest file you may import is 0.0001 MB" in html
    assert not Contact.objects.exists()


def test_confirming_after_the_data_changed_imports_nothing_and_says_why(staff_client):
    make_contact(email="kim@example.com")
    url = reverse("admin:crm_admin_deal_import")
    content = (
        b"title,contact_email,stage\nPilot,kim@example.com,Prospecting\n"
        b"Renewal,kim@example.com,Negotiation\n"
    )
    preview = upload(staff_client, "deals.csv", content, url=url)
    assert 'data-total="new">2</dd>' in preview.content.decode()
    Contact.objects.filter(email="kim@example.com").delete()

    response = staff_client.post(
        reverse("admin:crm_admin_deal_process_import"), form_data(preview, "import-confirm")
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert messages_of(response) == ["Nothing was imported."]
    assert html.count("No contact has the email “kim@example.com”") == 2
    assert not Deal.objects.exists()


def test_xlsx_upload_is_imported(staff_client):
    book = openpyxl.Workbook()
    book.active.append(["Name", "Industry"])
    book.active.append(["Acme", "Retail"])
    content = io.BytesIO()
    book.save(content)
    url = reverse("admin:crm_admin_company_import")
    preview = upload(staff_client, "c.xlsx", content.getvalue(), url=url, file_format="xlsx")
    staff_client.post(
        reverse("admin:crm_admin_company_process_import"), form_data(preview, "import-confirm")
    )
    assert Company.objects.get().industry == "Retail"


def test_the_import_page_lists_the_owner_and_next_step_columns(staff_client):
    html = staff_client.get(IMPORT).content.decode()
    assert "last_contacted_at, owner, next_step, next_step_due</code>" in html
    assert "The owner must exist (a username or email)." in html
    html = staff_client.get(reverse("admin:crm_admin_deal_import")).content.decode()
    assert "tags, next_step, next_step_due, lost_reason</code>" in html
    assert "a deal in a won or lost stage has no next step" in html
    assert "only a deal in a lost stage has one" in html


def test_the_preview_of_a_row_closing_a_deal_shows_its_next_step_cleared(staff_client):
    deal = make_deal(title="Pilot", next_step="Book the kick-off", next_step_due=date(2026, 1, 9))
    url = reverse("admin:crm_admin_deal_import")
    content = (
        "id,title,contact_email,stage,next_step,next_step_due\n"
        f"{deal.pk},Pilot,{deal.contact.email},Closed-Won,Book the kick-off,2026-01-09\n"
    ).encode()
    preview = upload(staff_client, "deals.csv", content, url=url)
    html = preview.content.decode()
    assert 'data-total="update">1</dd>' in html and 'data-total="errors">0</dd>' in html
    cleared = '<td class="font-semibold text-important">(cleared: a closed deal has no next step)'
    assert html.count(cleared) == 2
    deal.refresh_from_db()
    assert deal.next_step == "Book the kick-off", "the preview writes nothing"

    staff_client.post(
        reverse("admin:crm_admin_deal_process_import"), form_data(preview, "import-confirm")
    )
    deal.refresh_from_db()
    assert (deal.stage.name, deal.next_step, deal.next_step_due) == ("Closed-Won", "", None)


def test_a_next_step_date_without_a_step_is_a_row_error_in_the_preview(staff_client):
    preview = upload(
        staff_client, "c.csv", b"first_name,email,next_step_due\nKim,kim@example.com,2026-01-05\n"
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    assert 'data-total="errors">1</dd>' in html
    assert "<code>next_step_due</code>" in html
    assert "Say what the next step is, or leave its date empty." in html
    assert 'id="import-confirm"' not in html
    assert not Contact.objects.exists()


# --- permissions -------------------------------------------------------------------------


def test_a_viewer_may_neither_import_nor_export_without_those_permissions(client, viewer):
    client.force_login(viewer)
    page = client.get(CONTACTS).content.decode()
    assert EXPORT not in page and IMPORT not in page
    assert client.get(IMPORT).status_code == 403
    assert client.post(CONFIRM, {}).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_a_viewer_given_the_export_permission_may_export_but_not_import(client, viewer):
    viewer.user_permissions.add(Permission.objects.get(codename="export_contact"))
    client.force_login(viewer)
    page = client.get(CONTACTS).content.decode()
    assert EXPORT in page and IMPORT not in page
    assert client.get(IMPORT).status_code == 403
    assert client.post(CONFIRM, {}).status_code == 403
    assert client.get(EXPORT).status_code == 200


@pytest.mark.parametrize(
    ("perms", "allowed"),
    [
        (["view_contact", "add_contact", "change_contact"], False),
        (["view_contact", "import_contact", "add_contact"], False),
        (["view_contact", "import_contact", "change_contact"], False),
        (["view_contact", "import_contact", "add_contact", "change_contact"], True),
        (["view_contact", "import_deal", "add_contact", "change_contact"], False),
    ],
)
def test_importing_needs_the_import_permission_with_add_and_change(client, perms, allowed):
    client.force_login(make_user(perms=[f"crm_admin.{p}" for p in perms]))
    assert client.get(IMPORT).status_code == (200 if allowed else 403)
    assert client.post(CONFIRM, {}).status_code == (403 if not allowed else 302)
    assert (IMPORT in client.get(CONTACTS).content.decode()) is allowed


@pytest.mark.parametrize(
    ("perms", "allowed"),
    [
        (["view_contact"], False),
        (["export_contact"], False),
        (["view_deal", "export_contact"], False),
        (["view_contact", "export_deal"], False),
        (["view_contact", "export_contact"], True),
        (["change_contact", "export_contact"], True),
    ],
)
def test_export_needs_the_export_permission_on_a_list_the_user_sees(client, perms, allowed):
    client.force_login(make_user(perms=[f"crm_admin.{p}" for p in perms]))
    assert client.get(EXPORT).status_code == (200 if allowed else 403)
    response = client.post(EXPORT, {"format": FORMAT["csv"], "resource": "0"})
    assert response.status_code == (200 if allowed else 403)


# --- export ------------------------------------------------------------------------------


def test_export_is_the_filtered_and_sorted_list(staff_client):
    for name, status in [("b", "new"), ("c", "inactive"), ("a", "new"), ("d", "new")]:
        make_contact(email=f"{name}@example.com", status=status)
    query = "?o=-2&status__exact=new"  # column 2 is the email (after the checkbox column)
    page = staff_client.get(CONTACTS + query).content.decode()
    assert f'href="{EXPORT}?o=-2&amp;status__exact=new"' in page

    response = staff_client.post(EXPORT + query, {"format": FORMAT["csv"], "resource": "0"})
    assert response["Content-Type"] == "text/csv"
    assert 'filename="Contact-' in response["Content-Disposition"]
    rows = export_rows(response)
    assert rows[0][2] == "email"
    assert [row[2] for row in rows[1:]] == ["d@example.com", "b@example.com", "a@example.com"]


def test_the_deal_export_carries_the_next_step_and_lost_reason_columns(staff_client):
    make_deal(title="Pilot", next_step="Send the quote", next_step_due=date(2026, 1, 9))
    url = reverse("admin:crm_admin_deal_export")
    rows = export_rows(staff_client.post(url, {"format": FORMAT["csv"], "resource": "0"}))
    assert rows[0][-3:] == ["next_step", "next_step_due", "lost_reason"]
    assert rows[1][-3:] == ["Send the quote", "2026-01-09", ""]


def test_export_selected_exports_only_the_checked_rows(staff_client):
    chosen = [make_contact(email=f"c{i}@example.com") for i in range(2)]
    make_contact(email="other@example.com")
    page = run_action(staff_client, CONTACTS, "export_selected", [c.pk for c in chosen])
    html = page.content.decode()
    assert "Export 2 selected items." in " ".join(html.split())
    response = staff_client.post(
        EXPORT,
        {"format": FORMAT["xlsx"], "resource": "0", "export_items": [c.pk for c in chosen]},
    )
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    emails = sorted(row[2] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert emails == ["c0@example.com", "c1@example.com"]


def test_forged_export_items_are_ignored(staff_client):
    make_contact(email="a@example.com")
    response = staff_client.post(
        EXPORT, {"format": FORMAT["csv"], "resource": "0", "export_items": ["1 OR 1=1", "x"]}
    )
    assert response.status_code == 200
    assert "a@example.com" not in response.content.decode()


def test_export_selected_across_all_pages_exports_the_filtered_list(staff_client):
    make_contact(email="a@example.com", status="inactive")
    response = run_action(
        staff_client,
        CONTACTS + "?status__exact=inactive",
        "export_selected",
        across=True,
        follow=False,
    )
    assert response.status_code == 302
    assert response["Location"] == EXPORT + "?status__exact=inactive"


def test_every_crm_list_offers_import_and_export(staff_client):
    for model in ("company", "contact", "deal"):
        page = staff_client.get(reverse(f"admin:crm_admin_{model}_changelist")).content.decode()
        assert reverse(f"admin:crm_admin_{model}_import") in page
        assert reverse(f"admin:crm_admin_{model}_export") in page
        assert "export_selected" in page


def test_export_of_a_list_filtered_by_tag_keeps_every_tag_of_each_contact(staff_client):
    vip, other = make_tag(name="VIP"), make_tag(name="Other")
    make_contact(email="a@example.com", tags=[vip, other])
    make_contact(email="b@example.com", tags=[other])
    response = staff_client.post(
        f"{EXPORT}?tags__id__exact={vip.pk}", {"format": FORMAT["csv"], "resource": "0"}
    )
    rows = export_rows(response)
    assert [(row[2], row[7]) for row in rows[1:]] == [("a@example.com", "Other, VIP")]


def test_export_of_companies_sorted_by_their_contact_count(staff_client):
    busy, quiet = make_company(name="Busy"), make_company(name="Quiet")
    for _ in range(2):
        make_contact(company=busy)
    url = reverse("admin:crm_admin_company_export")
    for order, expected in (("-4", ["Busy", "Quiet"]), ("4", ["Quiet", "Busy"])):
        response = staff_client.post(f"{url}?o={order}", {"format": FORMAT["csv"], "resource": "0"})
        assert [row[0] for row in export_rows(response)[1:]] == expected
    assert quiet.contacts.count() == 0


# --- the confirm step's file name ------------------------------------------------------------


EXPIRED = "This upload has expired or does not exist: upload the file again."


def confirm_with(client, preview, **changes):
    data = {**form_data(preview, "import-confirm"), **changes}
    return client.post(CONFIRM, data, follow=True)


def sent_back(response) -> bool:
    """The confirmation was refused: back on the import page, with the form and the message."""
    html = response.content.decode()
    return (
        response.redirect_chain == [(IMPORT, 302)]
        and EXPIRED in html
        and 'id="import-form"' in html
    )


def test_a_confirmation_with_a_made_up_or_forged_file_name_gets_the_import_page_back(
    staff_client, tmp_path
):
    preview = upload(staff_client, "contacts.csv")
    other = Path(tempfile.gettempdir()) / f"crm-h-other-{os.getpid()}.csv"
    other.write_bytes((DATA / "contacts.csv").read_bytes())
    try:
        for name in ["no-such-upload", other.name, f"../{other.name}", str(other), ""]:
            response = confirm_with(staff_client, preview, import_file_name=name)
            assert sent_back(response), name
        assert other.exists(), "another file is neither read nor removed"
    finally:
        other.unlink()
    assert not Contact.objects.exists()


def test_a_confirmation_of_an_expired_or_already_confirmed_upload_gets_the_import_page_back(
    staff_client,
):
    preview = upload(staff_client, "contacts.csv")
    name = form_data(preview, "import-confirm")["import_file_name"]

    class DayOldSigner(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - UPLOAD_MAX_AGE - 60)

    expired = DayOldSigner(salt="crm_admin.import.upload").sign(UPLOAD_SIGNER.unsign(name))
    response = confirm_with(staff_client, preview, import_file_name=expired)
    assert sent_back(response)
    assert not Contact.objects.exists()

    confirm(staff_client, preview)
    assert Contact.objects.count() == 4
    again = confirm_with(staff_client, preview)  # the temporary file was removed by the first
    assert sent_back(again)
    assert Contact.objects.count() == 4


def test_a_confirmation_with_an_unknown_format_gets_the_import_page_back(staff_client):
    preview = upload(staff_client, "contacts.csv")
    for file_format in ["abc", "7", "-1"]:
        response = confirm_with(staff_client, preview, format=file_format)
        assert sent_back(response), file_format
    assert not Contact.objects.exists()
