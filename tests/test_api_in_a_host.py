"""The API behaves the same in any host project: its authentication, permissions, pagination,
throttling and schema are its own, whatever the host's REST_FRAMEWORK says, and one include
(`api/crm/`) brings the schema and the docs too."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.views import APIView

from crm_admin.api.schema import crm_endpoints_only
from crm_admin.api.views import DealViewSet
from tests.factories import make_deal

pytestmark = pytest.mark.django_db

# A host whose own API is open to anybody, unpaginated, unthrottled, with DRF's schema class.
OPEN_HOST = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_THROTTLE_CLASSES": [],
}


@pytest.fixture
def open_host(settings):
    settings.REST_FRAMEWORK = OPEN_HOST


def test_anonymous_requests_are_told_to_authenticate_whatever_the_host_allows(client, open_host):
    for url in (reverse("crm_api:api-root"), reverse("crm_api:deal-list")):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"


def test_lists_are_paged_whatever_the_host_pages(staff_client, open_host):
    make_deal(title="Paged deal")
    body = staff_client.get(reverse("crm_api:deal-list")).json()
    assert body["count"] == 1 and [deal["title"] for deal in body["results"]] == ["Paged deal"]


def test_tokens_are_throttled_whatever_the_host_throttles(client, admin_user, settings, open_host):
    settings.CRM_API_THROTTLE_RATE = "1/minute"
    headers = {"Authorization": f"Token {Token.objects.create(user=admin_user).key}"}
    url = reverse("crm_api:stage-list")
    assert [client.get(url, headers=headers).status_code for _ in range(2)] == [200, 429]


def test_the_include_serves_the_schema_and_docs_for_staff(staff_client, open_host):
    schema = staff_client.get(reverse("crm_api:schema"), headers={"Accept": "application/json"})
    assert schema.status_code == 200
    assert "/api/crm/deals/" in schema.json()["paths"]
    assert schema.json()["info"]["title"] == "CRM API"
    # Swagger UI from the project's own static files, without the online validator.
    docs = staff_client.get(reverse("crm_api:docs"))
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content.decode()
    script = staff_client.get(reverse("crm_api:docs") + "?script=").content.decode()
    assert '"/api/crm/schema/"' in script and '"validatorUrl": null' in script
    assert Client().get(reverse("crm_api:schema")).status_code == 401


class HostView(APIView):
    """A host project's own endpoint."""


def test_the_schema_leaves_out_a_hosts_own_endpoints():
    crm = ("/api/crm/deals/", "^api/crm/deals/$", "GET", DealViewSet.as_view({"get": "list"}))
    host = ("/api/host/", "^api/host/$", "GET", HostView.as_view())
    assert crm_endpoints_only([crm, host]) == [crm]
