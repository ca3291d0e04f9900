"""The read-only REST API other systems use to read the CRM (mounted at /api/crm/)."""
