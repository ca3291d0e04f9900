"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Playwright's own browser download is not used. Without /usr/bin/chromium or the playwright
package these tests are skipped, unless CRM_REQUIRE_BROWSER=1 (CI sets it): then they fail.
Test modules take `expect` through `pytest.importorskip("playwright.sync_api")`.
"""

import os
import re
from pathlib import Path

import pytest
from django.db import connections

REQUIRE_BROWSER = os.environ.get("CRM_REQUIRE_BROWSER") == "1"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    # The test modules skip themselves then; CI must not skip in silence.
    if REQUIRE_BROWSER:
        raise

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "pw-for-browser-tests"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def browser(live_server, transactional_db, django_db_serialized_rollback, monkeypatch):
    """Chromium, started for each test once its database is ready.

    The live server needs committed data, hence transactional_db; the flush after each test
    would wipe the stages the data migration creates, so serialized rollback restores them.
    That has to run outside Playwright: while its event loop runs, Django hands the test
    thread a separate, context-local connection, which has no serialized data to restore.
    """
    if not CHROMIUM.is_file():
        missing = "Chromium not installed (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(f"{missing}, and CRM_REQUIRE_BROWSER=1 requires the browser tests")
        pytest.skip(f"{missing}: browser tests skipped")
    # Playwright's sync API keeps an asyncio event loop running in the test thread, so Django
    # takes every ORM call there for one from async code and refuses it. Those calls are plain
    # synchronous ones made between Playwright calls, so allowing them is safe. Set for this
    # test only: subprocesses of other tests (`check --deploy`) must not inherit it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # The ORM calls made under the loop got their own connections: close them while Django
        # still hands those out, so none outlives the test (Postgres would refuse to drop the
        # test database).
        connections.close_all()


@pytest.fixture
def page(browser, live_server):
    """A tab on the live server; relative URLs go to it."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def superuser(django_user_model, transactional_db, settings):
    # A cheap hasher: the password is hashed here and checked again at every login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_superuser(
        username="boss", email="boss@example.com", password=PASSWORD
    )


@pytest.fixture
def admin_page(page, superuser):
    """`page`, logged in as `superuser` through the admin's login form."""
    page.goto("/admin/")
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    return page
