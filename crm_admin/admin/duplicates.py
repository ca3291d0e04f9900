"""The duplicates pages of the company and contact lists, and their warning on save.

`<model>/duplicates/` (URL name `admin:crm_admin_<model>_duplicates`) shows the groups of
records sharing a match key (crm_admin.duplicates.duplicate_groups), one tab per match rule
(`?rule=`), largest groups first, 20 a page (`?page=`), each group's records linked to their
pages and, for a user who may change and delete them, a "Merge…" button to the merge page
(`admin:crm_admin_<model>_merge?ids=1,2,3`). It needs the view permission on the model; the
list links to it with an Unfold `actions_list` button. An unknown rule shows the first rule,
a page that is no number the first page, one past the end the last, each with a message.
"""

from django.contrib import messages
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.decorators import action

from crm_admin.admin.duplicate_warning import DuplicateWarningMixin
from crm_admin.duplicates import duplicate_groups, match_rules
from crm_admin.models import Contact


class DuplicatesPageMixin:
    """For the company and contact admins: the duplicates page (see the module docstring).
    An admin declaring its own `actions_list` names "duplicates" in it."""

    actions_list = ["duplicates"]
    duplicates_template = "admin/crm_admin/duplicates.html"

    @action(
        description=gettext_lazy("Duplicates"),
        url_path="duplicates",
        permissions=["view"],
        icon="content_copy",
    )
    def duplicates(self, request):
        rules = match_rules(self.model)
        asked_rule = request.GET.get("rule", "")
        rule = next((r for r in rules if r.name == asked_rule), rules[0])
        if asked_rule and rule.name != asked_rule:
            self.message_user(
                request,
                _("There is no match rule “%(asked)s”: showing “%(rule)s”.")
                % {"asked": asked_rule, "rule": rule.label},
                messages.WARNING,
            )
        asked_page = request.GET.get("page", "")
        page = duplicate_groups(self.model, rule, page=page_number(asked_page))
        merge_url = self._merge_url(request)
        if asked_page and str(page.number) != asked_page:
            self.message_user(
                request,
                _("There is no page “%(asked)s”: showing page %(page)d of %(pages)d.")
                % {"asked": asked_page, "page": page.number, "pages": page.paginator.num_pages},
                messages.WARNING,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Likely duplicate %(models)s") % {"models": self.opts.verbose_name_plural},
            "opts": self.opts,
            "rule": rule,
            "tabs": [
                {
                    "title": r.label,
                    "link": f"?{urlencode({'rule': r.name})}",
                    "active": r is rule,
                }
                for r in rules
            ],
            "page": page,
            "groups": [self._group_row(group, merge_url) for group in page],
            "is_contact": self.model is Contact,
            "list_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        return TemplateResponse(request, self.duplicates_template, context)

    def _merge_url(self, request) -> str | None:
        """The merge page, for a user who may change and delete the records; None otherwise
        (or while no merge page is installed)."""
        if not (self.has_change_permission(request) and self.has_delete_permission(request)):
            return None
        try:
            return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_merge")
        except NoReverseMatch:
            return None

    def _group_row(self, group, merge_url: str | None) -> dict:
        change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        ids = ",".join(str(record.pk) for record in group.members)
        return {
            "group": group,
            "members": [
                {"record": record, "url": reverse(change, args=[record.pk])}
                for record in group.members
            ],
            "merge_url": f"{merge_url}?ids={ids}" if merge_url else None,
        }


def page_number(text: str | None) -> int:
    """The page a `?page=` asks for: 1 for anything but a positive number; a number past the
    last page stays past it, however long (the paginator then answers the last page)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return 1
    return max(int(text[:18]), 1)


class DuplicatesAdminMixin(DuplicatesPageMixin, DuplicateWarningMixin):
    """The duplicates page and the warning on save, for CompanyAdmin and ContactAdmin."""
