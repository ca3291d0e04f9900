import pytest

from tests.factories import make_user


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
