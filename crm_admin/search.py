"""What a search looks in, for each list, and how it runs: one definition shared by the admin
(lists, autocomplete widgets, the board) and the API's `search` parameter.

A word matches when it appears, ignoring case, in any of the fields; every word must match.
Each word adds a condition to the query, so the number of words is capped: about 1,100 words
exceed SQLite's expression depth ("Expression tree is too large"). Words shorter than
MIN_WORD_LENGTH are left out: a substring of one or two letters matches a large part of any
table and no index can find it, so each keystroke would read every row.

On PostgreSQL the fields carry trigram indexes on the expression Django's `icontains` emits
(`UPPER(col::text) LIKE UPPER('%word%')`, migration 0009). A search over several tables is an
OR across a join, which no index serves; `word_condition` writes it instead as the record's
id in a UNION of one index-served query per table (the contact's own columns, the contacts
of the companies whose name matches, ...), so a search costs what its matches cost.
"""

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.utils.text import smart_split

MAX_SEARCH_WORDS = 10
MIN_WORD_LENGTH = 3

CONTACT_SEARCH_FIELDS = ("first_name", "last_name", "email", "company__name")
DEAL_SEARCH_FIELDS = (
    "title",
    "contact__first_name",
    "contact__last_name",
    "contact__email",
    "contact__company__name",
)
COMPANY_SEARCH_FIELDS = ("name", "industry", "website")


def search_words(text: str) -> list[str]:
    """The words of a search as the admin splits them (a "quoted phrase" is one word)."""
    return list(smart_split(text or ""))


def short_words(text: str) -> list[str]:
    """The words of a search too short to look for (see the module docstring)."""
    return [word for word in search_words(text) if len(word.strip('"')) < MIN_WORD_LENGTH]


def usable_words(text: str) -> list[str]:
    """The words a search looks for: its first MAX_SEARCH_WORDS words, without short ones."""
    words = search_words(text)[:MAX_SEARCH_WORDS]
    return [word for word in words if len(word.strip('"')) >= MIN_WORD_LENGTH]


def word_condition(model, fields, word: str) -> Q:
    """Rows of `model` in which `word` appears in any of `fields` (paths such as
    `company__name` follow foreign keys): `pk IN (a UNION of one query per table)`."""
    local = [name for name in fields if "__" not in name]
    related: dict[str, list[str]] = {}
    for name in fields:
        if "__" in name:
            relation, rest = name.split("__", 1)
            related.setdefault(relation, []).append(rest)
    branches = []
    if local:
        matches = reduce(or_, (Q(**{f"{name}__icontains": word}) for name in local))
        branches.append(model._default_manager.filter(matches))
    for relation, rest in related.items():
        target = model._meta.get_field(relation).related_model
        inner = target._default_manager.filter(word_condition(target, rest, word))
        branches.append(model._default_manager.filter(**{f"{relation}__in": inner.values("pk")}))
    ids = [branch.order_by().values("pk") for branch in branches]
    return Q(pk__in=ids[0].union(*ids[1:], all=True) if len(ids) > 1 else ids[0])


def search_queryset(queryset: QuerySet, fields, text: str) -> QuerySet:
    """`queryset` narrowed to the rows matching every usable word of `text` in `fields`."""
    for word in usable_words(text):
        queryset = queryset.filter(word_condition(queryset.model, fields, word.strip('"')))
    return queryset


def capped_search(text: str) -> tuple[str, int]:
    """`text` cut to its first MAX_SEARCH_WORDS words, and how many words were dropped."""
    words = search_words(text)
    if len(words) <= MAX_SEARCH_WORDS:
        return text, 0
    return " ".join(words[:MAX_SEARCH_WORDS]), len(words) - MAX_SEARCH_WORDS
