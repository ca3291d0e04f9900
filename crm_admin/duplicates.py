"""Reads behind duplicate detection: which existing records a company or contact matches.

The keys are computed by crm_admin.matching and stored on each row; every read here is an
index lookup on them. A company matches another with the same name key or the same domain
key; a contact matches another with the same phone key, or with the same name key at the
same company. A key that is '' matches nothing.
"""

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext_lazy as _

from crm_admin.folding import fold_keys
from crm_admin.models import Company, Contact

# A record is shown with at most this many of its matches (forms, import preview).
MATCHES_SHOWN = 10
# Keys looked up per query, well inside every database's parameter limit.
_CHUNK = 500


@dataclass(frozen=True)
class MatchRule:
    """One way two records of a model are likely the same: equal `key` (and equal `within`)."""

    name: str
    label: str
    key: str
    within: str | None = None

    def key_of(self, record) -> tuple | None:
        """The value two matching records share, or None when `record` has nothing to match."""
        value = getattr(record, self.key)
        if not value:
            return None
        if self.within is None:
            return (value,)
        scope = getattr(record, f"{self.within}_id")
        return None if scope is None else (scope, value)

    def condition(self, keys) -> Q:
        """Rows having one of `keys` (as key_of() gives them)."""
        if self.within is None:
            return Q(**{f"{self.key}__in": [key for (key,) in keys]})
        by_scope = defaultdict(list)
        for scope, value in keys:
            by_scope[scope].append(value)
        condition = Q(pk__in=[])
        for scope, values in by_scope.items():
            condition |= Q(**{f"{self.within}_id": scope, f"{self.key}__in": values})
        return condition


RULES = {
    Company: (
        MatchRule("name", _("Same name"), "name_match_key"),
        MatchRule("website", _("Same website"), "domain_key"),
    ),
    Contact: (
        MatchRule("phone", _("Same phone"), "phone_key"),
        MatchRule("name", _("Same name at the same company"), "name_match_key", within="company"),
    ),
}


def match_rules(model) -> tuple[MatchRule, ...]:
    """The match rules of `model` (Company or Contact)."""
    return RULES[model]


def match_fields(model) -> frozenset[str]:
    """The fields of `model` whose values its match keys are computed from or scoped by: an
    edit leaving them all alone cannot make a record match another. No query."""
    names = set()
    for rule in match_rules(model):
        names.update(model._meta.get_field(rule.key).sources)
        if rule.within:
            names.add(rule.within)
    return frozenset(names)


@dataclass
class Match:
    """An existing record that a candidate matches, and by which rules."""

    record: models.Model
    rules: list[MatchRule] = field(default_factory=list)

    @property
    def reasons(self) -> str:
        return ", ".join(str(rule.label) for rule in self.rules)


def _label_fields(model) -> tuple[str, ...]:
    # What a warning shows of a match: a contact with its email and company (joined in the
    # same query), a company with its website.
    if model is Contact:
        return ("first_name", "last_name", "email", "company__name")
    return ("name", "website")


def _label_relations(model) -> tuple[str, ...]:
    return ("company",) if model is Contact else ()


def _matching_rows(model, rule: MatchRule, keys, *, exclude=()) -> list:
    """Existing rows of `model` having one of `keys` under `rule`; one query per 500 keys."""
    rows = []
    columns = ("pk", rule.key, *([f"{rule.within}_id"] if rule.within else ()))
    for chunk in itertools.batched(sorted(keys, key=repr), _CHUNK):
        # From _keyed_rows(), which spells out the partial index's condition: PostgreSQL
        # proves it from `key IN (...)` only for lists of up to 100 values, and otherwise
        # scans the table (29 ms instead of 1 ms per 500 keys at 100k companies).
        found = _keyed_rows(model, rule).filter(rule.condition(chunk))
        found = found.exclude(pk__in=list(exclude))
        if relations := _label_relations(model):
            found = found.select_related(*relations)
        rows.extend(found.order_by("pk").only(*columns, *_label_fields(model)))
    return rows


def duplicates_of(record, *, limit: int = MATCHES_SHOWN) -> list[Match]:
    """The existing records `record` (saved or not, as its fields now stand) is likely a
    duplicate of, itself left out: at most `limit`, oldest first, each with its rules.
    Computes `record`'s keys in memory; one query per rule that has a key (at most two)."""
    model = type(record)
    fold_keys(record)
    matches: dict[int, Match] = {}
    for rule in match_rules(model):
        key = rule.key_of(record)
        if key is None:
            continue
        exclude = [record.pk] if record.pk else []
        for row in _matching_rows(model, rule, [key], exclude=exclude)[: limit + 1]:
            matches.setdefault(row.pk, Match(row)).rules.append(rule)
    return sorted(matches.values(), key=lambda match: match.record.pk)[:limit]


@dataclass
class RowMatches:
    """What one candidate row matches: existing records and earlier rows of the same batch."""

    existing: list[Match] = field(default_factory=list)
    rows: dict[int, list[MatchRule]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.existing or self.rows)


