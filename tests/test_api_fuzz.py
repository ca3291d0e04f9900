"""The API under generated requests (schemathesis): no 500, and every answer as documented.

Schemathesis reads the schema the project serves and sends each GET operation a bounded,
reproducible set of generated requests (query strings, path ids, including ones the schema
rules out) through the WSGI application, with a staff token, then checks each response:
no server error, a documented status code and content type, a body matching its schema.

A request the schema allows must not be refused either, with one exception the schema cannot
express: a tag, stage, lost reason, company or owner that names no row is a 400 naming the
parameter (README, API), so schemathesis's own `positive_data_acceptance` is replaced by a
check that allows that.
`negative_data_rejection` is left out: it expects a 400 for an empty value (`?owner=`), which
django-filter reads as "no filter", as the browsable API's filter form sends it.
"""

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import patched_settings
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm_admin.api.schema import SPECTACULAR_SETTINGS
from project.wsgi import application
from tests.factories import make_deal

# Query parameters whose values name rows: a name that matches none is a documented 400.
REFERENCE_PARAMETERS = {"tags", "stage", "lost_reason", "company", "owner"}


def schema_valid_requests_are_accepted(ctx, response, case):
    """A request generated within the schema gets no 400 but for a reference naming no row."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 400:
        refused = set(response.json())
        assert refused <= REFERENCE_PARAMETERS, f"schema-valid request refused: {response.text}"
    return None


CHECKS = [
    not_a_server_error,
    schema_valid_requests_are_accepted,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def served_schema() -> dict:
    """The schema /api/schema/ serves, generated the same way (with the CRM's schema
    settings) without a request or a database (schemathesis 4.32's fixture-based loader does
    not run under pytest 9)."""
    with patched_settings(SPECTACULAR_SETTINGS):
        generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


schema = schemathesis.openapi.from_dict(served_schema())


@pytest.fixture
def token(db, admin_user, settings):
    # Werkzeug's test client, which schemathesis drives the app with, says "Host: localhost".
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    make_deal(title="Fuzzed deal")
    # The real WSGI handler closes the database connection after each request, which would
    # end the test's transaction on PostgreSQL; Django's test client disconnects it the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield Token.objects.create(user=admin_user).key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    # The rows are read, never written: every example may share the test's transaction.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_documented_answers(case, token):
    case.call_and_validate(
        app=application, headers={"Authorization": f"Token {token}"}, checks=CHECKS
    )


# Two answers the generated requests found to be 500s on PostgreSQL, kept as plain cases.
def test_a_nul_byte_in_a_tag_name_is_a_400(staff_client):
    response = staff_client.get(reverse("crm_api:contact-list"), {"tags": "VIP\x00"})
    assert response.status_code == 400
    assert "tags" in response.json()


def test_a_utc_offset_postgresql_cannot_store_still_filters(staff_client):
    deal = make_deal(title="Fuzzed deal")
    response = staff_client.get(
        reverse("crm_api:contact-list"), {"created_at__gte": "2000-01-01T00:00:00+18:12"}
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [deal.contact.pk]
