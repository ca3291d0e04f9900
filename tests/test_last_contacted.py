"""`last_contacted_at` never moves back and is never cleared, whichever path records a contact:
a note (ContactQuerySet.touch) or an import (latest_contact), including the import's preview."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from crm_admin.models import Contact, ContactNote, latest_contact
from tests.factories import make_contact
from tests.test_import import crm_import, write
from tests.test_import_admin import confirm, upload

pytestmark = pytest.mark.django_db

EARLY = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATE = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)

# (stored, contact recorded at, stored afterwards)
CASES = [
    (None, EARLY, EARLY),
    (EARLY, LATE, LATE),
    (LATE, EARLY, LATE),
    (LATE, LATE, LATE),
    (LATE, None, LATE),
    (None, None, None),
]


@pytest.mark.parametrize(("stored", "at", "expected"), CASES)
def test_both_forms_of_the_rule_give_the_later_value(stored, at, expected):
    assert latest_contact(stored, at) == expected
    if at is not None:  # a note always has a time
        contact = make_contact(last_contacted_at=stored)
        Contact.objects.filter(pk=contact.pk).touch(at)
        contact.refresh_from_db()
        assert contact.last_contacted_at == expected


def test_reimporting_an_old_export_keeps_a_call_logged_since(tmp_path):
    contact = make_contact(email="kim@example.com", last_contacted_at=EARLY)
    exported = tmp_path / "contacts.csv"
    call_command("crm_export", "contacts", "--output", str(exported))
    call = ContactNote.objects.create(contact=contact, text="Called", created_at=LATE)

    out, _err = crm_import("contacts", exported)

    assert "0 created, 0 updated, 1 unchanged" in out
    contact.refresh_from_db()
    assert contact.last_contacted_at == call.created_at == LATE


@pytest.mark.parametrize(
    ("cell", "stored", "expected", "summary"),
    [
        ("", LATE, LATE, "0 updated, 1 unchanged"),
        (EARLY.isoformat(), LATE, LATE, "0 updated, 1 unchanged"),
        (LATE.isoformat(), EARLY, LATE, "1 updated, 0 unchanged"),
        (LATE.isoformat(), None, LATE, "1 updated, 0 unchanged"),
    ],
)
def test_an_import_moves_last_contacted_forward_only(tmp_path, cell, stored, expected, summary):
    contact = make_contact(email="kim@example.com", first_name="Kim", last_contacted_at=stored)
    path = write(
        tmp_path, "c.csv", f"email,first_name,last_contacted_at\nkim@example.com,Kim,{cell}\n"
    )

    out, _err = crm_import("contacts", path)

    assert summary in out
    contact.refresh_from_db()
    assert contact.last_contacted_at == expected


def test_a_new_contact_takes_the_file_value(tmp_path):
    path = write(
        tmp_path,
        "c.csv",
        f"email,first_name,last_contacted_at\nnew@example.com,Ny,{EARLY.isoformat()}\n",
    )
    crm_import("contacts", path)
    assert Contact.objects.get(email="new@example.com").last_contacted_at == EARLY


def test_the_preview_shows_an_older_file_value_as_unchanged(staff_client):
    contact = make_contact(
        email="kim@example.com", first_name="Kim", last_name="", last_contacted_at=LATE
    )
    content = f"email,first_name,last_contacted_at\nkim@example.com,Kim,{EARLY.isoformat()}\n"

    preview = upload(staff_client, "contacts.csv", content.encode())

    html = preview.content.decode()
    assert 'data-total="unchanged">1</dd>' in html and 'data-total="update">0</dd>' in html
    confirm(staff_client, preview)
    contact.refresh_from_db()
    assert contact.last_contacted_at == LATE
