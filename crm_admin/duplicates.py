"""Reads behind duplicate detection: which existing records a company or contact matches.

The keys are computed by crm_admin.matching and stored on each row; every read here is an
index lookup on them. A company matches another with the same name key or the same domain
key; a contact matches another with the same phone key, or with the same name key at the
same company. A key that is '' matches nothing.
"""

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Q
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


@dataclass
class Match:
    """An existing record that a candidate matches, and by which rules."""

    record: models.Model
    rules: list[MatchRule] = field(default_factory=list)

    @property
    def reasons(self) -> str:
        return ", ".join(str(rule.label) for rule in self.rules)


def _label_fields(model) -> tuple[str, ...]:
    if model is Contact:
        return ("first_name", "last_name", "email")
    return ("name",)


def _matching_rows(model, rule: MatchRule, keys, *, exclude=()) -> list:
    """Existing rows of `model` having one of `keys` under `rule`; one query per 500 keys."""
    rows = []
    columns = ("pk", rule.key, *([f"{rule.within}_id"] if rule.within else ()))
    for chunk in itertools.batched(sorted(keys, key=repr), _CHUNK):
        found = model.objects.filter(rule.condition(chunk)).exclude(pk__in=list(exclude))
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
