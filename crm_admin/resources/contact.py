"""Contacts, matched by email ignoring case; a new company is created on the way."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.results import RowResult

from crm_admin.folding import fold
from crm_admin.models import Company, Contact, Tag, latest_contact
from crm_admin.resources.base import (
    Column,
    CrmResource,
    OwnerColumn,
    Plan,
    check_next_step,
    clean_cell,
    parse_timestamp,
)
from crm_admin.resources.duplicates import import_duplicate_flags
from crm_admin.resources.files import UNSET

CONTACT_COLUMNS = (
    Column("first_name", "first_name", required=True),
    Column("last_name", "last_name"),
    Column("email", "email", required=True),
    Column("phone", "phone"),
    Column("title", "title"),
    Column("status", "status"),
    Column("company", "company__name"),
    Column("tags", None),
    Column("last_contacted_at", "last_contacted_at"),
    Column("owner", "owner__username"),
    Column("next_step", "next_step"),
    Column("next_step_due", "next_step_due"),
)


class ContactResource(OwnerColumn, CrmResource):
    """contacts: matched by email, ignoring case; the company is created when new, the owner
    must exist."""

    columns = CONTACT_COLUMNS
    rules = gettext_lazy(
        "A row updates the contact with the same email (ignoring case), or adds a contact. "
        "Companies and tags it names are created when new; status takes its code or its label. "
        "The owner must exist (a username or email). A next step's date needs a step."
    )
    has_tags = True

    class Meta:
        model = Contact
        fields = tuple(column.name for column in CONTACT_COLUMNS)

    def clean_status(self, text):
        """The status's code or label, in any case; empty keeps it (a new contact: New)."""
        if not text:
            return UNSET
        if (value := self.statuses.get(text.lower())) is not None:
            return value
        labels = ", ".join(str(label) for label in Contact.Status.labels)
        raise ValidationError(
            _("“%(value)s” is not a status; use one of: %(labels)s.")
            % {"value": text, "labels": labels}
        )

    def clean_company(self, text):
        return clean_cell(Company, "name", text) if text else None

    def clean_last_contacted_at(self, text):
        return parse_timestamp(text) if text else None

    def prefetch(self):
        self.statuses = {
            key: value
            for value, label in Contact.Status.choices
            for key in (value, str(label).lower())
        }
        self.ids = Contact.objects.ids_by_key()
        self.companies = Company.objects.ids_by_key()
        self.new_companies: dict[str, str] = {}
        self.new_company_rows: dict[str, int] = {}  # the first row naming each
        self._load_users()
        self._load_tags()

    def prefetch_batch(self, rows):
        pks = [self.ids[key] for raw in rows if (key := fold(raw["email"])) in self.ids]
        self.existing = {c.email_key: c for c in Contact.objects.filter(pk__in=pks)}
        self.current_tags = self._current_tags(pks) if pks else {}

    def plan_row(self, number, cleaned):
        key = fold(cleaned["email"])
        values = {
            name: value
            for name, value in cleaned.items()
            if name not in ("company", "tags", "owner") and value is not UNSET
        }
        if "owner" in cleaned:
            values["owner_id"] = cleaned["owner"]
        related = {}
        if "company" in cleaned:
            company = cleaned["company"]
            company_key = fold(company) if company else None
            if company_key and company_key not in self.companies:
                self.new_companies.setdefault(company_key, company)
                self.new_company_rows.setdefault(company_key, number)
                related["company_id"] = company_key
            else:
                values["company_id"] = self.companies.get(company_key)
        existing = self.existing.get(key)
        if existing is None:
            plan = Plan(number, RowResult.IMPORT_TYPE_NEW, Contact(**values))
        else:
            contacted_at = values.pop("last_contacted_at", None)
            plan = self._updated(existing, values, number)
            if related:
                plan.import_type = RowResult.IMPORT_TYPE_UPDATE
                plan.changed.append("company_id")
            # The rule a note obeys: an older file (or an empty cell) does not undo a contact
            # recorded since it was exported.
            latest = latest_contact(existing.last_contacted_at, contacted_at)
            if latest != existing.last_contacted_at:
                existing.last_contacted_at = latest
                plan.import_type = RowResult.IMPORT_TYPE_UPDATE
                plan.changed.append("last_contacted_at")
        plan.related = related
        check_next_step(plan.instance, cleaned)
        self._tags_plan(plan, cleaned, self.current_tags.get(getattr(existing, "pk", None), set()))
        return plan, ("email", key), "email"

    def related_created(self):
        return {Company: len(self.new_companies), Tag: len(self.new_tags)}

    def duplicate_flags(self, plans, preview_rows):
        # The companies the file creates are flagged too, on the first row naming each.
        new = {key: (name, self.new_company_rows[key]) for key, name in self.new_companies.items()}
        return import_duplicate_flags(plans, new_companies=new, preview_rows=preview_rows)

    def write(self, plans, progress):
        self._create_missing(Company, self.new_companies, self.companies)
        self._create_missing(Tag, self.new_tags, self.tags)
        for plan in plans:
            for name, key in plan.related.items():
                setattr(plan.instance, name, self.companies[key])
        self._write_rows(plans, progress)
