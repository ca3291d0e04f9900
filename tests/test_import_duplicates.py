"""The import preview's duplicate flags, driven as a user does: files from tests/data/ posted
to the admin's import page, and `crm_import` run as an operator would. A row that would make a
likely duplicate of an existing record (or of another row) is flagged with its row number and
the record it matches; the import still writes every row as previewed."""

from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.models import Company, Contact
from tests.factories import make_company, make_contact, make_user
from tests.forms import form_data
from tests.test_admin_actions import messages_of
from tests.test_import import DATA, crm_import
from tests.test_import_admin import upload

pytestmark = pytest.mark.django_db

COMPANY_IMPORT = reverse("admin:crm_admin_company_import")
COMPANY_CONFIRM = reverse("admin:crm_admin_company_process_import")
CONTACT_IMPORT = reverse("admin:crm_admin_contact_import")


class _Table(HTMLParser):
    """The rows of the table with id `table_id`: per row, its cells as (text, href or None)."""

    def __init__(self, table_id: str):
        super().__init__(convert_charrefs=True)
        self.table_id, self.depth = table_id, 0
        self.rows: list[list[tuple[str, str | None]]] = []
        self.cell: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.depth = 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag == "td":
            self.cell = ["", None]
        elif self.cell is not None and tag == "a":
            self.cell[1] = attrs.get("href")

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append((" ".join(self.cell[0].split()), self.cell[1]))
            self.cell = None
        elif tag == "table":
            self.depth = 0


def flagged(response) -> list[dict]:
    """The preview's "Likely duplicates" table: one dict per match, the row's cells repeated."""
    parser = _Table("import-duplicates")
    parser.feed(response if isinstance(response, str) else response.content.decode())
    lines, row = [], None
    for cells in parser.rows:
        if not cells:
            continue  # the header
        if len(cells) == 4:
            row = {"row": int(cells[0][0]), "record": cells[1][0]}
        (looks_like, href), (why, _) = cells[-2:]
        lines.append({**row, "looks_like": looks_like, "href": href, "why": why})
    return lines


def change_url(record) -> str:
    return reverse(f"admin:crm_admin_{record._meta.model_name}_change", args=[record.pk])


@pytest.fixture
def companies(db):
    """The companies tests/data/companies_near_duplicates.csv is checked against."""
    return {
        "acme": make_company(name="Acme Inc"),
        "globex": make_company(name="Globex Corporation", website="https://globex.example.com"),
        "romashka": make_company(name="ООО «Ромашка»"),  # noqa: RUF001 (the quotes are the point)
        "toyota": make_company(name="株式会社トヨタ"),
        "umbrella": make_company(name="Umbrella Corp", industry="Software"),
        "stark": make_company(name="Stark Industries", website="https://www.stark.example.com"),
        "wayne": make_company(name="Wayne Enterprises", industry="Conglomerate"),
    }


@pytest.fixture
def contacts(companies):
    """The contacts tests/data/contacts_near_duplicates.csv is checked against."""
    return {
        "jon": make_contact(first_name="Jon", last_name="Smith", phone="(212) 555-0142"),
        "maria": make_contact(
            first_name="Maria", last_name="Garcia", company=companies["acme"], email="mg@acme.com"
        ),
        "ivan": make_contact(first_name="Иван", last_name="Петров", company=companies["romashka"]),
    }


def by_row(lines) -> dict[int, list[dict]]:
    rows: dict[int, list[dict]] = {}
    for line in lines:
        rows.setdefault(line["row"], []).append(line)
    return rows


# --- the admin preview -------------------------------------------------------------------


def test_the_preview_flags_a_company_by_a_name_variant_and_by_its_website(staff_client, companies):
    preview = upload(staff_client, "companies_near_duplicates.csv", url=COMPANY_IMPORT)
    rows = by_row(flagged(preview))

    assert rows[2] == [
        {
            "row": 2,
            "record": "ACME, Inc.",
            "looks_like": "Acme Inc",
            "href": change_url(companies["acme"]),
            "why": "Same name",
        }
    ]
    assert rows[3] == [
        {
            "row": 3,
            "record": "Hooli",
            "looks_like": "Globex Corporation",
            "href": change_url(companies["globex"]),
            "why": "Same website",
        }
    ]


def test_the_preview_flags_non_latin_company_names_with_their_legal_forms_dropped(
    staff_client, companies
):
    rows = by_row(
        flagged(upload(staff_client, "companies_near_duplicates.csv", url=COMPANY_IMPORT))
    )

    assert [(line["looks_like"], line["href"]) for line in rows[4]] == [
        ("ООО «Ромашка»", change_url(companies["romashka"]))  # noqa: RUF001
    ]
    assert [(line["looks_like"], line["href"]) for line in rows[5]] == [
        ("株式会社トヨタ", change_url(companies["toyota"]))
    ]


