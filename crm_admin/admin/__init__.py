"""The CRM admin: one module per area, all registered on Django's default admin site."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm_admin.admin import companies, contacts, deals, notes, stages, tags, users  # noqa: F401

admin.site.index_title = _("Overview")
