"""A contact's deals, a company's contacts and deals (crm_admin.timeline's related-record
selectors) and how the change pages show them: capped lists, exact counts and open value,
links to the filtered lists and to a pre-filled add form, only what the user may view."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from crm_admin import services
from crm_admin.models import Deal
from crm_admin.timeline import company_contacts, company_deals, contact_deals
from tests.factories import lost_reason, make_company, make_contact, make_deal, make_user, stage

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
CONTACTS = reverse("admin:crm_admin_contact_changelist")


def change_url(record) -> str:
    return reverse(f"admin:crm_admin_{record._meta.model_name}_change", args=[record.pk])


def section(response, name: str) -> str | None:
    """The page's related-records section `name` ("deals", "contacts"), None when absent."""
    assert response.status_code == 200
    html = response.content.decode()
    start = html.find(f'<section id="related-{name}"')
    return None if start < 0 else html[start : html.index("</section>", start)]


def deals_of(contact, amounts_by_stage):
    return [
        make_deal(contact=contact, stage=stage(name), amount=amount)
        for name, amount in amounts_by_stage
    ]


def test_contact_deals_lists_its_deals_newest_first_with_exact_figures(django_assert_num_queries):
    contact = make_contact()
    deals = deals_of(
        contact,
        [
            ("Prospecting", Decimal("1000.10")),
            ("Negotiation", Decimal("2000.25")),
            ("Negotiation", None),
            ("Closed-Won", Decimal("5000.00")),
            ("Closed-Lost", Decimal("700.00")),
        ],
    )
    make_deal(amount=Decimal("99.00"))  # another contact's

    with django_assert_num_queries(2):
        related = contact_deals(contact=contact)
        stages = [deal.stage.name for deal in related.deals]  # read with the rows

    assert related.deals == deals[::-1]
    assert stages == ["Closed-Lost", "Closed-Won", "Negotiation", "Negotiation", "Prospecting"]
    assert (related.count, related.open_count, related.open_value) == (5, 3, Decimal("3000.35"))
    assert not related.more


def test_the_open_value_is_exact_to_the_cent_past_floating_point():
    contact = make_contact()
    deals_of(
        contact,
        [("Prospecting", Decimal("9999999999.99"))] * 3 + [("Prospecting", Decimal("0.02"))],
    )
    assert contact_deals(contact=contact).open_value == Decimal("29999999999.99")


def test_the_lists_are_capped_but_the_figures_count_every_record():
    company = make_company()
    contact = make_contact(company=company)
    deals_of(contact, [("Prospecting", Decimal("10.00"))] * 23)
    for _ in range(22):
        make_contact(company=company)
    make_contact()  # elsewhere

    deals, contacts = company_deals(company=company), company_contacts(company=company)

    assert (len(deals.deals), deals.count, deals.open_value, deals.more) == (
        20,
        23,
        Decimal("230.00"),
        True,
    )
    assert (len(contacts.contacts), contacts.count, contacts.more) == (20, 23, True)
    assert contacts.contacts == sorted(
        contacts.contacts, key=lambda c: (c.last_name, c.first_name, c.pk)
    )


def test_company_deals_are_its_contacts_deals(django_assert_num_queries):
    company = make_company()
    ann, bea = make_contact(company=company), make_contact(company=company)
    mine = deals_of(ann, [("Prospecting", Decimal("1.00"))]) + deals_of(
        bea, [("Closed-Won", Decimal("2.00"))]
    )
    make_deal(contact=make_contact(company=make_company()))

    with django_assert_num_queries(2):
        related = company_deals(company=company)
        contacts = [deal.contact for deal in related.deals]

    assert related.deals == mine[::-1] and contacts == [bea, ann]
    assert (related.count, related.open_count, related.open_value) == (2, 1, Decimal("1.00"))
    with django_assert_num_queries(2):
        assert company_contacts(company=company).count == 2


def test_a_record_without_any_shows_zeroes():
    company = make_company()
    assert contact_deals(contact=make_contact()).open_value == Decimal("0.00")
    assert (company_deals(company=company).count, company_contacts(company=company).count) == (0, 0)


