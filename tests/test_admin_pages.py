import pytest
from django.urls import reverse

from crm_admin.models import ContactNote, DealNote
from tests.factories import lost_reason, make_company, make_contact, make_deal, make_tag, stage

pytestmark = pytest.mark.django_db

MODELS = ["contact", "deal", "company", "stage", "tag", "contactnote", "dealnote", "lostreason"]


@pytest.fixture
def crm_rows(admin_user):
    company = make_company(name="Northwind")
    vip = make_tag(name="VIP")
    contact = make_contact(company=company, tags=[vip])
    deal = make_deal(contact=contact, tags=[vip], owner=admin_user)
    return {
        "contact": contact,
        "deal": deal,
        "company": company,
        "stage": deal.stage,
        "tag": vip,
        "contactnote": ContactNote.objects.create(contact=contact, text="Intro"),
        "dealnote": DealNote.objects.create(deal=deal, text="Proposal"),
        "lostreason": lost_reason(),
    }


@pytest.mark.parametrize("model", MODELS)
def test_every_crm_admin_page_renders_for_staff(staff_client, crm_rows, model):
    obj = crm_rows[model]
    urls = [
        reverse(f"admin:crm_admin_{model}_changelist"),
        reverse(f"admin:crm_admin_{model}_add"),
        reverse(f"admin:crm_admin_{model}_change", args=[obj.pk]),
        reverse(f"admin:crm_admin_{model}_delete", args=[obj.pk]),
        reverse(f"admin:crm_admin_{model}_history", args=[obj.pk]),
    ]
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_changelists_show_what_a_salesperson_scans_for(staff_client, crm_rows):
    page = staff_client.get(reverse("admin:crm_admin_contact_changelist")).content.decode()
    contact = crm_rows["contact"]
    for text in (contact.full_name, contact.email, "Northwind", "New", "VIP"):
        assert text in page

    page = staff_client.get(reverse("admin:crm_admin_deal_changelist")).content.decode()
    deal = crm_rows["deal"]
    for text in (deal.title, contact.full_name, "Northwind", "Prospecting", "1,000.00", "50%"):
        assert text in page

    page = staff_client.get(reverse("admin:crm_admin_stage_changelist")).content.decode()
    assert "Closed-Won" in page

    page = staff_client.get(reverse("admin:crm_admin_lostreason_changelist")).content.decode()
    assert page.index("Price") < page.index("Competitor") < page.index("Other")


def test_search_and_filters_narrow_the_lists(staff_client, crm_rows):
    other = make_contact(first_name="Zed", email="zed@elsewhere.example")
    url = reverse("admin:crm_admin_contact_changelist")
    page = staff_client.get(url, {"q": "northwind"}).content.decode()
    assert crm_rows["contact"].email in page and other.email not in page

    page = staff_client.get(url, {"tags__id__exact": crm_rows["tag"].pk}).content.decode()
    assert crm_rows["contact"].email in page and other.email not in page

    make_deal(title="Lost cause", stage=stage("Closed-Lost"))
    deals_url = reverse("admin:crm_admin_deal_changelist")
    page = staff_client.get(deals_url, {"status": "lost"}).content.decode()
    assert "Lost cause" in page and crm_rows["deal"].title not in page


def test_autocomplete_endpoints_serve_foreign_keys(staff_client, crm_rows):
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "crm_admin", "model_name": "deal", "field_name": "contact", "term": "ann"},
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == str(crm_rows["contact"].pk)


def test_deal_form_uses_autocomplete_not_a_full_select(staff_client, crm_rows):
    page = staff_client.get(reverse("admin:crm_admin_deal_add")).content.decode()
    for field in ("contact", "owner", "tags"):
        assert f'data-field-name="{field}"' in page
    assert crm_rows["contact"].email not in page, "contacts must not be rendered as options"


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("admin:crm_admin_contact_changelist"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_non_staff_users_cannot_use_the_admin(client, django_user_model):
    user = django_user_model.objects.create_user("outsider", password="pw-for-tests-only")
    client.force_login(user)
    response = client.get(reverse("admin:crm_admin_contact_changelist"))
    assert response.status_code == 302


def test_staff_without_permission_is_refused(client, db):
    from tests.factories import make_user

    client.force_login(make_user(perms=["crm_admin.view_contact"]))
    assert client.get(reverse("admin:crm_admin_contact_changelist")).status_code == 200
    assert client.get(reverse("admin:crm_admin_deal_changelist")).status_code == 403


def test_sidebar_groups_the_crm_and_keeps_users_reachable(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    for text in ("Pipeline", "People", "Administration", "Deals", "Contacts", "Users", "Groups"):
        assert text in page
    assert reverse("admin:auth_user_changelist") in page
    assert "<title>" in page and "CRM" in page


def test_sidebar_hides_models_the_user_cannot_view(client, db):
    from tests.factories import make_user

    client.force_login(make_user(perms=["crm_admin.view_contact"]))
    page = client.get(reverse("admin:crm_admin_contact_changelist")).content.decode()
    assert reverse("admin:crm_admin_contact_changelist") in page
    assert reverse("admin:crm_admin_deal_changelist") not in page
