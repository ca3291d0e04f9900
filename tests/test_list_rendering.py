"""The CRM's lists draw Unfold's cells without a template render each (crm_admin/cells.py):
the same markup as Unfold's own helpers, values escaped, Unfold's long class lists given as
compact classes whose rules are Unfold's own, and a 100-row page well under 300 KB."""

import re
from pathlib import Path

import pytest
import unfold
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils.html import escape
from unfold.admin import checkbox as unfold_checkbox
from unfold.templatetags.unfold_list import TABLE_ACTION_CELL_CLASSES, TABLE_CELL_CLASSES
from unfold.utils import display_for_header, display_for_label
from unfold.widgets import CHECKBOX_CLASSES

from crm_admin.admin.contacts import STATUS_COLOURS
from crm_admin.admin.deals import OUTCOME_COLOURS
from crm_admin.cells import COMPACT_CLASSES
from crm_admin.models import Contact
from tests.factories import make_company, make_contact, make_deal, make_tag

pytestmark = pytest.mark.django_db

UNFOLD_CSS = Path(unfold.__file__).parent / "static" / "unfold" / "css" / "styles.css"
LISTS_CSS = Path(settings.BASE_DIR) / "crm_admin" / "static" / "crm_admin" / "css" / "lists.css"


def squash(html: str) -> str:
    return " ".join(html.split())


