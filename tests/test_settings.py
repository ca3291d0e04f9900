"""The project's configuration: clean system checks locally and with production values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_is_free_of_warnings_in_local_settings():
    result = run_manage("check", "--fail-level", "WARNING", DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_with_production_values():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="a-real-production-secret-" + "x7Gq2pLw9ZsT4vBn8RkD3mYh6JcF1eUa",
        ALLOWED_HOSTS="crm.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-real-production-secret-" + "x7Gq2pLw9ZsT4vBn8RkD3mYh6JcF1eUa",
    "ALLOWED_HOSTS": "crm.example.com",
}
PRINT_PRELOAD = "from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)"


def test_hsts_preload_is_opt_in():
    default = run_manage("shell", "-c", PRINT_PRELOAD, **PRODUCTION)
    assert default.stdout.strip().endswith("False"), default.stderr
    asked = run_manage("shell", "-c", PRINT_PRELOAD, SECURE_HSTS_PRELOAD="1", **PRODUCTION)
    assert asked.stdout.strip().endswith("True"), asked.stderr


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_inline_scripts(admin_client):
    policy = admin_client.get(reverse("admin:index"))["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self' 'unsafe-eval'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "http" not in policy


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", DEBUG="0", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("sqlite:////tmp/crm-settings-check.sqlite3", "django.db.backends.sqlite3"),
        ("postgres://crm:secret@db.internal:5432/crm", "django.db.backends.postgresql"),
    ],
)
def test_database_url_selects_the_engine(url, engine):
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        DEBUG="1",
        DATABASE_URL=url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(engine)