def test_a_row_matching_an_earlier_row_of_the_file_is_flagged_with_that_row(
    staff_client, companies
):
    rows = by_row(
        flagged(upload(staff_client, "companies_near_duplicates.csv", url=COMPANY_IMPORT))
    )

    assert 6 not in rows, "the first of the two is only a new company"
    assert rows[7] == [
        {
            "row": 7,
            "record": "Initech LLC",
            "looks_like": "Row 6 of this file",
            "href": None,
            "why": "Same name",
        }
    ]


def test_an_update_is_flagged_only_when_it_matches_another_record(staff_client, companies):
    preview = upload(staff_client, "companies_near_duplicates.csv", url=COMPANY_IMPORT)
    rows = by_row(flagged(preview))
    html = preview.content.decode()

    assert '<tr class="data-row update' in html
    assert 8 not in rows, "Umbrella Corp updates itself: it matches only the record it is"
    assert [(line["looks_like"], line["why"]) for line in rows[9]] == [
        ("Stark Industries", "Same website")
    ]
    assert sorted(rows) == [2, 3, 4, 5, 7, 9]
    summary = (
        "5 rows look like duplicates of existing records; 1 row looks like a duplicate of "
        "another row of this file."
    )
    assert summary in html


def test_the_preview_table_marks_the_flagged_rows(staff_client, companies):
    html = upload(staff_client, "companies_near_duplicates.csv", url=COMPANY_IMPORT)
    parser = _Table("import-preview")
    parser.feed(html.content.decode())
    marked = [
        int(cells[0][0]) for cells in parser.rows if cells and "Likely duplicate" in cells[1][0]
    ]

    assert marked == [2, 3, 4, 5, 7, 9]
    assert f"ACME, Inc. looks like Acme Inc (id {companies['acme'].pk}): Same name" in (
        html.content.decode()
    )


def test_the_preview_flags_a_contact_by_phone_and_by_name_at_the_same_company(
    staff_client, contacts
):
    rows = by_row(flagged(upload(staff_client, "contacts_near_duplicates.csv")))

    assert [(line["looks_like"], line["href"], line["why"]) for line in rows[2]] == [
        (str(contacts["jon"]), change_url(contacts["jon"]), "Same phone")
    ]
    assert [(line["looks_like"], line["why"]) for line in rows[3]] == [
        (str(contacts["maria"]), "Same name at the same company")
    ]
    # Cyrillic, the names the other way round.
    assert [(line["looks_like"], line["why"]) for line in rows[4]] == [
        (str(contacts["ivan"]), "Same name at the same company")
    ]
    # The same phone written two ways within the file.
    assert [(line["looks_like"], line["why"]) for line in rows[6]] == [
        ("Row 5 of this file", "Same phone")
    ]
    assert 5 not in rows and 8 not in rows


def test_a_contacts_file_flags_the_new_company_it_would_create(staff_client, contacts, companies):
    rows = by_row(flagged(upload(staff_client, "contacts_near_duplicates.csv")))

    assert rows[7] == [
        {
            "row": 7,
            "record": "New company “ACME, Inc.”",
            "looks_like": "Acme Inc",
            "href": change_url(companies["acme"]),
            "why": "Same name",
        }
    ]


def test_a_record_the_importer_may_not_open_is_named_without_a_link(client, contacts):
    importer = make_user(
        perms=[
            "crm_admin.import_contact",
            "crm_admin.add_contact",
            "crm_admin.change_contact",
            "crm_admin.view_contact",
        ]
    )
    client.force_login(importer)

    rows = by_row(flagged(upload(client, "contacts_near_duplicates.csv")))

    assert rows[7][0]["looks_like"] == "Acme Inc" and rows[7][0]["href"] is None
    assert rows[2][0]["href"] == change_url(contacts["jon"])


def test_flags_never_change_what_the_import_writes(staff_client, companies):
    untouched = {
        key: list(Company.objects.filter(pk=company.pk).values())
        for key, company in companies.items()
        if key not in ("umbrella", "wayne")
    }
    preview = upload(staff_client, "companies_near_duplicates.csv", url=COMPANY_IMPORT)
    html = preview.content.decode()
    assert '<dd class="font-semibold text-important" data-total="new">7</dd>' in html
    assert '<dd class="font-semibold text-important" data-total="update">2</dd>' in html

    response = staff_client.post(COMPANY_CONFIRM, form_data(preview, "import-confirm"), follow=True)

    assert messages_of(response) == ["Imported companies: 7 created, 2 updated, 0 unchanged."]
    assert set(Company.objects.values_list("name", "industry", "website")) >= {
        ("ACME, Inc.", "Manufacturing", ""),
        ("Hooli", "Software", "http://www.globex.example.com/about"),
        ("Ромашка", "Retail", ""),
        ("トヨタ株式会社", "Automotive", ""),
        ("Initech", "", "https://initech.example.com"),
        ("Initech LLC", "Software", ""),
        ("Vandelay Industries", "Import/export", ""),
        ("Umbrella Corp", "Pharmaceuticals", ""),
        ("Wayne Enterprises", "Conglomerate", "https://stark.example.com"),
    }
    assert Company.objects.count() == len(companies) + 7
    for key, rows in untouched.items():
        assert list(Company.objects.filter(pk=companies[key].pk).values()) == rows, key


