import pytest
from django.urls import reverse

from crm_admin.models import Stage

expect = pytest.importorskip("playwright.sync_api").expect

DEFAULT_ORDER = ["Prospecting", "Negotiation", "Closed-Won", "Closed-Lost"]
# SortableJS marks the rows it is animating; it ignores a row under the pointer until it settles.
ROWS_AT_REST = "() => [...document.querySelectorAll('#result_list tbody')].every(r => !r.animated)"


def drag_row(page, *, name, to):
    """Drag the row of stage `name` by its handle until it is row `to`, with real mouse moves.

    One row at a time, as a person would: over the next row's far half, wait for the rows to
    swap and settle, go on.
    """
    rows = page.locator("#result_list tbody")
    at = [text.strip() for text in rows.locator(".field-name").all_inner_texts()].index(name)
    rows.nth(at).locator(".handle").hover()
    page.mouse.down()
    while at != to:
        step = 1 if to > at else -1
        box = rows.nth(at + step).bounding_box()
        far_half = box["y"] + box["height"] * (0.75 if step > 0 else 0.25)
        page.mouse.move(box["x"] + 60, far_half, steps=5)
        at += step
        expect(rows.nth(at)).to_contain_text(name)
        page.wait_for_function(ROWS_AT_REST)
    page.mouse.up()


@pytest.mark.parametrize(
    ("name", "to", "new_order"),
    [
        ("Closed-Lost", 1, ["Prospecting", "Closed-Lost", "Negotiation", "Closed-Won"]),
        ("Prospecting", 3, ["Negotiation", "Closed-Won", "Closed-Lost", "Prospecting"]),
    ],
    ids=["closed-lost-above-negotiation", "prospecting-to-the-bottom"],
)
def test_dragging_a_stage_persists_the_new_order(admin_page, name, to, new_order):
    admin_page.goto(reverse("admin:crm_admin_stage_changelist"))
    names = admin_page.locator("#result_list tbody .field-name")
    expect(names).to_have_text(DEFAULT_ORDER)

    with admin_page.expect_response("**/adminsortable2_update/") as saved:
        drag_row(admin_page, name=name, to=to)
    assert saved.value.ok

    admin_page.reload()
    expect(names).to_have_text(new_order)
    assert list(Stage.objects.values_list("name", "order")) == [
        (stage, position) for position, stage in enumerate(new_order, start=1)
    ]


def test_the_stage_list_keeps_unfolds_action_bar_and_its_run_button(admin_page):
    admin_page.goto(reverse("admin:crm_admin_stage_changelist"))
    row = admin_page.locator("#result_list tbody").filter(has_text="Negotiation")
    row.locator("input.action-select").check()
    admin_page.locator("select[name='action']").select_option("delete_selected")
    admin_page.get_by_role("button", name="Run").click()

    # The action ran: Django's delete confirmation lists the selected stage.
    expect(admin_page.get_by_role("link", name="No, take me back")).to_be_visible()
    expect(admin_page.get_by_role("link", name="Negotiation")).to_be_visible()
