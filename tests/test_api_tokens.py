"""API tokens are managed in the admin, in the Unfold look, and work as soon as they exist."""

import pytest
from django.contrib import admin
from django.urls import reverse
from rest_framework.authtoken.models import Token, TokenProxy
from unfold.admin import ModelAdmin

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_tokens_have_an_unfold_admin_with_user_autocomplete():
    token_admin = admin.site.get_model_admin(TokenProxy)
    assert isinstance(token_admin, ModelAdmin)
    assert token_admin.autocomplete_fields == ["user"]


def test_staff_create_a_token_in_the_admin_and_it_opens_the_api(staff_client, client):
    integration = make_user(username="mailer", perms=["crm_admin.view_contact"])
    page = staff_client.get(reverse("admin:authtoken_tokenproxy_add"))
    assert page.status_code == 200
    assert 'data-field-name="user"' in page.content.decode(), "the user is chosen by autocomplete"

    response = staff_client.post(
        reverse("admin:authtoken_tokenproxy_add"), {"user": integration.pk}
    )
    assert response.status_code == 302
    key = Token.objects.get(user=integration).key

    listing = staff_client.get(reverse("admin:authtoken_tokenproxy_changelist"), {"q": "mailer"})
    assert listing.status_code == 200 and "mailer" in listing.content.decode()
    staff_client.logout()
    api = client.get(reverse("crm_api:contact-list"), headers={"Authorization": f"Token {key}"})
    assert api.status_code == 200


def test_only_superusers_see_or_make_api_tokens(client):
    staff = make_user(
        perms=[
            "authtoken.view_tokenproxy",
            "authtoken.add_tokenproxy",
            "authtoken.change_tokenproxy",
        ]
    )
    client.force_login(staff)
    assert client.get(reverse("admin:authtoken_tokenproxy_changelist")).status_code == 403
    assert client.get(reverse("admin:authtoken_tokenproxy_add")).status_code == 403


def test_the_token_list_links_each_row_to_its_change_page(staff_client):
    token = Token.objects.create(user=make_user(username="reporting"))
    listing = staff_client.get(reverse("admin:authtoken_tokenproxy_changelist"))
    # DRF's token admin finds a token by its user's id: the row links there, not by the key.
    url = reverse("admin:authtoken_tokenproxy_change", args=[token.user.pk])
    assert f'href="{url}' in listing.content.decode()
    page = staff_client.get(url)
    assert page.status_code == 200 and token.key in page.content.decode()
