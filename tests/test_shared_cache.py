"""CACHE_URL: several app server processes share one cache (the API throttle's counts)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/15"

SCRIPT = """
import os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
django.setup()
from django.conf import settings
from django.core.cache import cache
print(settings.CACHES["default"]["BACKEND"])
key, value = sys.argv[1], sys.argv[2]
if value == "-":
    print(cache.get(key))
else:
    cache.set(key, value, 60)
    print("set")
"""


def in_process(*args, **env) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}
    environment.update({"DEBUG": "1", **env})
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def redis_running() -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


def test_without_cache_url_each_process_keeps_its_own_cache():
    key = f"crm-test-{uuid.uuid4().hex}"
    assert in_process(key, "1") == ["django.core.cache.backends.locmem.LocMemCache", "set"]
    assert in_process(key, "-") == ["django.core.cache.backends.locmem.LocMemCache", "None"]


@pytest.mark.skipif(
    not redis_running() and not os.environ.get("CI"), reason="no Redis on 127.0.0.1:6379"
)
def test_with_a_redis_cache_url_two_processes_share_one_cache():
    key = f"crm-test-{uuid.uuid4().hex}"
    backend = "django.core.cache.backends.redis.RedisCache"
    assert in_process(key, "shared", CACHE_URL=REDIS_URL) == [backend, "set"]
    assert in_process(key, "-", CACHE_URL=REDIS_URL) == [backend, "shared"]