def contact_list(client, **params) -> str:
    response = client.get(reverse("admin:crm_admin_contact_changelist"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_contact_cells_are_unfolds_header_labels_and_checkbox(staff_client):
    vip, partner = make_tag(name="VIP"), make_tag(name="Partner")
    contact = make_contact(
        first_name="Donna",
        last_name="Adams",
        title="Data Analyst",
        status=Contact.Status.CONTACTED,
        company=make_company(name="Petrov & Liu"),
        tags=[vip, partner],
    )
    untagged = make_contact(first_name="Ed", last_name="Brown", title="")
    page = squash(contact_list(staff_client))

    assert squash(display_for_header(["Donna Adams", "Data Analyst"], "-")) in page
    assert squash(display_for_header(["Ed Brown", ""], "-")) in page
    status = ("contacted", "Contacted")
    assert squash(display_for_label(status, "-", STATUS_COLOURS)) in page
    assert squash(display_for_label(["Partner", "VIP"], "-", True)) in page
    no_tags = squash(display_for_label([], "-", True))
    assert f'<td class="field-display_tags crm-cell">{no_tags}<' in page
    checkbox = unfold_checkbox.render("_selected_action", str(contact.pk))
    checkbox = checkbox.replace(escape(" ".join(CHECKBOX_CLASSES)), "crm-checkbox")
    assert 'name="_selected_action"' in checkbox and "crm-checkbox action-select" in checkbox
    assert squash(checkbox) in page
    assert f'value="{untagged.pk}"' in page
    assert '<td class="field-phone crm-cell">-</td>' in page  # the site's empty value
    assert f'href="{reverse("admin:crm_admin_contact_change", args=[contact.pk])}"' in page
    assert "Petrov &amp; Liu" in page


def test_deal_and_stage_lists_show_unfolds_stage_labels(staff_client):
    deal = make_deal(title="Renewal")
    expected = squash(display_for_label(("open", "Prospecting"), "-", OUTCOME_COLOURS))
    page = squash(staff_client.get(reverse("admin:crm_admin_deal_changelist")).content.decode())
    assert deal.title in page and expected in page

    page = squash(staff_client.get(reverse("admin:crm_admin_stage_changelist")).content.decode())
    assert squash(display_for_label(("won", "Won"), "-", OUTCOME_COLOURS)) in page


def test_hostile_values_are_escaped_in_every_cell(staff_client):
    hostile = make_contact(
        first_name="<script>alert(1)</script>",
        last_name="{} %s {0} %(x)s",
        title="<b>&\"'</b>",
        company=make_company(name="<img src=x onerror=alert(2)>"),
        tags=[make_tag(name="<i>{}</i>")],
    )
    page = contact_list(staff_client)

    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<i>{}" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {} %s {0} %(x)s" in page
    assert "&lt;b&gt;&amp;&quot;&#x27;&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;i&gt;{}&lt;/i&gt;" in page
    flat = squash(page)
    assert squash(display_for_header([hostile.full_name, hostile.title], "-")) in flat
    assert squash(display_for_label(["<i>{}</i>"], "-", True)) in flat


def test_cells_carry_compact_classes_instead_of_unfolds_lists(staff_client):
    make_contact(tags=[make_tag()], company=make_company())
    page = contact_list(staff_client)

    assert 'class="field-email crm-cell"' in page
    assert 'class="field-last_contacted_at crm-cell nowrap"' in page
    assert 'class="action-checkbox crm-action-cell"' in page
    assert 'class="crm-checkbox action-select"' in page
    assert " ".join(TABLE_CELL_CLASSES) not in page
    assert " ".join(TABLE_ACTION_CELL_CLASSES) not in page
    # Only the header's select-all box, drawn once by Unfold, keeps the long list.
    assert page.count(escape(" ".join(CHECKBOX_CLASSES))) == 1
    assert re.search(r'<link href="[^"]*crm_admin/css/lists\.[^"]*css" rel="stylesheet">', page)


def test_hundred_row_contact_list_stays_under_300_kb(staff_client):
    tags = [make_tag(name=name) for name in ("Newsletter", "VIP", "Referral")]
    for i in range(100):
        make_contact(
            first_name=f"Firstname{i}",
            last_name=f"Lastname{i}",
            email=f"firstname.lastname{i}@company-{i}.example.com",
            phone="+1 303 555 0163",
            title="Head of Operations",
            company=make_company(name=f"Washington Travel Corp {i}"),
            status=Contact.Status.IN_DISCUSSION,
            tags=tags[: i % 3 + 1],
        )
    response = staff_client.get(reverse("admin:crm_admin_contact_changelist"))
    assert response.content.count(b'name="_selected_action"') == 100
    assert len(response.content) < 300 * 1024, f"{len(response.content) / 1024:.0f} KB"


def test_other_admins_of_crm_models_keep_their_own_rows(staff_client):
    # bench/stock_admin.py's plain ModelAdmin, with Django's own templates as bench/scale.py
    # renders it, does not ask for compact rows: its rows are Django's.
    from bench.stock_admin import STOCK_TEMPLATES

    contact = make_contact()
    stock = {**settings.TEMPLATES[0], "DIRS": [STOCK_TEMPLATES]}
    with override_settings(ROOT_URLCONF="bench.stock_admin", TEMPLATES=[stock]):
        response = staff_client.get(reverse("stock:crm_admin_contact_changelist"))
    page = response.content.decode()
    assert response.status_code == 200 and contact.email in page
    assert '<table id="result_list">' in page
    assert "crm-cell" not in page and "crm-checkbox" not in page and "unfold" not in page


# The compact classes' stylesheet against Unfold's compiled CSS.


def _blocks(css: str) -> list[tuple[str, str]]:
    """(prelude, body) of each top-level block of `css`; statements (`@layer a, b;`) skipped."""
    blocks, start, i = [], 0, 0
    while i < len(css):
        if css[i] == ";":
            start = i + 1
        elif css[i] == "{":
            depth, j = 1, i + 1
            while depth:
                depth += {"{": 1, "}": -1}.get(css[j], 0)
                j += 1
            blocks.append((css[start:i].strip(), css[i + 1 : j - 1]))
            start = i = j
            continue
        i += 1
    return blocks


def _selectors(prelude: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in prelude:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()]


def style_rules(css: str, chain: tuple = ()) -> list[tuple[tuple, str, str]]:
    """(enclosing at-rules, selector, declarations) of every style rule in `css`."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    for prelude, body in _blocks(css):
        if prelude.startswith("@"):
            rules += style_rules(body, (*chain, " ".join(prelude.split())))
        else:
            rules += [(chain, selector, body.strip()) for selector in _selectors(prelude)]
    return rules


def class_selector(name: str) -> re.Pattern:
    """A selector on the class `name` as Tailwind escapes it, not on a longer class name."""
    escaped = re.sub(r"([^a-zA-Z0-9_-])", r"\\\1", name)
    return re.compile(re.escape(f".{escaped}") + r"(?![a-zA-Z0-9_\\-])")


def test_compact_classes_carry_unfolds_own_rules_in_its_order():
    utility_rules = [
        rule for rule in style_rules(UNFOLD_CSS.read_text()) if rule[0][:1] == ("@layer utilities",)
    ]
    ours = style_rules(LISTS_CSS.read_text())
    for compact, utilities in COMPACT_CLASSES.items():
        expected, matched = [], set()
        for chain, selector, body in utility_rules:
            for utility in utilities:
                if match := class_selector(utility).match(selector):
                    matched.add(utility)
                    expected.append((chain, f".{compact}{selector[match.end() :]}", body))
        assert matched == set(utilities), f"no rule in Unfold's CSS for {set(utilities) - matched}"
        assert [rule for rule in ours if class_selector(compact).match(rule[1])] == expected
    assert all(any(class_selector(c).match(rule[1]) for c in COMPACT_CLASSES) for rule in ours)


def test_stylesheet_keeps_unfolds_layer_order():
    # Loaded before Unfold's stylesheet, its first statement decides the layers' order.
    unfold_layers = list(dict.fromkeys(re.findall(r"@layer ([\w-]+)\s*\{", UNFOLD_CSS.read_text())))
    statement = re.search(r"@layer ([\w\s,-]+);", LISTS_CSS.read_text())
    assert [name.strip() for name in statement.group(1).split(",")] == unfold_layers
    assert LISTS_CSS.read_text().index(statement.group(0)) < LISTS_CSS.read_text().index("{")
