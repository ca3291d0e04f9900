"""The CRM as a reusable app: the sdist and the wheel hold `crm_admin` alone, and a project made
by `django-admin startproject` runs the CRM with exactly the lines README's "Add the CRM to an
existing Django project" gives (its code blocks are read from README.md, so this proves it).

The slow part (marked `packaging`: `-m "not packaging"` leaves it out) builds the sdist from a
copy of the checkout, the wheel from the sdist, and installs the wheel with its dependencies
from the package index into a new virtual environment. It runs in CI's SQLite pass and is
skipped in the PostgreSQL one (the new project has its own SQLite database); nothing else
skips it.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import crm_admin

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Add the CRM to an existing Django project"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
# What a checkout holds that is not the app's source.
NOT_SOURCE = (".venv", ".git", "staticfiles", "db.sqlite3*", "__pycache__", "*.pyc", ".env")
NOT_SOURCE += (".ruff_cache", ".pytest_cache", "build", "dist", "*.egg-info", "results")


def readme_blocks(first_line: str) -> list[str]:
    """The Python code blocks of README's section whose first line starts with `first_line`."""
    section = (ROOT / "README.md").read_text().split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    return [block for block in blocks if block.startswith(first_line)]


def app_files() -> set[str]:
    """Every file of the app in the checkout, as the wheel names it (crm_admin/...), the
    demo data set mapped from fixtures/ to crm_admin/demo/ as pyproject.toml says."""
    files = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "crm_admin").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    return files | {f"crm_admin/demo/{path.name}" for path in (ROOT / "fixtures").glob("*.json")}


# --- fast: what the build reads ------------------------------------------------------------


def test_pyproject_lists_every_package_of_the_app():
    # The list is explicit (the demo data set is mapped from outside crm_admin/): a new
    # subpackage missing from it would be missing from the wheel.
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {
        path.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for path in (ROOT / "crm_admin").rglob("__init__.py")
    }
    assert packages == on_disk | {"crm_admin.demo"}


def test_the_app_reports_the_version_pyproject_builds():
    # Run from the checkout (not installed): the fallback, which must follow pyproject.toml.
    assert crm_admin.__version__ == VERSION


def test_the_readme_gives_one_block_for_each_file():
    assert len(readme_blocks("# settings.py\n")) == 1
    assert len(readme_blocks("# urls.py\n")) == 1
    assert len(readme_blocks("# settings.py, production\n")) == 1


# --- slow: build, install, run -------------------------------------------------------------


def _run(*args, cwd, env=None, timeout=300) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sdist, built from a copy of the checkout (a build writes into its source folder),
    and the wheel, built from the sdist as a package index would."""
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("the new project uses its own SQLite database: runs in the SQLite pass")
    work = tmp_path_factory.mktemp("build")
    source = work / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    dist = work / "dist"
    build_sdist = (
        "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    )
    _run(sys.executable, "-c", build_sdist, dist, cwd=source)
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
        sdist_names = archive.getnames()
    unpacked = work / sdist.name.removesuffix(".tar.gz")
    _run(
        sys.executable,
        *("-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"),
        *("-w", dist, unpacked),
        cwd=work,
    )
    (wheel,) = dist.glob("*.whl")
    return {"sdist": sdist, "sdist_names": sdist_names, "wheel": wheel}


@pytest.mark.packaging
def test_the_sdist_holds_the_app_without_the_standalone_product(built):
    top = {name.split("/", 2)[1] for name in built["sdist_names"] if name.count("/")}
    assert {"crm_admin", "fixtures", "pyproject.toml", "README.md"} <= top
    assert not top & {"project", "tests", "bench", "manage.py", "requirements.txt", ".ci"}


@pytest.mark.packaging
def test_the_wheel_holds_the_app_alone(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        demo_deals = wheel.read("crm_admin/demo/0005_deals.json")
    info = f"django_crm_admin-{VERSION}.dist-info"
    assert {name for name in names if not name.startswith(info)} == app_files()
    # The demo data set is fixtures/, mapped, not a copy kept in the checkout.
    assert demo_deals == (ROOT / "fixtures" / "0005_deals.json").read_bytes()
    assert not (ROOT / "crm_admin" / "demo").exists()


NOTES_MODELS = """
from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)

    def __str__(self):
        return self.text
"""
NOTES_ADMIN = """
from django.contrib import admin

from notes_app.models import Note

admin.site.register(Note)
"""
NOTES_VIEWS = """
from django.http import HttpResponse

from notes_app.models import Note


def index(request):
    return HttpResponse("Notes: " + ", ".join(note.text for note in Note.objects.all()))
"""
# Run by the new project's own Python: a staff user opens the pages with Django's test
# client, under the production settings, and the answers come back as JSON.
PROBE = """
import json, sys

import django

django.setup()
from django.test.utils import setup_test_environment

setup_test_environment()
from django.contrib.auth import get_user_model
from django.test import Client

import crm_admin
from notes_app.models import Note

