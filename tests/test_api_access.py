"""Who may read the API, how they authenticate, and that nobody can write through it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.authtoken.models import Token

from crm_admin.models import ContactNote, Deal, DealNote
from tests.factories import make_company, make_contact, make_deal, make_user

pytestmark = pytest.mark.django_db

LISTS = ["company", "contact", "deal", "stage", "tag"]
WRITES = ["post", "put", "patch", "delete"]


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # Throttle counts live in the process-wide cache, keyed by user id, which tests reuse.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rows():
    deal = make_deal(contact=make_contact(company=make_company()))
    ContactNote.objects.create(contact=deal.contact, text="Called")
    DealNote.objects.create(deal=deal, text="Sent the quote")
    return {"deal": deal, "contact": deal.contact}


def every_url(rows) -> list[str]:
    deal, contact = rows["deal"], rows["contact"]
    return [
        *(reverse(f"crm_api:{name}-list") for name in LISTS),
        reverse("crm_api:contact-detail", args=[contact.pk]),
        reverse("crm_api:deal-detail", args=[deal.pk]),
        reverse("crm_api:company-detail", args=[contact.company_id]),
        reverse("crm_api:stage-detail", args=[deal.stage_id]),
        reverse("crm_api:contact-note-list", args=[contact.pk]),
        reverse("crm_api:deal-note-list", args=[deal.pk]),
    ]


def token_header(user) -> dict:
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def test_anonymous_requests_are_asked_to_authenticate_with_a_token(client, rows):
    for url in [reverse("crm_api:api-root"), *every_url(rows)]:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token", url


def test_staff_read_every_endpoint_with_a_session(staff_client, rows):
    for url in [reverse("crm_api:api-root"), *every_url(rows)]:
        assert staff_client.get(url).status_code == 200, url


def test_staff_read_every_endpoint_with_a_token(client, admin_user, rows):
    headers = token_header(admin_user)
    for url in every_url(rows):
        assert client.get(url, headers=headers).status_code == 200, url


def test_a_wrong_token_is_refused(client, rows):
    response = client.get(reverse("crm_api:deal-list"), headers={"Authorization": "Token nope"})
    assert response.status_code == 401


def test_a_deactivated_users_token_stops_working(client, rows):
    user = make_user(perms=["crm_admin.view_deal"])
    headers = token_header(user)
    assert client.get(reverse("crm_api:deal-list"), headers=headers).status_code == 200
    user.is_active = False
    user.save()
    assert client.get(reverse("crm_api:deal-list"), headers=headers).status_code == 401


def test_logged_in_users_who_are_not_staff_are_forbidden(client, rows):
    outsider = make_user(staff=False, perms=["crm_admin.view_deal", "crm_admin.view_contact"])
    client.force_login(outsider)
    for url in every_url(rows):
        assert client.get(url).status_code == 403, url
    client.logout()
    headers = token_header(outsider)
    assert client.get(reverse("crm_api:deal-list"), headers=headers).status_code == 403


def test_each_endpoint_needs_the_view_permission_of_its_model(client, rows):
    client.force_login(make_user(perms=["crm_admin.view_contact"]))
    assert client.get(reverse("crm_api:contact-list")).status_code == 200
    for name in ("company", "deal", "stage", "tag"):
        assert client.get(reverse(f"crm_api:{name}-list")).status_code == 403, name
    deal = rows["deal"]
    assert client.get(reverse("crm_api:deal-detail", args=[deal.pk])).status_code == 403


def test_staff_with_every_view_permission_read_every_list(client, viewer, rows):
    client.force_login(viewer)
    for name in LISTS:
        assert client.get(reverse(f"crm_api:{name}-list")).status_code == 200, name


@pytest.mark.parametrize(
    ("route", "note_perm", "parent_perm"),
    [
        ("crm_api:contact-note-list", "crm_admin.view_contactnote", "crm_admin.view_contact"),
        ("crm_api:deal-note-list", "crm_admin.view_dealnote", "crm_admin.view_deal"),
    ],
)
def test_notes_need_the_view_permission_on_notes_and_on_their_parent(
    client, rows, route, note_perm, parent_perm
):
    parent = rows["contact"] if "contact" in route else rows["deal"]
    url = reverse(route, args=[parent.pk])
    cases = [([note_perm], 403), ([parent_perm], 403), ([note_perm, parent_perm], 200)]
    for perms, expected in cases:
        client.force_login(make_user(perms=perms))
        assert client.get(url).status_code == expected, perms


@pytest.mark.parametrize("method", WRITES)
def test_every_write_method_answers_405_for_staff(client, admin_user, rows, method):
    headers = token_header(admin_user)
    client.force_login(admin_user)
    for url in every_url(rows):
        for extra in ({}, {"headers": headers}):
            response = getattr(client, method)(url, {}, content_type="application/json", **extra)
            assert response.status_code == 405, (method, url)
            assert "POST" not in response["Allow"] and "GET" in response["Allow"]


def test_writes_are_refused_before_authentication(client, rows):
    # Read-only whoever asks: an anonymous write is a 405 too, never a 401 inviting a retry.
    response = client.post(reverse("crm_api:deal-list"), {}, content_type="application/json")
    assert response.status_code == 405


def test_a_session_write_without_csrf_token_is_a_405_not_a_csrf_failure(admin_user, rows):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    response = browser.delete(reverse("crm_api:deal-detail", args=[rows["deal"].pk]))
    assert response.status_code == 405
    assert Deal.objects.filter(pk=rows["deal"].pk).exists()


def test_token_clients_are_throttled_at_the_configured_rate(client, admin_user, settings, rows):
    settings.CRM_API_THROTTLE_RATE = "3/minute"
    headers = token_header(admin_user)
    url = reverse("crm_api:stage-list")
    assert [client.get(url, headers=headers).status_code for _ in range(3)] == [200] * 3
    refused = client.get(url, headers=headers)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0


def test_a_malformed_throttle_rate_stops_the_project_from_starting():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DEBUG": "1", "API_THROTTLE_RATE": "lots"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "API_THROTTLE_RATE='lots'" in result.stderr


def test_staff_browsing_with_a_session_are_not_throttled(staff_client, settings, rows):
    settings.CRM_API_THROTTLE_RATE = "1/minute"
    url = reverse("crm_api:stage-list")
    assert {staff_client.get(url).status_code for _ in range(5)} == {200}


def test_the_browsable_root_lists_the_endpoints(staff_client):
    response = staff_client.get(reverse("crm_api:api-root"), headers={"Accept": "text/html"})
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("companies", "contacts", "deals", "stages", "tags"):
        assert f"/api/crm/{name}/" in page
    assert "https://" not in page.split("<body")[0], "the browsable API's assets are local"


def test_staff_browse_a_list_with_its_filter_form(staff_client, rows):
    for name in ("contact", "deal"):
        response = staff_client.get(reverse(f"crm_api:{name}-list"), {"format": "api"})
        assert response.status_code == 200
        page = response.content.decode()
        assert "Filters" in page and 'name="tags"' in page and 'name="search"' in page
