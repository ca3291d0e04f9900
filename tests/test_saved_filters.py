from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_admin.models import SavedFilter, Tag
from tests.factories import make_contact, make_user
from tests.forms import form_data

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_admin_contact_changelist")
DEALS = reverse("admin:crm_admin_deal_changelist")
ADD = reverse("admin:crm_admin_savedfilter_add")


def filter_user(*extra_perms):
    return make_user(
        perms=[
            *extra_perms,
            "crm_admin.view_contact",
            "crm_admin.view_deal",
            "crm_admin.view_savedfilter",
            "crm_admin.add_savedfilter",
            "crm_admin.change_savedfilter",
            "crm_admin.delete_savedfilter",
        ]
    )


def saved_filter_form(user, **data):
    from crm_admin.admin.saved_filters import SavedFilterForm

    form_class = type("Form", (SavedFilterForm,), {"owner": user})
    return form_class(data={"name": "A view", "target": "deal", "query": "", **data})


def test_a_query_with_an_unknown_parameter_is_rejected():
    form = saved_filter_form(make_user(), query="status=open&colour=red&o=2")
    assert not form.is_valid()
    assert form.errors["query"] == ["The deals list has no parameter “colour”."]


def test_a_known_query_is_normalised_without_paging():
    form = saved_filter_form(make_user(), query="?status=open&p=3&owner=mine&q=acme")
    assert form.is_valid(), form.errors
    assert form.save(commit=False).query == "owner=mine&q=acme&status=open"


