"""The CRM admin: one module per area, all registered on Django's default admin site."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm_admin.admin import (  # noqa: F401
    companies,
    contacts,
    deals,
    lost_reasons,
    notes,
    saved_filters,
    stages,
    tags,
    tokens,
    users,
)

admin.site.index_title = _("Overview")
# The CRM owns the admin index: its dashboard (UNFOLD["DASHBOARD_CALLBACK"] fills it in). A host
# project that wants its own sets admin.site.index_template in its urls.py, which runs later.
admin.site.index_template = "admin/crm_admin/dashboard.html"
