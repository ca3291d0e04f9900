"""The sidebar offers exactly the lists a user may open: no link answers 403."""

import pytest
from django.urls import reverse

from tests.factories import make_user

pytestmark = pytest.mark.django_db

USERS = {
    "no permissions": {"perms": []},
    "view only": {
        "perms": [
            "crm_admin.view_deal",
            "crm_admin.view_contact",
            "crm_admin.view_company",
            "crm_admin.view_stage",
            "crm_admin.view_tag",
        ]
    },
    "change only": {"perms": ["crm_admin.change_deal", "auth.change_user"]},
    # API tokens are for superusers only, whatever permission a staff member holds.
    "token viewer": {"perms": ["authtoken.view_tokenproxy", "authtoken.change_tokenproxy"]},
    "saved filters only": {"perms": ["crm_admin.view_savedfilter"]},
    "lost reasons only": {"perms": ["crm_admin.view_lostreason"]},
    "superuser": {"is_superuser": True},
}


def sidebar_links(client) -> dict[str, str]:
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {
        str(item["title"]): str(item["link"])
        for group in response.context["sidebar_navigation"]
        for item in group["items"]
    }


@pytest.mark.parametrize("who", USERS)
def test_no_sidebar_link_answers_403(client, who):
    client.force_login(make_user(**USERS[who]))
    for title, link in sidebar_links(client).items():
        assert client.get(link).status_code == 200, title


@pytest.mark.parametrize(
    ("who", "titles"),
    [
        ("no permissions", set()),
        ("view only", {"Deals", "Pipeline stages", "Contacts", "Companies", "Tags"}),
        ("change only", {"Deals", "Users"}),
        ("token viewer", set()),
        ("saved filters only", {"Saved filters"}),
        ("lost reasons only", {"Lost reasons"}),
    ],
)
def test_the_sidebar_shows_the_lists_the_user_may_open(client, who, titles):
    client.force_login(make_user(**USERS[who]))
    assert set(sidebar_links(client)) == titles


def test_a_superuser_sees_every_list_including_api_tokens(client):
    client.force_login(make_user(is_superuser=True))
    links = sidebar_links(client)
    assert len(links) == 12
    assert links["API tokens"] == reverse("admin:authtoken_tokenproxy_changelist")
    assert links["Lost reasons"] == reverse("admin:crm_admin_lostreason_changelist")
    # Next to the stages, in the pipeline group.
    titles = list(links)
    assert titles.index("Lost reasons") == titles.index("Pipeline stages") + 1
