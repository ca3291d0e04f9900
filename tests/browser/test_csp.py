"""The Content-Security-Policy: every page is served under it, and none of them breaks.

Chromium reports each blocked script, style, image, eval or connection as a
`securitypolicyviolation` event; the page hands every one to the test, which expects none,
and no script error either, while the page still does its job (the chart is drawn, the card
moves, Swagger UI lists the operations).
"""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.browser.conftest import PASSWORD
from tests.factories import make_deal, stage

expect = pytest.importorskip("playwright.sync_api").expect

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
    window.reportCspViolation(
        `${event.effectiveDirective}: ${event.blockedURI || "inline"} (${event.documentURI})`
    );
});
"""


@pytest.fixture
def watched_page(page):
    """`page`, collecting CSP violations and script errors from every page it opens."""
    page.problems = []
    page.expose_function("reportCspViolation", lambda text: page.problems.append(text))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            page.problems.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return page


def open_under_policy(page, url):
    response = page.goto(url)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "default-src 'self'" in policy, policy
    page.wait_for_load_state("networkidle")
    return response


def log_in(page, user):
    open_under_policy(page, reverse("admin:login"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))


def test_login_dashboard_lists_and_forms_run_under_the_policy(watched_page, superuser):
    page = watched_page
    deal = make_deal(title="Solar retrofit", amount=Decimal("1200.00"))

    log_in(page, superuser)

    open_under_policy(page, reverse("admin:index"))
    # Chart.js has drawn the chart (Unfold's app.js starts it from the canvas's data).
    canvas = page.locator("canvas.chart").first
    expect(canvas).to_be_visible()
    assert page.evaluate("(canvas) => Boolean(Chart.getChart(canvas))", canvas.element_handle())

    for url in (
        reverse("admin:crm_admin_contact_changelist"),
        reverse("admin:crm_admin_contact_change", args=[deal.contact.pk]),
        reverse("admin:crm_admin_deal_changelist"),
        reverse("admin:crm_admin_deal_change", args=[deal.pk]),
        reverse("admin:crm_admin_contact_import"),
    ):
        open_under_policy(page, url)
    # Alpine.js has evaluated the page's x-data expressions (which needs 'unsafe-eval').
    assert page.evaluate("() => Boolean(document.querySelector('[x-data]')._x_dataStack)")

    assert page.problems == []


def test_the_board_drags_a_card_under_the_policy(watched_page, superuser):
    page = watched_page
    make_deal(title="Solar retrofit", amount=Decimal("1200.00"), probability=30)
    won = stage("Closed-Won")
    log_in(page, superuser)

    open_under_policy(page, reverse("admin:crm_admin_deal_board"))
    prospecting = page.locator(f"[data-column][data-stage='{stage('Prospecting').pk}']")
    won_column = page.locator(f"[data-column][data-stage='{won.pk}']")
    prospecting.locator("[data-card]", has_text="Solar retrofit").drag_to(
        won_column.locator("[data-cards]")
    )

    expect(page.locator("#board-status")).to_have_text("“Solar retrofit” moved to Closed-Won.")
    assert page.problems == []


def test_swagger_ui_renders_the_operations_under_the_policy(watched_page, superuser):
    page = watched_page
    log_in(page, superuser)

    open_under_policy(page, reverse("api-docs"))
    page.wait_for_selector(".opblock-summary", timeout=20_000)
    operations = page.locator(".opblock-summary-path").all_inner_texts()

    assert any(text.strip().startswith("/api/crm/deals/") for text in operations), operations
    assert page.problems == []