# --- the contact page -----------------------------------------------------------------------


def test_the_contact_page_lists_its_deals_with_what_a_salesperson_scans_for(
    staff_client, admin_user
):
    contact = make_contact()
    deal = make_deal(
        contact=contact,
        title="Fleet <renewal>",
        amount=Decimal("12500.00"),
        owner=admin_user,
        expected_close_date=date(2031, 3, 14),
        next_step="Send the quote",
    )
    lost = make_deal(contact=contact, title="Old deal")
    services.deals_mark_lost(deals=Deal.objects.filter(pk=lost.pk), lost_reason=lost_reason())

    html = section(staff_client.get(change_url(contact)), "deals")

    assert f'href="{change_url(deal)}">Fleet &lt;renewal&gt;</a>' in html
    # Newest first: the old deal's row, then this one's.
    row = html[html.index("Fleet &lt;renewal&gt;") :]
    assert html.index("Old deal") < html.index("Fleet &lt;renewal&gt;")
    for shown in ("Prospecting", "12,500.00", "admin", "03/14/2031", "Send the quote"):
        assert shown in row
    assert "Closed-Lost" in html
    assert "1 open deal, worth USD 12,500.00" in html
    assert re.search(r">\s*2\s*</span>\s*</h2>", html)  # the count by the heading


def test_the_add_deal_link_prefills_the_contact_in_the_autocomplete_widget(staff_client):
    contact = make_contact(first_name="Zoë", last_name="Ødegård")
    html = section(staff_client.get(change_url(contact)), "deals")
    add_url = f"{reverse('admin:crm_admin_deal_add')}?contact={contact.pk}"
    assert f'href="{add_url}" id="related-deals-add">Add deal for this contact</a>' in html

    form = staff_client.get(add_url).content.decode()

    select = re.search(r'<select name="contact"[^>]*>(.*?)</select>', form, re.S)
    assert 'class="admin-autocomplete"' in select.group(0)
    assert (
        f'<option value="{contact.pk}" selected>Zoë Ødegård &lt;{contact.email}&gt;</option>'
        in select.group(1)
    )


def test_the_add_deal_link_needs_the_add_permission(client):
    contact = make_contact()
    client.force_login(make_user(perms=["crm_admin.view_contact", "crm_admin.view_deal"]))
    html = section(client.get(change_url(contact)), "deals")
    assert html is not None and "related-deals-add" not in html


def test_past_the_cap_a_link_opens_the_deal_list_filtered_to_all_of_them(staff_client):
    contact = make_contact()
    deals_of(contact, [("Prospecting", Decimal("1.00"))] * 22)
    make_deal()

    html = section(staff_client.get(change_url(contact)), "deals")

    assert html.count('<tr class="align-top') == 20
    link = re.search(
        r'href="([^"]+)" id="related-deals-all">\s*All 22 deals in the deal list', html
    )
    assert link.group(1) == f"{DEALS}?contact__id__exact={contact.pk}"
    listing = staff_client.get(link.group(1).replace("&amp;", "&"))
    assert listing.status_code == 200 and listing.context["cl"].result_count == 22


def test_under_the_cap_there_is_no_all_link(staff_client):
    contact = make_contact()
    deals_of(contact, [("Prospecting", Decimal("1.00"))] * 20)
    html = section(staff_client.get(change_url(contact)), "deals")
    assert html.count('<tr class="align-top') == 20 and "related-deals-all" not in html


def test_a_user_who_may_not_view_deals_sees_no_deals_section(client):
    contact = make_contact()
    make_deal(contact=contact, title="Secret deal")
    client.force_login(make_user(perms=["crm_admin.view_contact"]))

    response = client.get(change_url(contact))

    assert section(response, "deals") is None
    assert "Secret deal" not in response.content.decode()