def companies_file(count: int) -> bytes:
    """`count` companies, a third of them variants of an existing name, a third sharing a
    website, the rest new."""
    rows = ["name,industry,website"]
    for n in range(count):
        kind = n % 3
        if kind == 0:
            rows.append(f'"Existing {n}, Inc.",,')
        elif kind == 1:
            rows.append(f"Shared {n},,https://shared.example.com/{n}")
        else:
            rows.append(f"Fresh {n},,")
    return ("\n".join(rows) + "\n").encode()


def test_the_preview_runs_as_many_queries_for_60_rows_as_for_6(staff_client):
    for n in range(0, 60, 3):
        Company.objects.create(name=f"Existing {n}")
    counts = []
    for count in (6, 60):
        with CaptureQueriesContext(connection) as captured:
            preview = upload(
                staff_client, "companies.csv", companies_file(count), url=COMPANY_IMPORT
            )
        counts.append(len(captured))
        assert len(by_row(flagged(preview))) == 2 * count // 3 - 1

    assert counts[0] == counts[1]


def test_the_preview_lists_the_first_200_flagged_rows_and_counts_the_rest(staff_client):
    make_company(name="Hub", website="https://hub.example.com")
    rows = ["name,industry,website"] + [f"Spoke {n},,hub.example.com" for n in range(250)]

    preview = upload(staff_client, "hub.csv", ("\n".join(rows) + "\n").encode(), url=COMPANY_IMPORT)

    assert len(by_row(flagged(preview))) == 200
    html = preview.content.decode()
    assert "250 rows look like duplicates of existing records" in html
    assert "Showing the first 200 flagged rows; 50 more are not shown." in html


def test_names_in_the_flags_are_escaped(staff_client):
    make_company(name="<script>alert(1)</script>")
    content = b'name,industry,website\n"<script>alert(1)</script> Inc",,\n'

    html = upload(staff_client, "x.csv", content, url=COMPANY_IMPORT).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Inc" in html
    assert [line["looks_like"] for line in flagged(html)] == ["<script>alert(1)</script>"]


# --- the command -------------------------------------------------------------------------


def test_the_command_lists_the_flags_with_row_numbers_and_ids(contacts, companies):
    out, _err = crm_import("contacts", DATA / "contacts_near_duplicates.csv", "--dry-run")

    assert (
        "4 rows look like duplicates of existing records; 1 row looks like a duplicate of "
        "another row of this file. They will be imported as they are:"
    ) in out
    jon, acme = contacts["jon"], companies["acme"]
    assert (
        f"  row 2: Jonathan Smyth <j.smyth@example.com> looks like {jon} (id {jon.pk}): Same phone"
        in out
    )
    assert "  row 6: Patricia Doe <patricia.doe@example.com> looks like row 5: Same phone" in out
    assert f"  row 7: new company “ACME, Inc.” looks like Acme Inc (id {acme.pk}): Same name" in out
    assert "Tom Hart" not in out
    assert not Contact.objects.filter(email="tom@example.com").exists()

    out, _err = crm_import("contacts", DATA / "contacts_near_duplicates.csv")

    assert "They were imported as they are:" in out
    assert Contact.objects.filter(email__in=["j.smyth@example.com", "tom@example.com"]).count() == 2


def test_the_command_says_nothing_of_duplicates_when_there_are_none():
    out, _err = crm_import("companies", DATA / "companies.csv")

    assert "duplicate" not in out


def test_the_command_writes_flagged_rows_as_they_are(companies):
    out, _err = crm_import("companies", DATA / "companies_near_duplicates.csv")

    assert "7 created, 2 updated" in out and "They were imported as they are:" in out
    assert set(Company.objects.values_list("name", "industry", "website")) >= {
        ("ACME, Inc.", "Manufacturing", ""),
        ("Hooli", "Software", "http://www.globex.example.com/about"),
        ("Initech LLC", "Software", ""),
        ("Wayne Enterprises", "Conglomerate", "https://stark.example.com"),
    }
