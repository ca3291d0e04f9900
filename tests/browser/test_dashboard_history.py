"""The dashboard's stage history section in a browser: it loads after the page (a loading line
meanwhile), its lost-by-reason chart is drawn, the velocity table reads, and the stale count
leads to the stale deals; without JavaScript its link opens the same figures as a page."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.models import Deal, Stage
from tests.browser.conftest import PASSWORD
from tests.factories import lost_reason, make_deal, stage
from tests.test_pipeline_history import journey

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def history():
    """One stale deal of two in Negotiation, one stay of 18 days in Prospecting, one lost."""
    now = timezone.now()
    Stage.objects.filter(name="Negotiation").update(stale_after_days=10)
    journey(("Prospecting", now - timedelta(days=30)), ("Negotiation", now - timedelta(days=12)))
    make_deal(title="Fresh one", stage=stage("Negotiation"))
    lost = make_deal(title="Too dear", stage=stage("Negotiation"))
    services.deals_mark_lost(deals=Deal.objects.filter(pk=lost.pk), lost_reason=lost_reason())
    # The login landed on the dashboard, which read (and cached) the figures before these
    # rows existed; CRM_HISTORY_CACHE_SECONDS later they would show.
    cache.clear()


def expect_the_figures(page):
    expect(page.locator("#lost-by-reason tbody tr")).to_contain_text("Price")
    prospecting = page.locator("#pipeline-velocity tbody tr", has_text="Prospecting")
    expect(prospecting).to_contain_text("18.0")
    expect(page.locator("#stale-deals")).to_contain_text("1")


def expect_the_stale_deals(page):
    expect(page).to_have_url(re.compile(r"/admin/crm_admin/deal/\?stale=yes$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).not_to_contain_text("Fresh one")


def test_the_section_loads_after_the_page_and_its_stale_count_leads_to_the_deals(
    admin_page, history
):
    page = admin_page
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # Held until the page has loaded, so the loading line shows and the chart is drawn after
    # Unfold drew the page's own.
    held = []
    page.route("**/admin/crm_admin/deal/history-figures/", lambda route: held.append(route))

    page.goto(reverse("admin:index"))
    section = page.locator("#dashboard-history")
    expect(section.get_by_role("status")).to_contain_text("Loading the stage history")
    expect(section.get_by_role("link")).to_be_hidden()
    expect(section.locator("#pipeline-velocity")).to_have_count(0)
    held[0].continue_()

    expect_the_figures(page)
    expect(section.get_by_role("status")).to_have_count(0)
    chart = section.locator("#lost-by-reason").locator("xpath=..").locator("canvas.chart")
    expect(chart).to_be_visible()
    assert page.evaluate("(canvas) => Boolean(Chart.getChart(canvas))", chart.element_handle())
    section.get_by_role("link").filter(has_text="Stale deals").click()
    expect_the_stale_deals(page)
    assert problems == []


def test_without_javascript_the_link_opens_the_figures_as_a_page(
    browser, live_server, superuser, history
):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(reverse("admin:login"))
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))

    section = page.locator("#dashboard-history")
    expect(section.get_by_role("status")).to_be_hidden()
    section.get_by_role("link", name="Stale deals, pipeline velocity and lost reasons").click()

    expect(page).to_have_url(re.compile(r"/admin/crm_admin/deal/history-figures/$"))
    expect(page.get_by_role("heading", name="Pipeline history")).to_be_visible()
    expect_the_figures(page)
    page.get_by_role("link").filter(has_text="Stale deals").click()
    expect_the_stale_deals(page)
    context.close()
