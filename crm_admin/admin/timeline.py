"""The timeline and the related records below the deal, contact and company change forms.

Read by the selectors of crm_admin.timeline; drawn by admin/crm_admin/record_history.html
(Unfold's `change_form_outer_after_template`: after the form, not inside it). Plain links
page the timeline (`?timeline=<page>`), so it reads without JavaScript. Each part shows only
what the user may view, as the admin itself decides (the registered ModelAdmins'
has_view_permission, which is also what shows or hides the notes inlines), and of the
deals only those the user may see (the selectors' `user`: CRM_DEAL_VISIBILITY).
"""

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from crm_admin import cells
from crm_admin.admin import next_steps
from crm_admin.models import Contact, ContactNote, Deal, DealNote
from crm_admin.timeline import (
    TimelineKind,
    TimelineSource,
    company_contacts,
    company_deals,
    company_timeline,
    contact_deals,
    contact_timeline,
    deal_timeline,
)

# The timeline's page in the change page's address (timeline.html's links write it too).
TIMELINE_PARAMETER = "timeline"

# In words and colour (never colour alone), like the deal list's stage labels.
KIND_MARKS = {
    TimelineKind.NOTE: (_("Note"), None),
    TimelineKind.CREATED: (_("Created"), "info"),
    TimelineKind.MOVED: (_("Moved"), "primary"),
    TimelineKind.WON: (_("Won"), "success"),
    TimelineKind.LOST: (_("Lost"), "danger"),
    TimelineKind.MERGED: (_("Merged"), "warning"),
}


class RecordHistoryMixin:
    """For the deal, contact and company admins: on the change page (not the add page), the
    record's related records and its timeline. A subclass says what they are in
    `history_context()`."""

    change_form_outer_after_template = "admin/crm_admin/record_history.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Here rather than in change_view(): the record is already read.
        if change and obj is not None and obj.pk is not None:
            context["record_history"] = self.history_context(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_context(self, request, obj) -> dict:
        raise NotImplementedError

    def may_view(self, request, model) -> bool:
        return self.admin_site.get_model_admin(model).has_view_permission(request)

    def timeline_context(self, page, *, link_contacts: bool) -> dict:
        return {
            "page": page,
            "items": [_timeline_row(item, link_contacts=link_contacts) for item in page],
        }

    def deal_rows(self, related, *, with_contact: bool, link_contacts: bool) -> list[dict]:
        # Late: crm_admin.admin.deals imports this module.
        from crm_admin.admin.deals import OUTCOME_COLOURS

        today = timezone.localdate()
        rows = []
        for deal in related.deals:
            contact = deal.contact if with_contact else None
            rows.append(
                {
                    "deal": deal,
                    "url": reverse("admin:crm_admin_deal_change", args=[deal.pk]),
                    "stage": cells.label(deal.stage.name, OUTCOME_COLOURS.get(deal.stage.outcome)),
                    "next_step": next_steps.step_cell(deal, today=today),
                    "contact": contact,
                    "contact_url": _change_url(contact) if contact and link_contacts else None,
                }
            )
        return rows


class DealHistoryMixin(RecordHistoryMixin):
    def history_context(self, request, obj) -> dict:
        sources = {TimelineSource.STAGE_CHANGE}
        if self.may_view(request, DealNote):
            sources.add(TimelineSource.DEAL_NOTE)
        page = deal_timeline(deal=obj, page=request.GET.get(TIMELINE_PARAMETER), sources=sources)
        return {"timeline": self.timeline_context(page, link_contacts=False)}


class ContactHistoryMixin(RecordHistoryMixin):
    def history_context(self, request, obj) -> dict:
        sources = {TimelineSource.CONTACT, TimelineSource.MERGED}
        if self.may_view(request, ContactNote):
            sources.add(TimelineSource.CONTACT_NOTE)
        context = {}
        if self.may_view(request, Deal):
            sources.add(TimelineSource.STAGE_CHANGE)
            if self.may_view(request, DealNote):
                sources.add(TimelineSource.DEAL_NOTE)
            deals = contact_deals(contact=obj, user=request.user)
            context["deals"] = {
                "related": deals,
                "rows": self.deal_rows(deals, with_contact=False, link_contacts=False),
                "all_url": _changelist_url(Deal, contact__id__exact=obj.pk),
                "add_url": _add_url(Deal, contact=obj.pk)
                if self.admin_site.get_model_admin(Deal).has_add_permission(request)
                else None,
                "add_label": _("Add deal for this contact"),
            }
        page = contact_timeline(
            contact=obj,
            user=request.user,
            page=request.GET.get(TIMELINE_PARAMETER),
            sources=sources,
        )
        context["timeline"] = self.timeline_context(page, link_contacts=False)
        return context


class CompanyHistoryMixin(RecordHistoryMixin):
    def history_context(self, request, obj) -> dict:
        sources = {TimelineSource.COMPANY, TimelineSource.MERGED}
        context = {}
        may_view_contacts = self.may_view(request, Contact)
        if may_view_contacts:
            sources.add(TimelineSource.CONTACT)
            if self.may_view(request, ContactNote):
                sources.add(TimelineSource.CONTACT_NOTE)
            contacts = company_contacts(company=obj)
            context["contacts"] = {
                "related": contacts,
                "rows": [
                    {"contact": contact, "url": _change_url(contact)}
                    for contact in contacts.contacts
                ],
                "all_url": _changelist_url(Contact, company__id__exact=obj.pk),
                "add_url": _add_url(Contact, company=obj.pk)
                if self.admin_site.get_model_admin(Contact).has_add_permission(request)
                else None,
                "add_label": _("Add contact at this company"),
            }
        if self.may_view(request, Deal):
            sources.add(TimelineSource.STAGE_CHANGE)
            if self.may_view(request, DealNote):
                sources.add(TimelineSource.DEAL_NOTE)
            deals = company_deals(company=obj, user=request.user)
            context["deals"] = {
                "related": deals,
                "rows": self.deal_rows(deals, with_contact=True, link_contacts=may_view_contacts),
                "all_url": _changelist_url(Deal, contact__company__id__exact=obj.pk),
                "with_contact": True,
            }
        page = company_timeline(
            company=obj,
            user=request.user,
            page=request.GET.get(TIMELINE_PARAMETER),
            sources=sources,
        )
        context["timeline"] = self.timeline_context(page, link_contacts=may_view_contacts)
        return context


def _change_url(record) -> str:
    opts = record._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])


def _changelist_url(model, **filters) -> str:
    opts = model._meta
    return f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?{urlencode(filters)}"


def _add_url(model, **initial) -> str:
    opts = model._meta
    return f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_add')}?{urlencode(initial)}"


def _timeline_row(item, *, link_contacts: bool) -> dict:
    text, colour = KIND_MARKS[item.kind]
    deal, contact = item.deal, item.contact
    return {
        "item": item,
        "mark": cells.label(text, colour),
        "is_note": item.kind is TimelineKind.NOTE,
        "deal_url": _change_url(deal) if deal is not None else None,
        "contact_url": _change_url(contact) if contact is not None and link_contacts else None,
    }