def test_the_contact_filter_of_the_deal_list_refuses_an_id_that_is_no_key(staff_client):
    for parameter in ("contact__id__exact", "contact__company__id__exact"):
        response = staff_client.get(DEALS, {parameter: "9" * 30})
        assert (response.status_code, response["Location"]) == (302, f"{DEALS}?e=1")


# --- the company page -----------------------------------------------------------------------


def test_the_company_page_lists_its_contacts_and_deals_with_counts_and_open_value(staff_client):
    company = make_company()
    ann = make_contact(
        company=company, first_name="Ann", last_name="Aalto", title="CTO", phone="+358 1"
    )
    bea = make_contact(company=company, first_name="Bea", last_name="Berg")
    deals_of(ann, [("Prospecting", Decimal("100.50")), ("Closed-Won", Decimal("900.00"))])
    deals_of(bea, [("Negotiation", Decimal("50.25"))])
    make_deal(contact=make_contact(company=make_company()), amount=Decimal("1.00"))

    response = staff_client.get(change_url(company))

    contacts = section(response, "contacts")
    assert f'href="{change_url(ann)}">Ann Aalto</a>' in contacts and "CTO" in contacts
    assert f'href="{change_url(bea)}">Bea Berg</a>' in contacts
    assert re.search(r">\s*2\s*</span>\s*</h2>", contacts)
    add = f"{reverse('admin:crm_admin_contact_add')}?company={company.pk}"
    assert f'href="{add}" id="related-contacts-add"' in contacts
    deals = section(response, "deals")
    assert re.search(r">\s*3\s*</span>\s*</h2>", deals)
    assert "2 open deals, worth USD 150.75" in deals
    assert f'href="{change_url(bea)}">Bea Berg</a>' in deals  # each deal's contact
    assert "related-deals-add" not in deals


def test_the_add_contact_link_prefills_the_company(staff_client):
    company = make_company(name="Ålesund Fisk")
    form = staff_client.get(f"{reverse('admin:crm_admin_contact_add')}?company={company.pk}")
    assert f'<option value="{company.pk}" selected>Ålesund Fisk</option>' in form.content.decode()


def test_the_company_page_links_to_all_its_contacts_and_deals_in_the_lists(staff_client):
    company = make_company()
    contact = make_contact(company=company)
    for _ in range(21):
        make_contact(company=company)
    deals_of(contact, [("Prospecting", Decimal("1.00"))] * 21)
    make_deal(contact=make_contact(company=make_company()))

    response = staff_client.get(change_url(company))

    contacts_link = re.search(
        r'href="([^"]+)" id="related-contacts-all">\s*All 22 contacts',
        section(response, "contacts"),
    )
    deals_link = re.search(
        r'href="([^"]+)" id="related-deals-all">\s*All 21 deals', section(response, "deals")
    )
    assert contacts_link.group(1) == f"{CONTACTS}?company__id__exact={company.pk}"
    assert deals_link.group(1) == f"{DEALS}?contact__company__id__exact={company.pk}"
    for link, count in ((contacts_link, 22), (deals_link, 21)):
        listing = staff_client.get(link.group(1))
        assert listing.status_code == 200 and listing.context["cl"].result_count == count


def test_the_company_page_shows_only_what_the_user_may_view(client):
    company = make_company()
    contact = make_contact(company=company, first_name="Hidden")
    make_deal(contact=contact, title="Secret deal")

    client.force_login(make_user(perms=["crm_admin.view_company"]))
    response = client.get(change_url(company))
    assert section(response, "contacts") is None and section(response, "deals") is None

    client.force_login(make_user(perms=["crm_admin.view_company", "crm_admin.view_deal"]))
    response = client.get(change_url(company))
    deals = section(response, "deals")
    assert section(response, "contacts") is None and "Secret deal" in deals
    # The deal's contact is not named to a user who may not view contacts.
    assert "Hidden" not in deals


def test_the_add_pages_show_no_related_records(staff_client):
    for model in ("contact", "company"):
        response = staff_client.get(reverse(f"admin:crm_admin_{model}_add"))
        assert section(response, "deals") is None and section(response, "contacts") is None
