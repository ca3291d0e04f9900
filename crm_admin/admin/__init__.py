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
