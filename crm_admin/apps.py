from django.apps import AppConfig


class CrmAdminConfig(AppConfig):
    name = "crm_admin"
    verbose_name = "CRM"
    default_auto_field = "django.db.models.BigAutoField"
