import pytest
from django.core.cache import cache

from tests.factories import make_user


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: what one test's pages cached (the dashboard's
    history figures) must not answer another's."""
    cache.clear()


@pytest.fixture
def staff_client(client, admin_user):
    """A browser session of a logged-in superuser (staff)."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def viewer(db):
    """A staff user who may only view CRM records."""
    return make_user(
        perms=[
            "crm_admin.view_contact",
            "crm_admin.view_deal",
            "crm_admin.view_company",
            "crm_admin.view_stage",
            "crm_admin.view_tag",
        ]
    )
