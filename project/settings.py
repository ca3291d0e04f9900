"""Settings for the CRM, read from the environment (and a local `.env` file when present).

Production runs with DEBUG=0 and must provide SECRET_KEY; `make run` writes a `.env` with
DEBUG=1 and a random key for local use. See README.md for every variable.

The standalone product is a host project of the crm_admin app like any other: it adds the app
with the lines of README "Add the CRM to an existing Django project", then sets the CRM_
settings (crm_admin/conf.py has their defaults and checks their values) from the environment.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse_lazy

from crm_admin.unfold_settings import crm_unfold_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over the file: CI and process managers set them directly.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (or run with DEBUG=1 for local work)."
        )
    SECRET_KEY = "django-insecure-local-development-only"

# Empty with DEBUG on means localhost only (Django's own rule).
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: runserver serves the static files as whitenoise does in production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Content-Security-Policy header and failed-login lockout (see "Security" below).
    "csp",
    "axes",
]
# The CRM, as README "Add the CRM to an existing Django project" adds it: Unfold and its
# contribs before django.contrib.admin, so that their templates win; the rest after.
INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.import_export",
    *INSTALLED_APPS,
    "adminsortable2",
    "import_export",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crm_admin",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout found during login into its response.
    "axes.middleware.AxesMiddleware",
]

# Axes first: it refuses a locked-out username or address before any password is checked.
# It needs the request, so code that authenticates passes one (`authenticate(request, ...)`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a long import or seed writes. Transactions start
    # IMMEDIATE: a transaction that reads then writes (every admin save, an import) takes the
    # write lock up front instead of failing with "database is locked" when another write
    # lands between its read and its write. A writer then waits its turn for up to `timeout`
    # seconds, long enough for a large import to finish first (82,000 contacts took 40 s to
    # create and 110 s to update every one, on a busy two-core machine); a board move or a
    # note that arrives meanwhile gives up only after that.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 300,
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Follows the environment's DEBUG (not the test runner's override): local runs and tests serve
# files straight from the apps; production serves the collected, compressed STATIC_ROOT.
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = reverse_lazy("admin:login")
# Unfold's login form posts no "next" when opened directly: land on the dashboard.
LOGIN_REDIRECT_URL = reverse_lazy("admin:index")

# What is cached or throttled (the API's request counts, cached figures) must be shared by
# every app server: CACHE_URL names a cache they all reach, e.g. redis://127.0.0.1:6379/0
# (Django's Redis backend, through the redis package) or dbcache://crm_cache (run
# `manage.py createcachetable` once). Unset, each process keeps its own in local memory,
# which is right for one process (`make run`) and wrong for several.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://crm")}

# The CRM's settings, from the environment; crm_admin/conf.py says what each does, holds its
# default and checks its value (the system check crm_admin.E001).
CRM_EXACT_COUNT_LIMIT = env.int("CRM_EXACT_COUNT_LIMIT", default=10_000)
CRM_CURRENCY = env.str("CRM_CURRENCY", default="USD")
CRM_FOLLOW_UP_DAYS = env.int("CRM_FOLLOW_UP_DAYS", default=30)
CRM_REQUIRE_LOST_REASON = env.bool("CRM_REQUIRE_LOST_REASON", default=True)
CRM_DEAL_VISIBILITY = env.str("CRM_DEAL_VISIBILITY", default="all")
CRM_HISTORY_CACHE_SECONDS = env.int("CRM_HISTORY_CACHE_SECONDS", default=300)
CRM_PHONE_REGION = env.str("CRM_PHONE_REGION", default="US")

# HTTPS hardening is on whenever DEBUG is off; each switch can be turned off behind a proxy
# that terminates TLS differently.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Preloading is a promise to browsers that is slow to undo: only on request. Its deploy check
# (security.W021) asks for it everywhere, hence silenced.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp). Every script, style, font and image is served by the
# project itself, so no other host is allowed. The exceptions, for templates we do not own:
# - script-src 'unsafe-eval': Unfold 0.110 ships Alpine.js's standard build, which compiles
#   every x-data / x-on expression with `new Function` (Alpine's CSP build is not shipped);
#   htmx's hx-on attributes work the same way.
# - style-src 'unsafe-inline': Unfold's templates carry style="" attributes and <style>
#   blocks, htmx inserts its indicator style; a nonce cannot cover attributes.
# - img-src data:: Unfold's and Swagger UI's stylesheets draw icons as data: URIs.
# No inline script runs without the nonce: an inline script in our templates carries
# nonce="{{ request.csp_nonce }}" (the header names a nonce only on pages that use one; today
# none does), and Swagger UI loads its start-up script as a file (crm_admin.api.views.APIDocsView).
# Unfold's horizontal list filters (`oninput=`, unused here) would need 'unsafe-hashes'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_EVAL, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Failed logins (django-axes): after LOGIN_FAILURE_LIMIT failures in a row for one username,
# or from one client address, that username or address is refused for LOGIN_COOLOFF_MINUTES,
# the right password included. Attempts live in the database (axes' default handler), so
# every app server sees the same count. `manage.py axes_reset` unlocks everybody.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Axes' admin pages are plain Django ones, unstyled under Unfold: the commands serve instead.
AXES_ENABLE_ADMIN = False
AXES_LOCKOUT_CALLABLE = "crm_admin.admin.lockout.login_locked_out"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Requests per token user: "<n>/<second|minute|hour|day>", counted in the default cache. The
# API sets its own authentication, permissions, pagination and schema (crm_admin/api/views.py):
# REST_FRAMEWORK and SPECTACULAR_SETTINGS are left to DRF's defaults.
CRM_API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="1000/hour")

# CSV / XLSX / JSON import and export (django-import-export; resources in crm_admin/resources/).
# An import is all or nothing: it runs in one transaction, rolled back on any row's error.
# Who may import (add and change permissions) or export (view) is decided by the admin mixin
# in crm_admin/admin/import_export.py.
IMPORT_EXPORT_USE_TRANSACTIONS = True
# The largest file the admin's import form accepts, in megabytes (commands have no limit).
CRM_IMPORT_MAX_UPLOAD_MB = env.float("CRM_IMPORT_MAX_UPLOAD_MB", default=20)
# The most rows (after the header) and columns an import file may have, in the admin and in
# crm_import alike: a file past them is refused before its rows are checked. The row limit is
# on the row number a spreadsheet shows, so that a sheet whose last row is numbered 3,000,000
# is refused however few rows it holds.
CRM_IMPORT_MAX_ROWS = env.int("CRM_IMPORT_MAX_ROWS", default=1_000_000)
CRM_IMPORT_MAX_COLUMNS = env.int("CRM_IMPORT_MAX_COLUMNS", default=50)

# The CRM's sidebar, dashboard, saved-filter tabs and styles (crm_admin/unfold_settings.py); the
# "view site" link leads back to the admin, which is the whole site here.
UNFOLD = crm_unfold_settings(SITE_URL="/admin/")
