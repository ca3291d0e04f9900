from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


class CrmAdminConfig(AppConfig):
    name = "crm_admin"
    verbose_name = "CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from crm_admin.checks import check_host_project
        from crm_admin.roles import sync_roles_after_migrate

        # What a host project must provide, reported by `check`, `migrate`, `runserver`.
        checks.register(check_host_project)

        # The shipped roles follow the permissions after every migrate (crm_admin/roles.py).
        post_migrate.connect(
            sync_roles_after_migrate, sender=self, dispatch_uid="crm_admin.sync_roles"
        )
