"""The OpenAPI schema and the interactive docs: warning-free, staff only, and self-hosted."""

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from tests.factories import make_user

pytestmark = pytest.mark.django_db

CHROMIUM = Path("/usr/bin/chromium")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def linked_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def test_the_schema_generates_and_validates_without_warnings(tmp_path):
    # --fail-on-warn turns any drf-spectacular warning (an unresolvable field type, an enum
    # name collision...) into an error; --validate checks the result against OpenAPI 3. The
    # settings are the CRM's schema view's (README, API).
    out = tmp_path / "schema.yml"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--custom-settings",
        "crm_admin.api.schema.SPECTACULAR_SETTINGS",
        "--file",
        str(out),
    )
    schema = out.read_text()
    assert schema.startswith("openapi: 3.")


def test_the_schema_describes_every_endpoint_for_staff(staff_client):
    response = staff_client.get(reverse("api-schema"), headers={"Accept": "application/json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for name in ("companies", "contacts", "deals", "stages", "tags"):
        assert f"/api/crm/{name}/" in paths and f"/api/crm/{name}/{{id}}/" in paths
    assert "/api/crm/contacts/{contact_id}/notes/" in paths
    assert "/api/crm/deals/{deal_id}/notes/" in paths
    assert all(set(operations) <= {"get", "parameters"} for operations in paths.values())
    contact_params = {p["name"] for p in paths["/api/crm/contacts/"]["get"]["parameters"]}
    assert {"tags", "status", "company", "last_contacted_at__lt", "search", "page_size"} <= (
        contact_params
    )
    next_steps = {"next_step_due__lte", "next_step_due__gte", "has_next_step"}
    assert next_steps | {"owner"} <= contact_params
    deal_params = {p["name"] for p in paths["/api/crm/deals/"]["get"]["parameters"]}
    assert next_steps <= deal_params
    schemas = response.json()["components"]["schemas"]
    assert {"owner", "next_step", "next_step_due"} <= set(schemas["Contact"]["required"])
    assert {"next_step", "next_step_due"} <= set(schemas["Deal"]["required"])
    deal = schemas["Deal"]["properties"]
    assert deal["lost_reason"]["type"] == "string" and deal["lost_reason"]["nullable"] is True
    assert deal["stage_entered_at"]["format"] == "date-time"
    assert {"lost_reason", "stage_entered_at"} <= set(schemas["Deal"]["required"])
    assert "lost_reason" in deal_params


def test_the_schema_and_docs_are_for_staff_only(client):
    assert client.get(reverse("api-schema")).status_code == 401
    response = client.get(reverse("api-docs"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    client.force_login(make_user(staff=False))
    assert client.get(reverse("api-schema")).status_code == 403
    assert client.get(reverse("api-docs")).status_code == 403


def test_the_docs_page_loads_only_files_the_project_serves(staff_client):
    response = staff_client.get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    urls = linked_urls(html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    # Swagger UI's start-up script comes from the docs view itself, as a file: the
    # Content-Security-Policy allows no inline script.
    start_up = reverse("api-docs") + "?script="
    assert start_up in urls
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    for url in urls:
        if url == start_up:
            continue
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is on another host"
        assert parts.path.startswith(settings.STATIC_URL), f"{url} is not a static file"
        static_path = parts.path.removeprefix(settings.STATIC_URL)
        assert finders.find(static_path), f"{url} is not among the static files"
    # Nothing else in the page or the script points at another host, and Swagger UI's online
    # validator badge, which would call validator.swagger.io, is off.
    script = staff_client.get(start_up)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    code = script.content.decode()
    assert not re.search(r"https?://", html + code)
    assert '"validatorUrl": null' in code
    assert '"/api/schema/"' in code


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # committed rows
def test_the_docs_render_in_a_browser_without_outside_requests(live_server, client, admin_user):
    # The same rules as tests/browser/: Debian's Chromium, required when CRM_REQUIRE_BROWSER=1.
    if not CHROMIUM.is_file():
        if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium not installed, and CRM_REQUIRE_BROWSER=1 requires it")
        pytest.skip("Chromium not installed (apt-get install chromium): browser test skipped")
    sync_api = pytest.importorskip("playwright.sync_api")

    # All database work before Playwright starts: its event loop makes the ORM refuse to run.
    client.force_login(admin_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    host = urlsplit(live_server.url).netloc
    requested, outside = [], []

    def only_local(route):
        url = route.request.url
        requested.append(url)
        if urlsplit(url).netloc == host:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            page = context.new_page()
            page.route("**/*", only_local)
            page.goto(f"{live_server.url}{reverse('api-docs')}")
            # Operations appear only once Swagger UI has loaded and rendered the schema.
            page.wait_for_selector(".opblock-summary", timeout=20_000)
            operations = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()

    assert outside == [], f"the docs page asked other hosts for {outside}"
    assert any(url.endswith("/api/schema/") for url in requested)
    assert any(text.strip().startswith("/api/crm/deals/") for text in operations), operations
