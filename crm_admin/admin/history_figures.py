"""The dashboard's section of stage history figures on a URL of its own.

Its queries (crm_admin.dashboard.history_figures) read the last 90 days of history and every
stale deal, which grow with the data, so the dashboard does not wait for them: admin/index.html
renders a placeholder that htmx fills from here once the page is shown. Asked for without
htmx (a browser without JavaScript follows the placeholder's link), the same figures come as
an admin page of their own.
"""

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from crm_admin import dashboard


class HistoryFiguresMixin:
    """For the deal admin: `history-figures/`, the section for htmx, the page otherwise."""

    history_figures_template = "admin/crm_admin/dashboard_history.html"
    history_figures_page_template = "admin/crm_admin/history_figures.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_history_figures"
        # Before the ModelAdmin's own URLs, whose "<object_id>/" would swallow it.
        return [
            path(
                "history-figures/",
                self.admin_site.admin_view(self.history_figures_view),
                name=name,
            ),
            *super().get_urls(),
        ]

    def history_figures_view(self, request):
        # Shown to whom the dashboard shows its deal figures; anyone else gets a 403.
        if not dashboard.may_open_list(request, self.model):
            raise PermissionDenied
        context = dashboard.history_figures(timezone.now(), user=request.user)
        if request.headers.get("HX-Request") == "true":
            template = self.history_figures_template
        else:
            template = self.history_figures_page_template
            context.update(
                self.admin_site.each_context(request), title=_("Pipeline history"), opts=self.opts
            )
        response = TemplateResponse(request, template, context)
        # One URL, two bodies: a cache must not hand the section to a page request.
        patch_vary_headers(response, ["HX-Request"])
        return response
