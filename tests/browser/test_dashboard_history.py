"""The dashboard's stage history figures in a browser: the lost-by-reason chart is drawn, the
velocity table reads, and the stale count leads to the stale deals."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.models import Deal, Stage
from tests.factories import lost_reason, make_deal, stage
from tests.test_pipeline_history import journey

expect = pytest.importorskip("playwright.sync_api").expect


def test_the_history_figures_draw_and_the_stale_count_leads_to_the_stale_deals(admin_page):
    now = timezone.now()
    errors = []
    admin_page.on("pageerror", lambda error: errors.append(str(error)))
    Stage.objects.filter(name="Negotiation").update(stale_after_days=10)
    journey(("Prospecting", now - timedelta(days=30)), ("Negotiation", now - timedelta(days=12)))
    make_deal(title="Fresh one", stage=stage("Negotiation"))
    lost = make_deal(title="Too dear", stage=stage("Negotiation"))
    services.deals_mark_lost(deals=Deal.objects.filter(pk=lost.pk), lost_reason=lost_reason())

    admin_page.goto(reverse("admin:index"))
    chart = admin_page.locator("#lost-by-reason").locator("xpath=..").locator("canvas.chart")
    expect(chart).to_be_visible()
    assert admin_page.evaluate(
        "(canvas) => Boolean(Chart.getChart(canvas))", chart.element_handle()
    )
    expect(admin_page.locator("#lost-by-reason tbody tr")).to_contain_text("Price")
    prospecting = admin_page.locator("#pipeline-velocity tbody tr", has_text="Prospecting")
    expect(prospecting).to_contain_text("18.0")

    admin_page.get_by_role("link").filter(has_text="Stale deals").click()
    expect(admin_page).to_have_url(re.compile(r"/admin/crm_admin/deal/\?stale=yes$"))
    rows = admin_page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).not_to_contain_text("Fresh one")
    assert errors == []
