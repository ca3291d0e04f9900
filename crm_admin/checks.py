"""System checks: what a host project must provide for the CRM, each with a hint.

Registered by CrmAdminConfig.ready(), so `migrate`, `check` and `runserver` report them.
Warnings for a missing piece (an application, Unfold's place, a context processor, the
app's templates, the CRM's UNFOLD parts, SQLite's IMMEDIATE transactions); an error for a
CRM_ setting with an invalid value.
Django's own admin checks already cover the middleware the admin needs (admin.E408-E410).
"""

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core import checks
from django.template import TemplateDoesNotExist, engines
from django.template.backends.django import DjangoTemplates

from crm_admin import conf, unfold_settings

README = 'README, "Add the CRM to an existing Django project"'

# Every application the CRM's code, templates or static files use, and what for.
REQUIRED_APPS = {
    "unfold": "the admin's theme and components",
    "unfold.contrib.filters": "the list filters",
    "unfold.contrib.import_export": "the import and export forms",
    "django.contrib.admin": "the admin",
    "django.contrib.auth": "users, groups and permissions",
    "django.contrib.contenttypes": "permissions and the admin's history",
    "django.contrib.sessions": "logging in",
    "django.contrib.messages": "the admin's messages",
    "django.contrib.staticfiles": "the CRM's scripts and stylesheets",
    "adminsortable2": "ordering pipeline stages by dragging",
    "import_export": "CSV, XLSX and JSON import and export",
    "rest_framework": "the API",
    "rest_framework.authtoken": "the API's tokens",
    "django_filters": "the API's filters",
    "drf_spectacular": "the API's OpenAPI schema",
    "drf_spectacular_sidecar": "the API docs' Swagger UI files",
}

CONTEXT_PROCESSORS = {
    "django.template.context_processors.request": "Unfold's templates read the request",
    "django.contrib.auth.context_processors.auth": "the admin's pages show the user",
    "django.contrib.messages.context_processors.messages": "the CRM reports what it did",
}

# A template only the CRM ships: found when the host's templates load the apps' own.
PROBE_TEMPLATE = "admin/crm_admin/dashboard.html"


def installed_app_problems(names: list[str]) -> list[checks.CheckMessage]:
    """Warnings about the installed applications `names`, in INSTALLED_APPS order: each one
    the CRM needs that is missing (W001), and Unfold's listed after django.contrib.admin,
    whose templates would then win over Unfold's (W002)."""
    problems = [
        checks.Warning(
            f"'{name}' is not in INSTALLED_APPS; the CRM needs it for {purpose}.",
            hint=f"Add '{name}' to INSTALLED_APPS ({README}).",
            id="crm_admin.W001",
        )
        for name, purpose in REQUIRED_APPS.items()
        if name not in names
    ]
    if "django.contrib.admin" in names:
        admin_position = names.index("django.contrib.admin")
        problems += [
            checks.Warning(
                f"'{name}' is listed after 'django.contrib.admin' in INSTALLED_APPS.",
                hint=(
                    f"Move '{name}' before 'django.contrib.admin', so that Unfold's admin "
                    "templates are the ones used."
                ),
                id="crm_admin.W002",
            )
            for name in names[admin_position:]
            if name == "unfold" or name.startswith("unfold.")
        ]
    return problems


def admin_site_problems(site) -> list[checks.CheckMessage]:
    """A warning when `site`, the default admin site the CRM registers on, is not Unfold's
    (W003): "unfold" was listed as unfold.apps.BasicAppConfig, or another app replaced it."""
    from unfold.sites import UnfoldAdminSite

    if isinstance(site, UnfoldAdminSite):
        return []
    return [
        checks.Warning(
            f"The default admin site is a {type(site).__name__}, not Unfold's: the CRM's "
            "dashboard, sidebar and tabs need Unfold's site.",
            hint="List 'unfold' itself (not unfold.apps.BasicAppConfig) in INSTALLED_APPS.",
            id="crm_admin.W003",
        )
    ]


