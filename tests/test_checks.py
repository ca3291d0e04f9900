"""What a host project must provide (crm_admin/checks.py) and the CRM's settings with their
defaults and rules (crm_admin/conf.py)."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from unfold.settings import get_config

from crm_admin import checks
from crm_admin.conf import DEFAULTS, crm_settings
from crm_admin.unfold_settings import crm_unfold_settings

SQLITE = "django.db.backends.sqlite3"
# The standalone project's applications, in INSTALLED_APPS order.
PROJECT_APPS = [config.name for config in apps.get_app_configs()]


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def django_templates(*, app_dirs=True, dirs=(), **options) -> list[dict]:
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": list(dirs),
            "APP_DIRS": app_dirs,
            "OPTIONS": options,
        }
    ]


def test_the_standalone_project_passes_every_check():
    assert checks.check_host_project() == []


def test_the_apps_the_crm_needs_are_all_listed():
    assert checks.installed_app_problems(PROJECT_APPS) == []


@pytest.mark.parametrize("missing", ["drf_spectacular_sidecar", "unfold.contrib.filters"])
def test_a_missing_app_is_a_warning_naming_it(missing):
    (problem,) = checks.installed_app_problems([n for n in PROJECT_APPS if n != missing])
    assert problem.id == "crm_admin.W001"
    assert f"'{missing}' is not in INSTALLED_APPS" in problem.msg
    assert f"Add '{missing}' to INSTALLED_APPS" in problem.hint


def test_unfold_after_the_admin_is_a_warning():
    names = [n for n in PROJECT_APPS if n != "unfold.contrib.filters"]
    names.append("unfold.contrib.filters")
    (problem,) = checks.installed_app_problems(names)
    assert problem.id == "crm_admin.W002"
    assert "'unfold.contrib.filters' is listed after 'django.contrib.admin'" in problem.msg
    assert "Move 'unfold.contrib.filters' before 'django.contrib.admin'" in problem.hint


def test_an_admin_site_that_is_not_unfolds_is_a_warning():
    assert checks.admin_site_problems(admin.site) == []
    (problem,) = checks.admin_site_problems(AdminSite())
    assert problem.id == "crm_admin.W003"
    assert "BasicAppConfig" in problem.hint


@pytest.mark.parametrize(
    "missing",
    [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ],
)
def test_a_missing_context_processor_is_a_warning(missing):
    processors = [name for name in checks.CONTEXT_PROCESSORS if name != missing]
    with override_settings(TEMPLATES=django_templates(context_processors=processors)):
        (problem,) = checks.template_problems()
    assert problem.id == "crm_admin.W004"
    assert f"'{missing}' is not among TEMPLATES' context processors" in problem.msg
    assert "context_processors" in problem.hint


def test_templates_that_do_not_load_the_apps_own_are_a_warning(tmp_path):
    processors = list(checks.CONTEXT_PROCESSORS)
    with override_settings(TEMPLATES=django_templates(context_processors=processors)):
        assert checks.template_problems() == []
    # A project's own folder, without the CRM's templates, looked in instead of the apps'.
    templates = django_templates(app_dirs=False, dirs=[tmp_path], context_processors=processors)
    with override_settings(TEMPLATES=templates):
        (problem,) = checks.template_problems()
    assert problem.id == "crm_admin.W005"
    assert "'APP_DIRS': True" in problem.hint


def test_unfold_without_the_crms_parts_is_a_warning_for_each():
    with override_settings(UNFOLD={"SITE_TITLE": "Acme"}):
        problems = checks.unfold_problems(get_config())
    assert ids(problems) == ["crm_admin.W006"] * 4
    text = " ".join(problem.msg for problem in problems)
    for part in ("DASHBOARD_CALLBACK", "TABS", "crm_admin.cells.stylesheet", "no_script"):
        assert part in text
    assert "crm_unfold_settings" in problems[0].hint


def test_the_crms_unfold_settings_merge_the_hosts_overrides():
    unfold = crm_unfold_settings(SITE_TITLE="Acme", SIDEBAR={"show_search": False})
    assert unfold["SITE_TITLE"] == "Acme"
    assert unfold["SIDEBAR"] == {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "crm_admin.dashboard.sidebar_navigation",
    }
    with override_settings(UNFOLD=unfold):
        assert checks.unfold_problems(get_config()) == []


def test_sqlite_without_immediate_transactions_is_a_warning():
    (problem,) = checks.database_problems({"default": {"ENGINE": SQLITE, "OPTIONS": {}}})
    assert problem.id == "crm_admin.W007"
    assert "transaction_mode" in problem.hint
    immediate = {"ENGINE": SQLITE, "OPTIONS": {"transaction_mode": "IMMEDIATE"}}
    postgresql = {"ENGINE": "django.db.backends.postgresql"}
    assert checks.database_problems({"default": immediate, "other": postgresql}) == []


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CRM_DEAL_VISIBILITY", "everyone", '"all" or "own"'),
        ("CRM_API_THROTTLE_RATE", "lots", "requests per period, e.g. 1000/hour"),
        ("CRM_EXACT_COUNT_LIMIT", 0, "a whole number, at least 1"),
        ("CRM_FOLLOW_UP_DAYS", "30", "a whole number, at least 1"),
        ("CRM_HISTORY_CACHE_SECONDS", -1, "a whole number, at least 0"),
        ("CRM_IMPORT_MAX_UPLOAD_MB", 0, "a number above 0"),
        ("CRM_IMPORT_MAX_ROWS", 1.5, "a whole number, at least 1"),
        ("CRM_IMPORT_MAX_COLUMNS", True, "a whole number, at least 1"),
        ("CRM_REQUIRE_LOST_REASON", "no", "True or False"),
        ("CRM_CURRENCY", "", "a currency code such as USD"),
        ("CRM_PHONE_REGION", "USA", 'a region code phonenumbers knows, such as "US" or "GB"'),
    ],
)
def test_an_invalid_crm_setting_is_an_error_and_is_refused_where_read(name, value, expected):
    with override_settings(**{name: value}):
        (problem,) = checks.setting_problems()
        with pytest.raises(ImproperlyConfigured, match=f"^{name}="):
            getattr(crm_settings, name)
    assert problem.id == "crm_admin.E001"
    assert problem.msg == f"{name}={value!r}: expected {expected}."


def test_a_host_that_sets_no_crm_setting_gets_the_defaults(settings):
    for name in DEFAULTS:
        if hasattr(settings, name):
            delattr(settings, name)
    assert {name: getattr(crm_settings, name) for name in DEFAULTS} == DEFAULTS
    assert checks.setting_problems() == []


def test_a_crm_setting_follows_the_host_settings(settings):
    settings.CRM_CURRENCY = "EUR"
    assert crm_settings.CRM_CURRENCY == "EUR"
    with pytest.raises(AttributeError, match="not a CRM setting"):
        crm_settings.CRM_NO_SUCH_THING  # noqa: B018
