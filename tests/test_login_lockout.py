"""Failed admin logins lock the username and the address out for a while (django-axes)."""

from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password"
LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture
def boss(settings):
    # A cheap hasher: every attempt below checks a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = make_user(username="boss", is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, username, password, address="203.0.113.7"):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=address,
    )


def is_logged_in(client):
    return SESSION_KEY in client.session


def test_twenty_wrong_passwords_then_the_right_one_is_refused_with_a_message(client, boss):
    for _ in range(20):
        log_in(client, "boss", "guess")
    response = log_in(client, "boss", PASSWORD)

    assert response.status_code == 429
    assert not is_logged_in(client)
    page = response.content.decode()
    assert "Too many failed login attempts. Try again in 15 minutes" in page
    assert 'id="login-locked"' in page


def test_fewer_failures_than_the_limit_still_let_the_right_password_in(client, boss):
    for _ in range(LIMIT - 1):
        assert log_in(client, "boss", "guess").status_code == 200
    assert log_in(client, "boss", PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_a_success_resets_the_count(client, boss):
    for _ in range(LIMIT - 1):
        log_in(client, "boss", "guess")
    log_in(client, "boss", PASSWORD)
    client.logout()
    for _ in range(LIMIT - 1):
        log_in(client, "boss", "guess")
    assert log_in(client, "boss", PASSWORD).status_code == 302


def test_failures_from_many_addresses_lock_the_username(client, boss):
    for n in range(LIMIT):
        log_in(client, "boss", "guess", address=f"198.51.100.{n + 1}")
    assert log_in(client, "boss", PASSWORD, address="192.0.2.1").status_code == 429
    assert not is_logged_in(client)


def test_failures_on_many_usernames_lock_the_address(client, boss):
    for n in range(LIMIT):
        log_in(client, f"someone{n}", "guess", address="203.0.113.9")
    assert log_in(client, "boss", PASSWORD, address="203.0.113.9").status_code == 429
    assert log_in(client, "boss", PASSWORD, address="203.0.113.10").status_code == 302


def test_axes_reset_unlocks(client, boss):
    for _ in range(LIMIT):
        log_in(client, "boss", "guess")
    assert log_in(client, "boss", PASSWORD).status_code == 429

    call_command("axes_reset", stdout=StringIO())

    assert log_in(client, "boss", PASSWORD).status_code == 302


def test_api_tokens_keep_working_from_a_locked_out_address(client, boss):
    for _ in range(LIMIT):
        log_in(client, "boss", "guess")
    token = Token.objects.create(user=boss)

    response = client.get(
        reverse("crm_api:stage-list"),
        headers={"Authorization": f"Token {token.key}"},
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 200