def duplicates_among(
    candidates, *, limit: int = MATCHES_SHOWN, exclude_pks=None
) -> dict[int, RowMatches]:
    """For each of `candidates` (instances of one model, e.g. an import's rows, by position)
    that is likely a duplicate: the existing records it matches (at most `limit`, without the
    record the row itself is, nor any pk in `exclude_pks`) and the earlier candidates it
    matches. Candidates without a match are left out. Computes keys in memory; one query per
    rule and 500 distinct keys, whatever the number of candidates."""
    candidates = list(candidates)
    if not candidates:
        return {}
    model = type(candidates[0])
    for candidate in candidates:
        fold_keys(candidate)
    found: dict[int, RowMatches] = defaultdict(RowMatches)
    existing_by_index: dict[int, dict[int, Match]] = defaultdict(dict)
    for rule in match_rules(model):
        keyed = [(index, rule.key_of(c)) for index, c in enumerate(candidates)]
        keyed = [(index, key) for index, key in keyed if key is not None]
        first_with: dict[tuple, int] = {}
        for index, key in keyed:
            if key in first_with:
                found[index].rows.setdefault(first_with[key], []).append(rule)
            else:
                first_with[key] = index
        existing: dict[tuple, list] = defaultdict(list)
        for row in _matching_rows(model, rule, first_with, exclude=exclude_pks or ()):
            kept = existing[rule.key_of(row)]
            if len(kept) <= limit:
                kept.append(row)
        for index, key in keyed:
            for row in existing.get(key, ()):
                if row.pk == candidates[index].pk:
                    continue  # the record this row updates
                match = existing_by_index[index].setdefault(row.pk, Match(row))
                match.rules.append(rule)
    for index, matches in existing_by_index.items():
        found[index].existing = sorted(matches.values(), key=lambda m: m.record.pk)[:limit]
    return {index: matches for index, matches in sorted(found.items()) if matches}


# --- the duplicates pages ------------------------------------------------------------------

GROUPS_PER_PAGE = 20
# A group is shown with at most this many of its records, oldest first.
MEMBERS_PER_GROUP = 10


@dataclass
class DuplicateGroup:
    """Records of one model sharing a key under `rule`: `size` of them, the first `members`."""

    rule: MatchRule
    key: tuple
    size: int
    members: list = field(default_factory=list)

    @property
    def more(self) -> int:
        """How many of the group's records are not among `members`."""
        return self.size - len(self.members)


def _group_columns(rule: MatchRule) -> tuple[str, ...]:
    return (rule.within, rule.key) if rule.within else (rule.key,)


def _keyed_rows(model, rule: MatchRule) -> models.QuerySet:
    # Exactly the rows the rule's partial index holds (a key, and a scope for a scoped
    # rule), written as the index's condition is, so that the database may read the index.
    rows = model.objects.exclude(**{rule.key: ""})
    if rule.within:
        rows = rows.filter(**{f"{rule.within}__isnull": False})
    return rows


# What a duplicates page shows of a group's records, read with them: a contact's email,
# phone, company and owner; a company's website and number of contacts (and the keys).
_MEMBER_SHAPES = {
    Company: lambda rows: rows.only(
        "name", "website", "name_match_key", "domain_key"
    ).with_contact_count(),
    Contact: lambda rows: rows.select_related("company", "owner").only(
        "first_name",
        "last_name",
        "email",
        "phone",
        "phone_key",
        "name_match_key",
        "company__name",
        "owner__username",
    ),
}


def duplicate_groups(
    model,
    rule: MatchRule,
    *,
    page: int = 1,
    per_page: int = GROUPS_PER_PAGE,
    members: int = MEMBERS_PER_GROUP,
) -> Page:
    """Page `page` of the groups of `model` records that share a key under `rule` (two or
    more records each), largest first, then by key; a page past the last is the last page,
    and `page` must be a positive int (the caller parses the request). The page's
    `object_list` is a list of DuplicateGroup, each with its size and its oldest `members`
    records (a contact with its company and owner, a company with its `contact_count`).

    Three queries whatever the number of records or groups: the number of groups, this
    page's groups (both a GROUP BY over the rule's partial index), and the members of this
    page's groups (one query, ranked per group by a window function; it reads every record
    of those groups, so its cost follows their sizes); one when there is no group at all.
    """
    columns = _group_columns(rule)
    groups = (
        _keyed_rows(model, rule)
        .order_by()
        .values(*columns)
        .annotate(size=Count("*"))
        .filter(size__gt=1)
        .order_by("-size", *columns)
    )
    found = Paginator(groups, per_page).get_page(page)
    found.object_list = [
        DuplicateGroup(rule, tuple(row[column] for column in columns), row["size"])
        for row in found.object_list
    ]
    by_key = {group.key: group for group in found.object_list}
    if by_key:
        rank = Window(
            RowNumber(),
            partition_by=[F(column) for column in columns],
            order_by=F("pk").asc(),
        )
        rows = (
            _keyed_rows(model, rule)
            .filter(rule.condition(list(by_key)))
            .annotate(rank=rank)
            .filter(rank__lte=members)
            .order_by("pk")
        )
        for record in _MEMBER_SHAPES[model](rows):
            by_key[rule.key_of(record)].members.append(record)
    return found