def template_problems() -> list[checks.CheckMessage]:
    """Warnings about the first DjangoTemplates engine (the admin's): each context
    processor the CRM's pages need that it lacks (W004), and the CRM's own templates not
    found, because the engine does not load the applications' templates (W005)."""
    engine = next((e.engine for e in engines.all() if isinstance(e, DjangoTemplates)), None)
    if engine is None:
        return []  # Django's admin.E403 says a DjangoTemplates engine is needed.
    problems = [
        checks.Warning(
            f"'{name}' is not among TEMPLATES' context processors; {purpose}.",
            hint=f"Add '{name}' to TEMPLATES[0]['OPTIONS']['context_processors'].",
            id="crm_admin.W004",
        )
        for name, purpose in CONTEXT_PROCESSORS.items()
        if name not in engine.context_processors
    ]
    if not any(
        _exists(origin)
        for loader in engine.template_loaders
        for origin in loader.get_template_sources(PROBE_TEMPLATE)
    ):
        problems.append(
            checks.Warning(
                "The CRM's templates are not found: TEMPLATES does not load the "
                "applications' own templates.",
                hint="Set 'APP_DIRS': True in TEMPLATES (as startproject does).",
                id="crm_admin.W005",
            )
        )
    return problems


def _exists(origin) -> bool:
    try:
        origin.loader.get_contents(origin)
    except TemplateDoesNotExist:
        return False
    return True


def unfold_problems(config: dict) -> list[checks.CheckMessage]:
    """Warnings for each part of the CRM missing from Unfold's configuration `config` (W006):
    the dashboard's figures, the saved filters' tabs, the lists' stylesheets."""
    hint = f"Set UNFOLD = crm_unfold_settings(...) from crm_admin.unfold_settings ({README})."
    expected = [
        (
            config.get("DASHBOARD_CALLBACK") == unfold_settings.DASHBOARD_CALLBACK,
            f"UNFOLD['DASHBOARD_CALLBACK'] is not '{unfold_settings.DASHBOARD_CALLBACK}': "
            "the dashboard shows none of the CRM's figures.",
        ),
        (
            config.get("TABS") == unfold_settings.TABS,
            f"UNFOLD['TABS'] is not '{unfold_settings.TABS}': the lists show no saved filters.",
        ),
        *(
            (
                style in (config.get("STYLES") or []),
                f"UNFOLD['STYLES'] lacks '{style}': the CRM's pages lose their styles.",
            )
            for style in unfold_settings.STYLES
        ),
    ]
    return [
        checks.Warning(message, hint=hint, id="crm_admin.W006")
        for present, message in expected
        if not present
    ]


def database_problems(databases: dict) -> list[checks.CheckMessage]:
    """A warning for each SQLite database in `databases` whose transactions do not begin
    IMMEDIATE (W007): a transaction that reads, then writes (an admin save, an import) would
    fail with "database is locked" when another writes in between, instead of waiting."""
    return [
        checks.Warning(
            f"The SQLite database '{alias}' does not begin its transactions IMMEDIATE.",
            hint=(
                f"Set DATABASES['{alias}']['OPTIONS']['transaction_mode'] = 'IMMEDIATE', with a "
                f"'timeout' long enough for an import ({README})."
            ),
            id="crm_admin.W007",
        )
        for alias, database in databases.items()
        if database.get("ENGINE") == "django.db.backends.sqlite3"
        and database.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE"
    ]


def setting_problems() -> list[checks.CheckMessage]:
    """An error for each CRM_ setting whose value breaks its rule (E001, crm_admin/conf.py)."""
    return [
        checks.Error(
            problem,
            hint="crm_admin/conf.py and the README list every CRM_ setting and its values.",
            id="crm_admin.E001",
        )
        for problem in map(conf.setting_problem, conf.DEFAULTS)
        if problem
    ]


def check_host_project(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every check above, on the running project."""
    from unfold.settings import get_config

    names = [config.name for config in apps.get_app_configs()]
    problems = installed_app_problems(names) + admin_site_problems(admin.site)
    problems += template_problems()
    if "unfold" in names:
        problems += unfold_problems(get_config())
    return problems + database_problems(settings.DATABASES) + setting_problems()
