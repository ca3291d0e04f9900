"""Companies: `name, industry, website`, matched by name ignoring case."""

from django.utils.translation import gettext_lazy
from import_export.results import RowResult

from crm_admin.folding import fold
from crm_admin.models import Company
from crm_admin.resources.base import Column, CrmResource, Plan, clean_cell
from crm_admin.resources.duplicates import import_duplicate_flags

COMPANY_COLUMNS = (
    Column("name", "name", required=True),
    Column("industry", "industry"),
    Column("website", "website"),
)


class CompanyResource(CrmResource):
    """companies: name, industry, website. Matched by name, ignoring case."""

    columns = COMPANY_COLUMNS
    rules = gettext_lazy(
        "A row updates the company with the same name (ignoring case), or adds a company."
    )

    class Meta:
        model = Company
        fields = tuple(column.name for column in COMPANY_COLUMNS)

    def clean_website(self, text: str) -> str:
        # Like the admin form: an address typed without a scheme is taken as https.
        if text and "://" not in text:
            text = f"https://{text}"
        return clean_cell(Company, "website", text)

    def prefetch(self):
        self.ids = Company.objects.ids_by_key()

    def prefetch_batch(self, rows):
        pks = [self.ids[key] for raw in rows if (key := fold(raw["name"])) in self.ids]
        self.existing = {c.name_key: c for c in Company.objects.filter(pk__in=pks)}

    def plan_row(self, number, cleaned):
        key = fold(cleaned["name"])
        existing = self.existing.get(key)
        if existing is None:
            plan = Plan(number, RowResult.IMPORT_TYPE_NEW, Company(**cleaned))
        else:
            plan = self._updated(existing, cleaned, number)
        return plan, ("name", key), "name"

    def duplicate_flags(self, plans, preview_rows):
        return import_duplicate_flags(plans, preview_rows=preview_rows)

    def write(self, plans, progress):
        self._write_rows(plans, progress)
