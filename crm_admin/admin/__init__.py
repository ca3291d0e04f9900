"""The CRM admin: one module per area, all registered on Django's default admin site."""

from crm_admin.admin import companies, contacts, deals, notes, stages, tags, users  # noqa: F401
