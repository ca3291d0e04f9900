"""A Django-admin-first CRM, as a reusable Django app (README, "Add the CRM to an existing
Django project")."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("django-crm-admin")
except PackageNotFoundError:
    # A checkout run in place (the standalone product), not installed: pyproject.toml's
    # version, which tests/test_packaging.py keeps equal to this one.
    __version__ = "0.1.0"
