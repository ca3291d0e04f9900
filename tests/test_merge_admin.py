"""The "Merge…" action and the merge page, driven as a user does: the list's action, the
page's radios, the POST, and what the user sees when something is off."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.admin.merge import merge_url
from crm_admin.models import Company, Contact, ContactNote, Deal, MergedRecord
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user
from tests.test_admin_actions import messages_of, run_action
from tests.test_merge import refusing_deletes, snapshot_all  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_admin_contact_changelist")
COMPANIES = reverse("admin:crm_admin_company_changelist")
CONTACT_MERGE = reverse("admin:crm_admin_contact_merge")
COMPANY_MERGE = reverse("admin:crm_admin_company_merge")


def contact_staff(*perms, **fields):
    return make_user(perms=[f"crm_admin.{perm}_contact" for perm in perms], **fields)


@pytest.fixture
def pair(db):
    """Two contacts of one person: Ann has a deal, a tag and a title, Anne two deals, a phone
    and a note."""
    acme = make_company(name="Acme")
    ann = make_contact(
        first_name="Ann", last_name="Lee", email="ann@acme.com", title="CTO", company=acme
    )
    anne = make_contact(
        first_name="Anne", last_name="Lee", email="anne@acme.com", phone="555 0100", company=acme
    )
    ann.tags.add(make_tag(name="Red"))
    make_deal(contact=ann, title="Secret deal of Ann")
    make_deal(contact=anne, title="First deal of Anne")
    make_deal(contact=anne, title="Second deal of Anne")
    ContactNote.objects.create(contact=anne, text="Called")
    return ann, anne


def post_merge(client, url, *, follow=True, **choices):
    """GET the merge page, then POST it with its defaults, `choices` overriding them."""
    form = client.get(url).context["form"]
    data = {name: form[name].initial for name in form.fields}
    data.update(choices)
    return client.post(url, data, follow=follow)


def test_merge_action_sends_the_selection_to_the_merge_page(staff_client, pair):
    ann, anne = pair
    response = run_action(staff_client, CONTACTS, "merge_selected", [anne.pk, ann.pk], follow=False)
    assert response.status_code == 302
    assert response["Location"] == merge_url(Contact, sorted([ann.pk, anne.pk]))


@pytest.mark.parametrize(
    ("count", "message"),
    [(1, "Select at least two contacts to merge."), (11, "Select at most 10 contacts to merge.")],
)
def test_merge_action_says_how_many_records_it_takes(staff_client, count, message):
    contacts = [make_contact() for _ in range(count)]
    response = run_action(staff_client, CONTACTS, "merge_selected", [c.pk for c in contacts])
    assert response.redirect_chain == [(CONTACTS, 302)]
    assert messages_of(response) == [message]


def test_merge_page_shows_the_records_side_by_side_with_what_they_bring(staff_client, pair):
    ann, anne = pair
    response = staff_client.get(merge_url(Contact, [ann.pk, anne.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Merge contacts" in html
    # A "keep" radio per record, the one with most deals chosen by default.
    assert f'name="survivor" value="{anne.pk}"' in html
    assert f'name="survivor" value="{ann.pk}"' in html
    form = response.context["form"]
    assert form["survivor"].initial == anne.pk
    # Radios only where the values differ, defaulting to the kept record's non-empty value.
    assert set(form.fields) == {
        "version",
        "survivor",
        "value_name",
        "value_email",
        "value_phone",
        "value_title",
    }
    assert form["value_phone"].initial == anne.pk
    assert form["value_title"].initial == ann.pk  # Anne has none
    assert "555 0100" in html
    # Counts of what each record brings, never the deals themselves.
    counts = {row["label"]: row["cells"] for row in response.context["table"]["counts"]}
    assert counts["Deals"] == [1, 2] and counts["Notes"] == [0, 1] and counts["Tags"] == [1, 0]
    assert "Secret deal of Ann" not in html


def test_merge_page_post_merges_with_the_values_chosen(staff_client, admin_user, pair):
    ann, anne = pair
    url = merge_url(Contact, [ann.pk, anne.pk])
    response = post_merge(
        staff_client,
        url,
        survivor=ann.pk,
        value_name=ann.pk,
        value_email=anne.pk,
        value_phone=anne.pk,
    )
    change = reverse("admin:crm_admin_contact_change", args=[ann.pk])
    assert response.redirect_chain == [(change, 302)]
    kept = Contact.objects.get(pk=ann.pk)
    assert (kept.first_name, kept.email, kept.phone) == ("Ann", "anne@acme.com", "555 0100")
    assert messages_of(response) == [f"Merged 1 contact into {kept}."]
    assert not Contact.objects.filter(pk=anne.pk).exists()
    assert Deal.objects.filter(contact=kept).count() == 3
    assert MergedRecord.objects.get(contact=kept).merged_by == admin_user
    # The survivor's page shows the merge on its timeline.
    html = response.content.decode()
    assert 'data-kind="merged"' in html
    assert "Merged Anne Lee &lt;anne@acme.com&gt; into this contact." in html


def test_a_merged_email_finds_the_survivor_in_the_contact_list(staff_client, pair):
    ann, anne = pair
    url = merge_url(Contact, [ann.pk, anne.pk])
    post_merge(staff_client, url, survivor=ann.pk, value_name=ann.pk, value_email=ann.pk)
    response = staff_client.get(CONTACTS, {"q": "ANNE@acme.com"})
    assert list(response.context["cl"].result_list) == [Contact.objects.get(pk=ann.pk)]


def test_company_merge_through_the_action_and_the_page(staff_client):
    acme = make_company(name="Acme Inc.", website="https://acme.com")
    acme2 = make_company(name="ACME, Inc", industry="Hardware")
    for company in (acme, acme2, acme2):
        make_contact(company=company)
    response = run_action(
        staff_client, COMPANIES, "merge_selected", [acme.pk, acme2.pk], follow=True
    )
    form = response.context["form"]
    assert form["survivor"].initial == acme2.pk  # most contacts
    response = staff_client.post(
        merge_url(Company, [acme.pk, acme2.pk]),
        {
            "version": form["version"].initial,
            "survivor": acme2.pk,
            "value_name": acme.pk,
            "value_industry": acme2.pk,
            "value_website": acme.pk,
        },
    )
    assert response.status_code == 302
    kept = Company.objects.get()
    assert (kept.pk, kept.name, kept.industry, kept.website) == (
        acme2.pk,
        "Acme Inc.",
        "Hardware",
        "https://acme.com",
    )
    assert Contact.objects.filter(company=kept).count() == 3


def action_names(client, url) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return [name for name, _label in response.context["action_form"].fields["action"].choices]


@pytest.mark.parametrize(
    "perms",
    [("view", "change"), ("view", "delete"), ("view",)],
    ids=["no delete", "no change", "view"],
)
def test_merge_needs_the_change_and_the_delete_permission(client, pair, perms):
    ann, anne = pair
    client.force_login(contact_staff(*perms))
    if "change" in perms or "delete" in perms:
        assert "merge_selected" not in action_names(client, CONTACTS)
    url = merge_url(Contact, [ann.pk, anne.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"survivor": ann.pk}).status_code == 403
    # The action posted anyway (a forged form) is refused with a message.
    response = run_action(client, CONTACTS, "merge_selected", [ann.pk, anne.pk], follow=True)
    assert messages_of(response) == ["You do not have permission to do that: nothing was changed."]
    assert Contact.objects.filter(pk__in=[ann.pk, anne.pk]).count() == 2


def test_merge_is_offered_with_change_and_delete(client, pair):
    client.force_login(contact_staff("view", "change", "delete"))
    assert "merge_selected" in action_names(client, CONTACTS)
    ann, anne = pair
    assert client.get(merge_url(Contact, [ann.pk, anne.pk])).status_code == 200


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("", "Choose at least two records to merge."),
        ("1", "Choose at least two records to merge."),
        ("1,abc", "Those records are not valid: nothing was merged."),
        ("1,99999999999999999999999", "Those records are not valid: nothing was merged."),
        ("1," + "9" * 5000, "Those records are not valid: nothing was merged."),
        (",".join(["1"] * 5000), "At most 10 records can be merged at once."),
        (",".join(str(n) for n in range(1, 12)), "At most 10 records can be merged at once."),
    ],
)
def test_merge_page_refuses_bad_ids_with_a_message(staff_client, ids, message):
    response = staff_client.get(CONTACT_MERGE, {"ids": ids}, follow=True)
    assert response.redirect_chain == [(CONTACTS, 302)]
    assert messages_of(response) == [message]


def test_merge_page_for_records_deleted_meanwhile_says_so(staff_client, pair):
    ann, anne = pair
    url = merge_url(Contact, [ann.pk, anne.pk])
    form = staff_client.get(url).context["form"]
    data = {name: form[name].initial for name in form.fields}
    Deal.objects.filter(contact=anne).delete()
    ContactNote.objects.filter(contact=anne).delete()
    anne.delete()
    response = staff_client.post(url, data, follow=True)
    assert response.redirect_chain == [(CONTACTS, 302)]
    assert "no longer exist" in messages_of(response)[0]
    assert Contact.objects.filter(pk=ann.pk).exists()


def test_merge_page_refuses_a_stale_page(staff_client, pair):
    ann, anne = pair
    url = merge_url(Contact, [ann.pk, anne.pk])
    form = staff_client.get(url).context["form"]
    data = {name: form[name].initial for name in form.fields}
    anne.title = "CEO"
    anne.save()
    response = staff_client.post(url, data, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert messages_of(response) == [
        "These records changed since the page was shown: check the values again."
    ]
    assert Contact.objects.filter(pk__in=[ann.pk, anne.pk]).count() == 2


@pytest.mark.parametrize("field", ["survivor", "value_email"])
def test_merge_page_refuses_a_tampered_choice(staff_client, pair, field):
    ann, anne = pair
    other = make_contact()
    url = merge_url(Contact, [ann.pk, anne.pk])
    data = {
        "version": staff_client.get(url).context["form"]["version"].initial,
        "survivor": ann.pk,
        "value_name": ann.pk,
        "value_email": ann.pk,
        "value_phone": ann.pk,
    }
    data[field] = other.pk
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert Contact.objects.filter(pk__in=[ann.pk, anne.pk, other.pk]).count() == 3


def test_merge_page_reports_a_database_error_and_changes_nothing(
    staff_client,
    pair,
    refusing_deletes,  # noqa: F811
):
    ann, anne = pair
    url = merge_url(Contact, [ann.pk, anne.pk])
    before = snapshot_all()
    response = post_merge(
        staff_client, url, survivor=ann.pk, value_name=anne.pk, value_email=anne.pk
    )
    assert response.status_code == 200
    assert response.redirect_chain == [(url, 302)]
    assert messages_of(response) == [
        "The database refused the merge: nothing was changed. Try again, or ask an "
        "administrator to look at the server's log."
    ]
    assert snapshot_all() == before


def test_merge_page_queries_do_not_grow_with_the_records(staff_client):
    def queries(count: int) -> int:
        contacts = [make_contact(company=make_company(), owner=make_user()) for _ in range(count)]
        for contact in contacts:
            make_deal(contact=contact)
            contact.tags.add(make_tag())
        with CaptureQueriesContext(connection) as context:
            assert staff_client.get(merge_url(Contact, [c.pk for c in contacts])).status_code == 200
        return len(context)

    assert queries(2) == queries(10)


def test_merge_leaves_log_entries_on_both_sides(staff_client, admin_user, pair):
    ann, anne = pair
    url = merge_url(Contact, [ann.pk, anne.pk])
    post_merge(staff_client, url, survivor=ann.pk, value_name=ann.pk, value_email=ann.pk)
    entries = LogEntry.objects.filter(user=admin_user).order_by("pk")
    assert [(e.object_id, e.get_change_message()) for e in entries] == [
        (str(ann.pk), f"Merged {anne} into this contact."),
        (str(anne.pk), f"Merged into {Contact.objects.get(pk=ann.pk)} (#{ann.pk})."),
    ]