Note.objects.create(text="Host app still here")
user = get_user_model().objects.create_superuser("boss", "boss@example.com", "x")
client = Client()
client.force_login(user)
pages = {
    "dashboard": "/admin/",
    "deals": "/admin/crm_admin/deal/",
    "board": "/admin/crm_admin/deal/board/",
    "api deals": "/api/crm/deals/",
    "api docs": "/api/crm/docs/",
    "api schema": "/api/crm/schema/",
    "host admin": "/admin/notes_app/note/",
    "host view": "/notes/",
}
answers = {}
for name, url in pages.items():
    response = client.get(url, secure=True)
    answers[name] = {"status": response.status_code, "body": response.content.decode()}
answers["api deals"]["json"] = json.loads(answers["api deals"]["body"])
print(json.dumps({"version": crm_admin.__version__, "file": crm_admin.__file__, **answers}))
"""


def add_to(path: Path, after: str, line: str) -> None:
    """Write `line` into the file at `path` after the text `after`, which must be there."""
    text = path.read_text()
    assert after in text, f"{path.name} lacks {after!r}"
    path.write_text(text.replace(after, after + line, 1))


@pytest.mark.packaging
def test_a_new_project_runs_the_crm_with_the_readme_lines(built, tmp_path):
    venv = tmp_path / "venv"
    # A new environment, filled by this one's pip (`--python`): the same install, without the
    # time ensurepip and byte-compiling take.
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    install = ("-m", "pip", "--python", python, "install", "--quiet", "--no-compile")
    # The wheel and its dependencies, from the package index.
    _run(sys.executable, *install, built["wheel"], cwd=tmp_path, timeout=600)

    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "CRM_", "VIRTUAL_ENV", "PYTHON"))
        and name not in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    _run(venv / "bin" / "django-admin", "startproject", "host", cwd=tmp_path, env=env)
    site = tmp_path / "host"
    manage = (python, "manage.py")

    # The project's own app, there before the CRM: a model in the admin, and a page.
    _run(*manage, "startapp", "notes_app", cwd=site, env=env)
    (site / "notes_app" / "models.py").write_text(NOTES_MODELS)
    (site / "notes_app" / "admin.py").write_text(NOTES_ADMIN)
    (site / "notes_app" / "views.py").write_text(NOTES_VIEWS)
    settings_py = site / "host" / "settings.py"
    urls_py = site / "host" / "urls.py"
    add_to(settings_py, "'django.contrib.staticfiles',\n", "    'notes_app',\n")
    add_to(urls_py, "from django.urls import path\n", "from notes_app.views import index\n")
    add_to(urls_py, "path('admin/', admin.site.urls),\n", "    path('notes/', index),\n")

    # The README's lines, appended as they are.
    with settings_py.open("a") as settings_file:
        for block in readme_blocks("# settings.py"):
            settings_file.write("\n" + block)
    with urls_py.open("a") as urls_file:
        urls_file.write("\n" + readme_blocks("# urls.py\n")[0])

    production = {
        **env,
        "DJANGO_PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "crm.example.com",
        "DJANGO_SETTINGS_MODULE": "host.settings",
    }
    _run(*manage, "makemigrations", "notes_app", cwd=site, env=production)
    _run(*manage, "migrate", "--no-input", cwd=site, env=production)
    checked = _run(
        *manage, "check", "--deploy", "--fail-level", "WARNING", cwd=site, env=production
    )
    assert "no issues" in checked
    demo = _run(*manage, "crm_demo", cwd=site, env=production)
    assert "Loaded the demo data (6 fixtures)." in demo

    (site / "probe.py").write_text(PROBE)
    answers = json.loads(_run(python, "probe.py", cwd=site, env=production).splitlines()[-1])

    # The installed package, not the checkout, at the version pyproject.toml builds.
    assert answers["version"] == VERSION
    assert answers["file"].startswith(str(venv))
    statuses = {name: answer["status"] for name, answer in answers.items() if "status" in answer}
    assert statuses == dict.fromkeys(statuses, 200)
    dashboard = answers["dashboard"]["body"]
    assert 'id="dashboard"' in dashboard and 'id="my-day"' in dashboard
    # The sidebar offers the project's own app next to the CRM's lists.
    assert "/admin/notes_app/note/" in dashboard and "/admin/crm_admin/deal/" in dashboard
    assert answers["api deals"]["json"]["count"] > 0
    assert "Annual supply contract" in answers["deals"]["body"]
    assert "Annual supply contract" in answers["board"]["body"]
    assert "swagger-ui-bundle.js" in answers["api docs"]["body"]
    assert "/api/crm/deals/" in answers["api schema"]["body"]
    # The project's app works next to the CRM, its admin page in Unfold's theme.
    assert answers["host view"]["body"] == "Notes: Host app still here"
    assert "Host app still here" in answers["host admin"]["body"]
    assert "unfold/css/styles.css" in answers["host admin"]["body"]
