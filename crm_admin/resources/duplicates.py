"""The import's duplicate flags: which rows would make a likely duplicate, and of what.

A row that adds or changes a company or a contact is flagged when, as the row leaves it, it
matches an existing record other than the one it updates, or an earlier row of the same file,
by the rules of crm_admin.duplicates (companies: name, website; contacts: phone, name at the
same company). A contacts file naming a company the import creates flags the first row naming
it when that new company matches an existing company or another new one. Flags never change
what the import writes: the rows are written as planned, flagged or not.
"""

from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm_admin.duplicates import duplicates_among
from crm_admin.models import Company

FLAGS_SHOWN = 200  # flagged rows the result keeps for display; the counts cover every one
MATCHES_PER_FLAG = 3  # existing records named per flagged row


@dataclass
class FlagMatch:
    """What a flagged row looks like: an existing `record`, or the earlier row `row`."""

    reasons: str
    record: models.Model | None = None
    row: int | None = None
    href: str = ""  # the record's admin page, set by the admin for the records the user may see

    @property
    def label(self) -> str:
        return str(self.record) if self.record is not None else ""


@dataclass
class DuplicateFlag:
    """Row `number` makes `subject` (the row's record, or the new company it names), which
    looks like each of `matches`."""

    number: int
    subject: str
    new_company: bool
    matches: list[FlagMatch] = field(default_factory=list)


@dataclass
class DuplicateReport:
    """The flags of one import: the first FLAGS_SHOWN flagged rows' flags, and counts of every
    flagged row: matching an existing record, matching another row of the file, either."""

    flags: list[DuplicateFlag] = field(default_factory=list)
    of_existing: int = 0
    of_rows: int = 0
    flagged: int = 0
    shown_rows: int = 0

    def __bool__(self) -> bool:
        return self.flagged > 0

    @property
    def hidden(self) -> int:
        """Flagged rows counted but not listed."""
        return self.flagged - self.shown_rows

    @property
    def summary(self) -> str:
        """ "3 rows look like duplicates of existing records; 1 row looks like a duplicate of
        another row of this file." """
        parts = []
        if self.of_existing:
            parts.append(
                ngettext(
                    "%(count)s row looks like a duplicate of an existing record",
                    "%(count)s rows look like duplicates of existing records",
                    self.of_existing,
                )
                % {"count": f"{self.of_existing:,}"}
            )
        if self.of_rows:
            parts.append(
                ngettext(
                    "%(count)s row looks like a duplicate of another row of this file",
                    "%(count)s rows look like duplicates of other rows of this file",
                    self.of_rows,
                )
                % {"count": f"{self.of_rows:,}"}
            )
        return f"{'; '.join(parts)}." if parts else ""


def _reasons(rules) -> str:
    return ", ".join(str(rule.label) for rule in rules)


def import_duplicate_flags(
    plans, *, new_companies=None, preview_rows=(), shown: int = FLAGS_SHOWN
) -> DuplicateReport:
    """The duplicate flags of an import's `plans` (its rows that add or change a record, all
    of one model) and, for a contacts file, of `new_companies` ({folded name: (name, number
    of the first row naming it)}, the companies it creates). Keeps the flags of the first
    `shown` flagged rows and counts the others; each of `preview_rows` (the PreviewRows the
    preview shows) that is flagged gets the reason as its `duplicate`. Reads only: one query
    per match rule per 500 distinct keys of the file (duplicates_among), whatever the number
    of rows; memory for the flagged rows' matches."""
    # Per group of candidates: (instance, row number) of each.
    groups = [
        (False, [(plan.instance, plan.number) for plan in plans]),
        (True, [(Company(name=name), n) for name, n in (new_companies or {}).values()]),
    ]
    report = DuplicateReport()
    by_number: dict[int, list[DuplicateFlag]] = {}
    of_existing, of_rows = set(), set()
    for new_company, candidates in groups:
        if not candidates:
            continue
        found = duplicates_among([c[0] for c in candidates], limit=MATCHES_PER_FLAG)
        for index, matches in found.items():
            instance, number = candidates[index]
            listed = [FlagMatch(match.reasons, record=match.record) for match in matches.existing]
            listed += [
                FlagMatch(_reasons(rules), row=candidates[earlier][1])
                for earlier, rules in sorted(matches.rows.items())[:MATCHES_PER_FLAG]
            ]
            flag = DuplicateFlag(number, str(instance), new_company, listed)
            by_number.setdefault(number, []).append(flag)
            if matches.existing:
                of_existing.add(number)
            if matches.rows:
                of_rows.add(number)
    report.of_existing, report.of_rows = len(of_existing), len(of_rows)
    report.flagged = len(by_number)
    for number in sorted(by_number)[:shown]:
        report.flags.extend(by_number[number])
        report.shown_rows += 1
    for row in preview_rows:
        if row.number in by_number:
            row.duplicate = "; ".join(_flag_line(flag) for flag in by_number[row.number])
    return report


def _flag_line(flag: DuplicateFlag) -> str:
    """One flag as text, for the preview's tooltip and the command's output."""
    parts = []
    for match in flag.matches:
        if match.record is not None:
            what = _("%(label)s (id %(id)s)") % {"label": match.label, "id": match.record.pk}
        else:
            what = _("row %d") % match.row
        parts.append(f"{what}: {match.reasons}")
    subject = _("new company “%s”") % flag.subject if flag.new_company else flag.subject
    return _("%(subject)s looks like %(matches)s") % {
        "subject": subject,
        "matches": "; ".join(parts),
    }


def flag_lines(report: DuplicateReport) -> list[str]:
    """The kept flags as lines of text, "row 5: Acme, Inc. looks like Acme (id 3): Same name"."""
    return [
        _("row %(row)d: %(flag)s") % {"row": f.number, "flag": _flag_line(f)} for f in report.flags
    ]
