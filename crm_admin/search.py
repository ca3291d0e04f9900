"""What a search looks in, for each list, and how it runs: one definition shared by the admin
(lists, autocomplete widgets, the board) and the API's `search` parameter.

A word matches when it appears, ignoring case, in any of the fields; every word must match.
Each word adds a condition to the query, so the number of words is capped: about 1,100 words
exceed SQLite's expression depth ("Expression tree is too large"). Words shorter than
MIN_WORD_LENGTH are left out: a substring of one or two letters matches a large part of any
table and no index can find it, so each keystroke would read every row. A contact search
also finds, by a whole email, the contact a contact with that email was merged into.

On PostgreSQL the fields carry trigram indexes on the expression Django's `icontains` emits
(`UPPER(col::text) LIKE UPPER('%word%')`, migration 0009), and a search runs in two steps,
because the fastest way to read a page of matches depends on how many there are, which the
planner's estimate of a `LIKE '%word%'` cannot tell (it is often off tenfold):

1. One query collects the ids of the matches, at most CRM_EXACT_COUNT_LIMIT + 1 of them, from
   the trigram indexes (a BitmapOr across the columns; a related table's matches are found
   once and looked up by the foreign key's index, `fk = ANY(ARRAY(subquery))`).
2. Up to the limit, the list reads exactly those ids: its cost follows the matches, however
   they fall in the list's order. Past the limit the word is common (at least 1% of a
   million rows) and the list keeps that condition, which lets the planner walk the order's
   index, keeping the rows that match, and stop at the end of the page: "renewal" in 66,000
   of a million deal titles took 1.8 s of SQL as one UNION query, 100 ms this way.

Elsewhere (SQLite) one query does it, with the record's id in a UNION of one query per table
(the contact's own columns, the contacts of the companies whose name matches, ...).
"""

from functools import reduce
from operator import or_

from django.db import connections
from django.db.models import BooleanField, F, Func, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils.text import smart_split

from crm_admin.conf import crm_settings
from crm_admin.folding import fold

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
    `company__name` follow foreign keys): `pk IN (a UNION of one query per table)`, the
    one-query form used where the database has no trigram indexes."""
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


class AnyOfSubquery(Func):
    """`column = ANY(ARRAY(subquery))`: PostgreSQL runs the subquery once and can look its ids
    up in the column's index, also as one branch of an OR (which `IN (subquery)` cannot)."""

    arg_joiner = " = ANY(ARRAY"
    template = "%(expressions)s)"
    output_field = BooleanField()

    def __init__(self, column: str, queryset: QuerySet):
        super().__init__(F(column), Subquery(queryset.values("pk")))


def _word_matches(model, fields, word: str) -> Q:
    """PostgreSQL's condition for `word` in `fields`: its own columns' trigram matches OR the
    foreign key among a related table's matches, found once and looked up in the key's index
    (so that the whole condition is one BitmapOr of index scans)."""
    local = [name for name in fields if "__" not in name]
    related: dict[str, list[str]] = {}
    for name in fields:
        if "__" in name:
            relation, rest = name.split("__", 1)
            related.setdefault(relation, []).append(rest)
    branches = [Q(**{f"{name}__icontains": word}) for name in local]
    for relation, rest in related.items():
        target = model._meta.get_field(relation).related_model
        inner = target._default_manager.filter(_word_matches(target, rest, word))
        branches.append(Q(AnyOfSubquery(relation, inner)))
    return reduce(or_, branches)


def merged_email_matches(model, fields, word: str) -> QuerySet | None:
    """The contacts into which a contact with the email `word` (whole, ignoring case) was
    merged, for a contact search that looks at emails: a merged contact's email stays
    findable (crm_admin.merging). None for any other search or a word that is no email. An
    index lookup (crm_merged_email_idx), one more branch of the word's condition."""
    from crm_admin.models import Contact  # the models' package builds on this app's modules

    if model is not Contact or "email" not in fields or "@" not in word:
        return None
    return Contact.objects.filter(merged_records__email_key=fold(word))


def _search_condition(model, fields, word: str, *, postgresql: bool) -> Q:
    """One word's condition: in one of `fields`, or the email of a contact merged into it."""
    merged = merged_email_matches(model, fields, word)
    if postgresql:
        condition = _word_matches(model, fields, word)
        return condition if merged is None else condition | Q(AnyOfSubquery("pk", merged))
    condition = word_condition(model, fields, word)
    return condition if merged is None else condition | Q(pk__in=merged.values("pk"))


def search_queryset(queryset: QuerySet, fields, text: str) -> QuerySet:
    """`queryset` narrowed to the rows matching every usable word of `text` in `fields`.

    On PostgreSQL this runs one query, collecting the matches (see the module docstring); the
    QuerySet returned is lazy as usual. Elsewhere it runs none."""
    words = [word.strip('"') for word in usable_words(text)]
    if not words:
        return queryset
    model = queryset.model
    postgresql = connections[queryset.db].vendor == "postgresql"
    conditions = [_search_condition(model, fields, word, postgresql=postgresql) for word in words]
    if not postgresql:
        return queryset.filter(*conditions)
    limit = crm_settings.CRM_EXACT_COUNT_LIMIT
    matches = queryset.filter(*conditions)
    ids = list(matches.order_by().values_list("pk", flat=True)[: limit + 1])
    if len(ids) > limit:
        return matches
    # Read as a set function, which the planner takes for a hundred rows: it looks them up by
    # primary key and sorts them. Given the list itself it would know how few they are and
    # walk the order's index instead, a gamble lost when the matches cluster in that order (a
    # surname search in the list sorted by surname read 36,000 rows for a page).
    pk_type = model._meta.pk.db_type(connections[queryset.db])
    if all(isinstance(pk, int) for pk in ids):
        # Whole numbers go as one array literal: psycopg's list adapter checks each element
        # (20 ms for 6,000 ids, per query).
        ids = "{" + ",".join(map(str, ids)) + "}"
    return queryset.filter(pk__in=RawSQL(f"SELECT unnest(%s::{pk_type}[])", [ids]))


def capped_search(text: str) -> tuple[str, int]:
    """`text` cut to its first MAX_SEARCH_WORDS words, and how many words were dropped."""
    words = search_words(text)
    if len(words) <= MAX_SEARCH_WORDS:
        return text, 0
    return " ".join(words[:MAX_SEARCH_WORDS]), len(words) - MAX_SEARCH_WORDS
