"""List cells in Unfold's markup without a template render per cell.

Unfold renders a template for every label, header and action checkbox of a list (with their
includes, some 800 renders on a 100-row contact page, most of the time its rows took). Here
each of those templates is rendered once per shape (which branches it takes, and the active
language) with placeholders for the values, its whitespace collapsed, and kept; a cell is that
markup with its escaped values put in. Unfold's long utility class lists, repeated on every
cell, are given as one class each (COMPACT_CLASSES), whose rules in
static/crm_admin/css/lists.css are Unfold's own for those utilities
(tests/test_list_rendering.py checks them against Unfold's compiled CSS).
"""

import html
import re
from collections.abc import Iterable
from functools import cache

from django.contrib.admin import helpers
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.formats import localize
from django.utils.functional import Promise
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from unfold.templatetags.unfold_list import TABLE_ACTION_CELL_CLASSES, TABLE_CELL_CLASSES
from unfold.widgets import CHECKBOX_CLASSES

# Each compact class stands for these Unfold utilities (imported, so they follow the pinned
# Unfold). The action cell keeps `action-checkbox`: it has no rule, scripts may look for it.
COMPACT_CLASSES = {
    "crm-cell": TABLE_CELL_CLASSES,
    "crm-action-cell": [name for name in TABLE_ACTION_CELL_CLASSES if name != "action-checkbox"],
    "crm-checkbox": CHECKBOX_CLASSES,
}
# A cell's tag is <td class="field-<name> <classes>..."> (<th ...> for the link column).
_CELL_TAG = re.compile(
    r'(<t[dh] class="(?:field-[^" ]+ )?)' + re.escape(" ".join(TABLE_CELL_CLASSES))
)
_ACTION_CELL_TAG = f'<td class="{" ".join(TABLE_ACTION_CELL_CLASSES)}"'
_COMPACT_ACTION_CELL_TAG = '<td class="action-checkbox crm-action-cell"'

_SLOT = re.compile(r"crm-slot-(\d)-crm")


class _Shape:
    """A template's output split at its placeholders: literal, slot, literal, ..."""

    def __init__(self, html: str):
        pieces = _SLOT.split(" ".join(html.split()))
        self.literals = pieces[0::2]
        self.slots = [int(index) for index in pieces[1::2]]

    def fill(self, *values) -> SafeString:
        out = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            out.append(_html(values[slot]))
            out.append(literal)
        return SafeString("".join(out))


def _html(value) -> str:
    """`value` as a template prints {{ value }}: escaped unless safe, a number localized.
    What django.utils.html.conditional_escape does, without its lazy-string wrappers, which
    cost more than the escaping itself here (a few thousand calls on a 100-row page)."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    if not isinstance(value, str):
        value = str(localize(value))
    return html.escape(value)


def stylesheet(request) -> str:
    """The URL of the compact classes' rules, for UNFOLD["STYLES"]."""
    return static("crm_admin/css/lists.css")


def _slot(index: int) -> str:
    return f"crm-slot-{index}-crm"


# Each shape is keyed by the active language too: the render runs in it.


@cache
def _label_shape(filled: bool, variant: str | None, language: str | None) -> _Shape:
    context = {"label": _slot(0) if filled else "", "label_type": variant, "multiple": False}
    return _Shape(render_to_string("unfold/helpers/display_label.html", context))


@cache
def _header_shape(title: bool, subtitle: bool, language: str | None) -> _Shape:
    context = {"value": (_slot(0) if title else "", _slot(1) if subtitle else "")}
    return _Shape(render_to_string("unfold/helpers/display_header.html", context))


@cache
def _checkbox_shape(language: str | None) -> _Shape:
    # Imported here: template libraries import this module (crm_lists) while unfold.admin,
    # which renders a widget as it loads, is still importing.
    from unfold.admin import checkbox as unfold_checkbox

    html = unfold_checkbox.render(helpers.ACTION_CHECKBOX_NAME, _slot(0))
    return _Shape(html.replace(escape(" ".join(CHECKBOX_CLASSES)), "crm-checkbox", 1))


def _text(value):
    # A lazy translation is looked up once, not for the emptiness test and again to print it.
    return str(value) if isinstance(value, Promise) else value


def label(text, variant: str | None = None) -> SafeString:
    """One of Unfold's labels (a `@display(label=...)` cell): `text` in the colours of
    `variant` ("info", "success", "warning", "danger", "primary", None for grey); "-" when
    `text` is empty."""
    text = _text(text)
    return _label_shape(bool(text), variant, get_language()).fill(text)


def labels(texts: Iterable, variant: str | None = None) -> SafeString:
    """Unfold's labels for several values (`@display(label=True)` returning a list), side by
    side; "-" for none."""
    texts = list(texts)
    if not texts:
        return label("", variant)
    shape = _label_shape(True, variant, get_language())
    return SafeString(" ".join(shape.fill(text) for text in texts))


def header(title, subtitle=None) -> SafeString:
    """Unfold's two-line header cell (`@display(header=True)` returning (title, subtitle)),
    each line left out when empty."""
    title, subtitle = _text(title), _text(subtitle)
    shape = _header_shape(bool(title), bool(subtitle), get_language())
    return shape.fill(title, subtitle)


def action_checkbox(value) -> SafeString:
    """Unfold's row checkbox for the list's actions, selecting the row whose key is `value`."""
    return _checkbox_shape(get_language()).fill(str(value))


def compact_row(cells: Iterable[SafeString]) -> SafeString:
    """One row's cells as Unfold's items_for_result renders them (`<td class="...">...</td>`),
    joined, each cell's utility class list given as its compact class. Only the cells' own
    tags match: a value inside a cell is escaped, so it never holds `<td class="`."""
    row = "".join(cells)
    row = _CELL_TAG.sub(r"\1crm-cell", row)
    return SafeString(row.replace(_ACTION_CELL_TAG, _COMPACT_ACTION_CELL_TAG, 1))
