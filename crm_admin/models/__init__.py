"""The CRM's models, one module per concern; everything is importable from here.

records.py: tags, companies, contacts. next_steps.py: a record's next step. pipeline.py:
stages, deals and the stage-outcome rule. notes.py: contact and deal notes. saved_filters.py:
the lists' saved filters. merges.py: what merging duplicates leaves behind. The stage
history and lost reasons live in crm_admin/deal_history.py.
"""

from crm_admin.models.merges import MergedRecord
from crm_admin.models.next_steps import (
    NEXT_STEP_WEEK_DAYS,
    NextStepDue,
    NextStepFields,
    NextStepQuerySet,
    next_step_constraint,
    next_step_due_condition,
    owner_field,
)
from crm_admin.models.notes import ContactNote, DealNote, NoteBase
from crm_admin.models.pipeline import (
    Closing,
    Deal,
    DealQuerySet,
    Memory,
    OutcomeCause,
    Stage,
    StageQuerySet,
    sees_all_deals,
    stale_condition,
    visible_deals_condition,
)
from crm_admin.models.records import (
    Company,
    CompanyQuerySet,
    Contact,
    ContactQuerySet,
    Tag,
    TagQuerySet,
    _count_subquery,
    latest_contact,
)
from crm_admin.models.saved_filters import (
    SavedFilter,
    SavedFilterQuerySet,
    delete_private_keep_shared,
)

__all__ = [
    "NEXT_STEP_WEEK_DAYS",
    "Closing",
    "Company",
    "CompanyQuerySet",
    "Contact",
    "ContactNote",
    "ContactQuerySet",
    "Deal",
    "DealNote",
    "DealQuerySet",
    "Memory",
    "MergedRecord",
    "NextStepDue",
    "NextStepFields",
    "NextStepQuerySet",
    "NoteBase",
    "OutcomeCause",
    "SavedFilter",
    "SavedFilterQuerySet",
    "Stage",
    "StageQuerySet",
    "Tag",
    "TagQuerySet",
    "_count_subquery",
    "delete_private_keep_shared",
    "latest_contact",
    "next_step_constraint",
    "next_step_due_condition",
    "owner_field",
    "sees_all_deals",
    "stale_condition",
    "visible_deals_condition",
]
