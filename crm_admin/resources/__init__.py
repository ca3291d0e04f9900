"""Import and export files: one resource per importable model, shared by the admin's import and
export pages (crm_admin/admin/import_export.py) and the crm_import / crm_export commands.

The columns and rules are the contract documented in README.md ("Import and export"). An import
is all or nothing, and set-based rather than django-import-export's row-by-row loop, which
costs a lookup query per row, per foreign key and per many-to-many field:

1. the header row is matched to the columns (ignoring case, spaces and underscores; the human
   labels such as "First name" are accepted too);
2. existing records, companies, stages, users and tags are read into dictionaries keyed by
   their name or email folded as crm_admin/folding.py does for the unique constraints, once
   per import (existing rows to update: once per batch);
3. every row is cleaned in Python with the model fields' own validators, and checked for keys
   that appear twice in the file; no query per row;
4. if any row has an error, nothing is written and every error names its row and column (the
   result keeps the first 100 errors and counts them all);
5. otherwise the rows are written with bulk_create / bulk_update in batches, and the tag links
   with one bulk insert of through rows per batch (which django-import-export's `use_bulk`
   mode would skip).

Rows are numbered as a spreadsheet shows them: the header is row 1, the first record row 2.
"""

from crm_admin.resources.company import CompanyResource
from crm_admin.resources.contact import ContactResource
from crm_admin.resources.deal import DealResource
from crm_admin.resources.files import (
    CSV,
    FORMATS,
    PREVIEW_ROWS,
    ImportFileError,
    neutralise,
    read_csv,
    unneutralise,
)
from crm_admin.resources.results import ERROR_LINES

RESOURCES = {"companies": CompanyResource, "contacts": ContactResource, "deals": DealResource}

__all__ = [
    "CSV",
    "ERROR_LINES",
    "FORMATS",
    "PREVIEW_ROWS",
    "RESOURCES",
    "CompanyResource",
    "ContactResource",
    "DealResource",
    "ImportFileError",
    "neutralise",
    "read_csv",
    "unneutralise",
]