def test_the_model_layer_does_not_import_the_admin():
    # The data layer must not depend on a screen: validating a model needs no admin registry.
    import ast
    from pathlib import Path

    import crm_admin.models

    modules = sorted(Path(crm_admin.models.__file__).parent.glob("*.py"))
    assert len(modules) > 1  # the package's modules, not only its __init__
    imported = {
        node.module
        for module in modules
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {name for name in imported if name.startswith("crm_admin.admin")}


def test_a_query_that_grows_past_the_column_once_encoded_is_a_form_error(client):
    # 1,500 accented characters are 9,000 once percent-encoded: the stored query would not fit.
    user = filter_user()
    client.force_login(user)
    query = "q=" + "ä" * 1500
    form_page = client.get(ADD + "?" + urlencode({"target": "deal", "query": ""}))
    response = client.post(ADD, form_data(form_page, "savedfilter_form", name="Long", query=query))
    assert response.status_code == 200
    page = response.content.decode()
    assert "9,002 characters long once encoded" in page
    assert "the most a saved filter holds is 2,000" in page
    assert not SavedFilter.objects.filter(name="Long").exists()


def test_the_two_shipped_filters_find_the_right_contacts(staff_client):
    buyers = Tag.objects.get(name="Buyers")
    consulting = Tag.objects.get(name="Consulting")
    stale = make_contact(tags=[buyers], last_contacted_at=timezone.now() - timedelta(days=40))
    never = make_contact(tags=[buyers])
    make_contact(tags=[buyers], last_contacted_at=timezone.now() - timedelta(days=3))
    pending = make_contact(tags=[consulting], status="pending_response")
    make_contact(tags=[consulting], status="contacted")

    shipped = {s.name: s for s in SavedFilter.objects.filter(owner=None, shared=True)}
    assert set(shipped) == {"Buyers not contacted in 30 days", "Consulting - pending response"}
    for name, expected in [
        ("Buyers not contacted in 30 days", {stale.pk, never.pk}),
        ("Consulting - pending response", {pending.pk}),
    ]:
        shipped[name].full_clean()
        response = staff_client.get(shipped[name].get_absolute_url())
        assert {c.pk for c in response.context["cl"].result_list} == expected, name


def test_saved_filters_show_as_tabs_with_an_explicit_active_test(staff_client):
    page = staff_client.get(CONTACTS).content.decode()
    assert "Buyers not contacted in 30 days" in page
    assert "Consulting - pending response" in page

    shipped = SavedFilter.objects.get(name="Consulting - pending response")
    response = staff_client.get(shipped.get_absolute_url())
    tabs = {item["title"]: item["active"] for item in response.context["tab_list"][0]["items"]}
    assert tabs["Consulting - pending response"] is True
    assert tabs["All"] is False, "the unfiltered tab is not active on a filtered view"
    assert tabs["Buyers not contacted in 30 days"] is False

    response = staff_client.get(CONTACTS)
    tabs = {item["title"]: item["active"] for item in response.context["tab_list"][0]["items"]}
    assert tabs == {
        "All": True,
        "Buyers not contacted in 30 days": False,
        "Consulting - pending response": False,
    }


def test_save_current_filters_from_the_deal_list(client):
    user = filter_user("crm_admin.share_savedfilter")
    client.force_login(user)
    page = client.get(DEALS, {"status": "open", "owner": "mine", "p": "2"}).content.decode()
    expected_link = ADD + "?" + urlencode({"target": "deal", "query": "owner=mine&status=open"})
    assert expected_link.replace("&", "&amp;") in page

    form_page = client.get(expected_link)
    data = form_data(form_page, "savedfilter_form", name="My open deals", shared="on")
    assert data["query"] == "owner=mine&status=open" and data["target"] == "deal"
    response = client.post(expected_link, data)
    assert response.status_code == 302
    assert response.url == DEALS + "?owner=mine&status=open"
    saved = SavedFilter.objects.get(name="My open deals")
    assert (saved.owner, saved.shared) == (user, True)

    page = client.get(DEALS).content.decode()
    assert "My open deals" in page


def test_saving_a_bad_query_or_a_duplicate_name_shows_a_form_error(client):
    user = filter_user()
    client.force_login(user)
    SavedFilter.objects.create(name="Hot", target="deal", query="status=open", owner=user)
    form_page = client.get(ADD + "?" + urlencode({"target": "deal", "query": "status=open"}))
    response = client.post(ADD, form_data(form_page, "savedfilter_form", name="hot"))
    assert "You already have a saved filter with this name." in response.content.decode()
    response = client.post(
        ADD, form_data(form_page, "savedfilter_form", name="Odd", query="stage__colour=red")
    )
    assert "The deals list has no parameter “stage__colour”." in response.content.decode()
    assert SavedFilter.objects.filter(owner=user).count() == 1


def test_owners_edit_their_own_and_shared_ones_are_read_only_to_others(client):
    owner, colleague = filter_user(), filter_user()
    shared = SavedFilter.objects.create(
        name="Team view", target="deal", query="status=open", owner=owner, shared=True
    )
    private = SavedFilter.objects.create(
        name="Private", target="deal", query="status=won", owner=owner
    )
    change = reverse("admin:crm_admin_savedfilter_change", args=[shared.pk])
    delete = reverse("admin:crm_admin_savedfilter_delete", args=[shared.pk])

    client.force_login(colleague)
    page = client.get(change).content.decode()
    assert 'name="name"' not in page, "a colleague sees the shared filter read-only"
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert (
        client.get(reverse("admin:crm_admin_savedfilter_change", args=[private.pk])).status_code
        == 302
    )
    assert "Team view" in client.get(DEALS).content.decode()
    assert "Private" not in client.get(DEALS).content.decode()

    client.force_login(owner)
    data = form_data(client.get(change), "savedfilter_form", name="Team pipeline")
    assert client.post(change, data).status_code == 302
    shared.refresh_from_db()
    assert shared.name == "Team pipeline"
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not SavedFilter.objects.filter(pk=shared.pk).exists()


def test_tabs_cost_no_query_on_pages_without_tabs(staff_client, django_assert_num_queries):
    from crm_admin.admin.saved_filters import saved_filter_tabs

    response = staff_client.get(reverse("admin:crm_admin_stage_changelist"))
    with django_assert_num_queries(0):
        assert saved_filter_tabs(response.wsgi_request) == []
