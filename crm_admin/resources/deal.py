"""Deals, matched by id when given, else by title and contact email."""

import re
from contextlib import suppress
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.results import RowResult

from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.folding import fold
from crm_admin.formats import parse_id
from crm_admin.models import Contact, Deal, Stage, Tag
from crm_admin.resources.base import (
    Column,
    CrmResource,
    OwnerColumn,
    Plan,
    RowError,
    check_next_step,
    clean_cell,
)
from crm_admin.resources.files import BATCH_SIZE, UNSET, NumberCell

DEAL_COLUMNS = (
    Column("id", "id"),
    Column("title", "title", required=True),
    Column("contact_email", "contact__email", required=True, labels=("contact",)),
    Column("amount", "amount"),
    Column("stage", "stage__name", required=True),
    Column("probability", "probability"),
    Column("expected_close_date", "expected_close_date"),
    Column("owner", "owner__username"),
    Column("tags", None),
    Column("next_step", "next_step"),
    Column("next_step_due", "next_step_due"),
    # Last, so that the columns of files written before it keep their places.
    Column("lost_reason", "lost_reason__name"),
)


class DealResource(OwnerColumn, CrmResource):
    """deals: matched by id when given, else by title and contact; the fields of the stage
    outcome rule (close date, probability, next step, time in stage, lost reason) follow the
    stage through Deal.apply_stage_outcome(), as a save() would, and each change of stage
    (a new deal's first, an existing deal's move) gets its history row, by the importing
    user. The deals the importing user may not see (CRM_DEAL_VISIBILITY) are never matched:
    a file cannot update them by id nor by title."""

    columns = DEAL_COLUMNS
    rules = gettext_lazy(
        "A row updates the deal with its id or, without one, the deal with the same title and "
        "contact; otherwise it adds a deal. The contact, stage and owner must exist; new tags "
        "are created. A next step's date needs a step; a deal in a won or lost stage has no "
        "next step, so its step is cleared. The lost reason must exist; only a deal in a lost "
        "stage has one, so another deal's is cleared."
    )
    has_tags = True

    class Meta:
        model = Deal
        fields = tuple(column.name for column in DEAL_COLUMNS)

    def clean_id(self, text):
        if not text:
            return None
        deal_id = parse_id(text)
        if deal_id is None:
            raise ValidationError(_("“%s” is not a deal id (a whole number).") % text)
        return deal_id

    def clean_contact_email(self, text):
        if not text:
            raise ValidationError(_("Give the email of the deal's contact."))
        pk = self.contacts.get(fold(text))
        if pk is None:
            raise ValidationError(
                _("No contact has the email “%s”: import or add the contact first.") % text
            )
        return pk

    def clean_amount(self, text):
        """Digits with a decimal point; a number an XLSX cell holds is rounded to cents (half
        up), as the spreadsheet shows money, while text typed with more decimals is refused."""
        if not text:
            return None
        if isinstance(text, NumberCell):
            with suppress(InvalidOperation):
                text = str(Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        try:
            return clean_cell(Deal, "amount", text)
        except ValidationError:
            if not re.fullmatch(r"-?\d+(\.\d+)?", text):
                raise ValidationError(
                    _("“%s” is not an amount: write digits with a decimal point, such as 1234.50.")
                    % text
                ) from None
            raise

    def clean_stage(self, text):
        if not text:
            raise ValidationError(_("Give the deal's pipeline stage."))
        stage = self.stages.get(fold(text))
        if stage is None:
            names = ", ".join(s.name for s in self.stages.values())
            raise ValidationError(
                _("“%(value)s” is not a pipeline stage; use one of: %(names)s.")
                % {"value": text, "names": names}
            )
        return stage

    def clean_lost_reason(self, text):
        """An existing lost reason's name, ignoring case; empty: none."""
        if not text:
            return None
        reason = self.lost_reasons.get(fold(text))
        if reason is None:
            names = ", ".join(known.name for known in self.lost_reasons.values())
            raise ValidationError(
                _("“%(value)s” is not a lost reason; use one of: %(names)s.")
                % {"value": text, "names": names}
            )
        return reason

    def clean_probability(self, text):
        """0 to 100, with or without a trailing %; an XLSX cell formatted as a percentage
        (Excel stores 50% as 0.5) arrives as "50%" (files.read_xlsx)."""
        return clean_cell(Deal, "probability", text.removesuffix("%").strip()) if text else UNSET

    def prefetch(self):
        self.contacts = Contact.objects.ids_by_key()
        self.stages = {stage.name_key: stage for stage in Stage.objects.all()}
        self.lost_reasons = {reason.name_key: reason for reason in LostReason.objects.all()}
        self._load_users()
        self._load_tags()

    def prefetch_batch(self, rows):
        ids = {deal_id for raw in rows if (deal_id := parse_id(raw.get("id", "")))}
        contacts = {
            pk
            for raw in rows
            if not raw.get("id") and (pk := self.contacts.get(fold(raw["contact_email"])))
        }
        found = Deal.objects.filter(models.Q(pk__in=ids) | models.Q(contact_id__in=contacts))
        user = getattr(self, "importing_user", None)
        if user is not None:
            # A deal the importing user may not see is one that does not exist for the file:
            # its id is "no deal", its title matches nothing (crm_import, with no user, sees all).
            found = found.visible_to(user)
        self.by_id: dict[int, Deal] = {}
        self.by_title: dict[tuple[str, int], list[Deal]] = {}
        for deal in found:
            self.by_id[deal.pk] = deal
            self.by_title.setdefault((fold(deal.title), deal.contact_id), []).append(deal)
        self.current_tags = self._current_tags(list(self.by_id)) if self.by_id else {}

    def plan_row(self, number, cleaned):
        stage = cleaned["stage"]
        values = {
            name: value
            for name, value in cleaned.items()
            if name not in ("id", "tags", "stage", "contact_email", "owner", "lost_reason")
            and value is not UNSET
        }
        values["contact_id"] = cleaned["contact_email"]
        values["stage_id"] = stage.pk
        if "owner" in cleaned:
            values["owner_id"] = cleaned["owner"]
        reason = cleaned.get("lost_reason")
        if "lost_reason" in cleaned:
            values["lost_reason_id"] = reason.pk if reason is not None else None
        if cleaned.get("id") is not None:
            existing = self.by_id.get(cleaned["id"])
            if existing is None:
                raise RowError(
                    "id",
                    _("No deal has the id %s: leave the id empty to add a new deal.")
                    % cleaned["id"],
                )
        else:
            matches = self.by_title.get((fold(cleaned["title"]), values["contact_id"]), [])
            if len(matches) > 1:
                raise RowError(
                    "title",
                    _("%d deals of this contact have this title: add the id column to say which.")
                    % len(matches),
                )
            existing = matches[0] if matches else None
        if existing is None:
            plan = Plan(number, RowResult.IMPORT_TYPE_NEW, Deal(**values))
            identity = ("new", fold(cleaned["title"]), values["contact_id"])
        else:
            stored = {name: getattr(existing, name) for name in (*values, *Deal.STAGE_RULE_FIELDS)}
            plan = self._updated(existing, values, number)
            identity = ("id", existing.pk)
        deal = plan.instance
        deal.stage = stage  # the cached stage, so that apply_stage_outcome() runs no query
        deal.actor = self.importing_user  # the history row's author
        deal.apply_stage_outcome()
        if existing is not None:
            # What the row changes is what the rule leaves of it: a probability or a next
            # step that the file gives a closed deal is overruled, and changes nothing.
            plan.changed = [name for name, value in stored.items() if getattr(deal, name) != value]
            plan.import_type = (
                RowResult.IMPORT_TYPE_UPDATE if plan.changed else RowResult.IMPORT_TYPE_SKIP
            )
        for name in Deal.CLOSED_NEXT_STEP:
            if cleaned.get(name) and getattr(deal, name) != cleaned[name]:
                plan.shown[name] = _("(cleared: a closed deal has no next step)")
        if reason is not None and deal.lost_reason_id != reason.pk:
            plan.shown["lost_reason"] = _("(cleared: only a lost deal has a lost reason)")
        check_next_step(deal, cleaned)
        self._tags_plan(plan, cleaned, self.current_tags.get(getattr(existing, "pk", None), set()))
        return plan, identity, "id" if cleaned.get("id") is not None else "title"

    def related_created(self):
        return {Tag: len(self.new_tags)}

    def write(self, plans, progress):
        self._create_missing(Tag, self.new_tags, self.tags)
        self._write_rows(plans, progress)

    def batch_written(self, plans):
        """The stage history of a written batch: the row apply_stage_outcome() prepared for
        each new deal (its first stage) and each deal whose stage the file changed, none for
        the others. Written in bulk (an INSERT per 2,000 rows, or per as many as SQLite's
        parameter limit allows), where save() would write them one by one."""
        changes = []
        for plan in plans:
            deal = plan.instance
            if deal.pending_stage_change is not None:
                deal.pending_stage_change.deal = deal
                changes.append(deal.pending_stage_change)
                deal.pending_stage_change = None
        DealStageChange.objects.bulk_create(changes, batch_size=BATCH_SIZE)
