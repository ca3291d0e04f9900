"""The three shipped roles (crm_admin/roles.py), walked through the admin with the test client:
what each role's users may open, change and act on, import and export, share, and manage."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from crm_admin.models import Company, Deal, SavedFilter, Tag
from crm_admin.roles import READ_ONLY, ROLES, SALES_MANAGER, SALES_REP, role_codenames
from tests.factories import (
    lost_reason,
    make_company,
    make_contact,
    make_deal,
    make_tag,
    make_user_in,
    stage,
)
from tests.forms import form_data
from tests.test_admin_actions import messages_of, run_action
from tests.test_import import DATA

pytestmark = pytest.mark.django_db

REFUSED = "You do not have permission to do that: nothing was changed."
DEAL_ACTIONS = {
    "mark_won",
    "mark_lost",
    "move_to_stage",
    "assign_owner",
    "set_next_step",
    "add_tags",
    "remove_tags",
}
CONTACT_ACTIONS = {"set_status", "set_next_step", "add_tags", "remove_tags"}


def url(model: str, page: str, *args, app: str = "crm_admin") -> str:
    return reverse(f"admin:{app}_{model}_{page}", args=args)


def logged_in(client, user):
    client.force_login(user)
    return client


def crm_codenames() -> set[str]:
    return set(
        Permission.objects.filter(content_type__app_label="crm_admin").values_list(
            "codename", flat=True
        )
    )


def group_codenames(role: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def offered_actions(client, model: str) -> set[str]:
    """The actions the list's action bar offers (none: no bar at all)."""
    response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    action_form = response.context["action_form"]
    if action_form is None:
        return set()
    return {name for name, _label in action_form.fields["action"].choices if name}


@pytest.fixture
def records(db):
    """One of each CRM record, the deal owned by nobody in particular."""
    company = make_company(name="Acme")
    contact = make_contact(company=company)
    deal = make_deal(title="Pilot", contact=contact)
    return {
        "company": company,
        "contact": contact,
        "deal": deal,
        "contactnote": contact.notes.create(text="Called."),
        "dealnote": deal.notes.create(text="Sent the quote."),
        "tag": make_tag(name="VIP"),
        "stage": stage("Prospecting"),
        "lostreason": lost_reason(),
    }


@pytest.fixture
def rep(db):
    return make_user_in(SALES_REP)


@pytest.fixture
def manager(db):
    return make_user_in(SALES_MANAGER)


@pytest.fixture
def reader(db):
    return make_user_in(READ_ONLY)


@pytest.fixture
def user_of(rep, manager, reader, admin_user):
    return {SALES_REP: rep, SALES_MANAGER: manager, READ_ONLY: reader, "superuser": admin_user}


# --- the groups --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_ships_as_a_group_with_exactly_its_permissions(role):
    expected = {f"crm_admin.{codename}" for codename in role_codenames(role, crm_codenames())}
    assert expected, "a role without permissions"
    assert group_codenames(role) == expected


def test_the_roles_grant_what_the_issue_names():
    rep, manager, reader = (group_codenames(role) for role in ROLES)
    for model in ("company", "contact", "deal", "contactnote", "dealnote", "tag"):
        assert {f"crm_admin.{a}_{model}" for a in ("view", "add", "change")} <= rep
        assert f"crm_admin.delete_{model}" not in rep
        assert f"crm_admin.delete_{model}" in manager
        assert f"crm_admin.view_{model}" in reader
        assert not {f"crm_admin.{a}_{model}" for a in ("add", "change", "delete")} & reader
    assert {"crm_admin.export_company", "crm_admin.export_contact", "crm_admin.export_deal"} <= rep
    assert not {p for p in rep if ".import_" in p or p.endswith(("_stage", "_lostreason"))}
    assert "crm_admin.view_all_deals" not in rep and "crm_admin.share_savedfilter" not in rep
    assert {"crm_admin.view_all_deals", "crm_admin.share_savedfilter"} <= manager
    assert {"crm_admin.import_contact", "crm_admin.change_stage", "crm_admin.add_lostreason"} <= (
        manager
    )
    assert {p for p in reader if ".export_" in p} == {"crm_admin.export_company"}
    assert "crm_admin.view_all_deals" in reader
    assert not any(p.startswith(("auth.", "authtoken.")) for p in rep | manager | reader)


def test_migrate_puts_an_edited_shipped_group_back():
    group = Group.objects.get(name=SALES_REP)
    group.permissions.remove(Permission.objects.get(codename="change_deal"))
    group.permissions.add(Permission.objects.get(codename="delete_deal"))
    group.permissions.add(Permission.objects.get(codename="add_user"))
    Group.objects.get(name=READ_ONLY).delete()

    call_command("migrate", verbosity=0)

    assert "crm_admin.change_deal" in group_codenames(SALES_REP)
    assert "crm_admin.delete_deal" not in group_codenames(SALES_REP)
    assert "auth.add_user" not in group_codenames(SALES_REP)
    expected = {f"crm_admin.{c}" for c in role_codenames(READ_ONLY, crm_codenames())}
    assert group_codenames(READ_ONLY) == expected


def test_a_group_of_the_teams_own_is_left_alone_by_migrate():
    custom = Group.objects.create(name="Interns")
    custom.permissions.add(Permission.objects.get(codename="view_deal"))
    call_command("migrate", verbosity=0)
    assert group_codenames("Interns") == {"crm_admin.view_deal"}


# --- pages -------------------------------------------------------------------------------

CRM_MODELS = ("company", "contact", "deal", "contactnote", "dealnote", "tag")
PIPELINE_MODELS = ("stage", "lostreason")
# (list, add, change, delete) status codes of each role's pages.
PAGES = {
    SALES_REP: {
        **{model: (200, 200, 200, 403) for model in CRM_MODELS},
        **{model: (403, 403, 403, 403) for model in PIPELINE_MODELS},
    },
    SALES_MANAGER: {model: (200, 200, 200, 200) for model in CRM_MODELS + PIPELINE_MODELS},
    READ_ONLY: {model: (200, 403, 200, 403) for model in CRM_MODELS + PIPELINE_MODELS},
    "superuser": {model: (200, 200, 200, 200) for model in CRM_MODELS + PIPELINE_MODELS},
}


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
@pytest.mark.parametrize("model", CRM_MODELS + PIPELINE_MODELS)
def test_which_pages_each_role_opens(client, records, user_of, role, model):
    logged_in(client, user_of[role])
    pk = records[model].pk
    statuses = tuple(
        client.get(url(model, page, *args)).status_code
        for page, args in [("changelist", ()), ("add", ()), ("change", (pk,)), ("delete", (pk,))]
    )
    assert statuses == PAGES[role][model]


@pytest.mark.parametrize("role", ROLES)
def test_users_groups_and_api_tokens_are_refused_to_every_role(client, user_of, role):
    user = user_of[role]
    Token.objects.create(user=user)
    logged_in(client, user)
    for app, model in [("auth", "user"), ("auth", "group"), ("authtoken", "tokenproxy")]:
        assert client.get(url(model, "changelist", app=app)).status_code == 403
        assert client.get(url(model, "add", app=app)).status_code == 403
    assert client.get(url("user", "change", user.pk, app="auth")).status_code == 403
    assert client.get(url("tokenproxy", "change", user.pk, app="authtoken")).status_code == 403
    assert client.get(url("user", "password_change", user.pk, app="auth")).status_code == 403


def test_a_superuser_in_no_group_keeps_every_right(client, admin_user, records):
    assert not admin_user.groups.exists()
    logged_in(client, admin_user)
    for app, model in [("auth", "user"), ("auth", "group"), ("authtoken", "tokenproxy")]:
        assert client.get(url(model, "changelist", app=app)).status_code == 200
    for model in ("company", "contact", "deal"):
        assert client.get(url(model, "import")).status_code == 200
        assert client.get(url(model, "export")).status_code == 200
    assert offered_actions(client, "deal") == DEAL_ACTIONS | {"delete_selected", "export_selected"}
    assert "shared" in client.get(url("savedfilter", "add")).context["adminform"].form.fields


def test_a_read_only_user_cannot_save_a_record_by_posting_its_form(client, reader, records):
    logged_in(client, reader)
    deal = records["deal"]
    response = client.post(url("deal", "change", deal.pk), {"title": "Renamed"})
    assert response.status_code == 403
    assert client.post(url("company", "add"), {"name": "New"}).status_code == 403
    deal.refresh_from_db()
    assert deal.title == "Pilot" and not Company.objects.filter(name="New").exists()


# --- bulk actions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "deal", "contact", "company", "tag"),
    [
        (
            SALES_REP,
            DEAL_ACTIONS | {"export_selected"},
            CONTACT_ACTIONS | {"export_selected"},
            {"export_selected"},
            set(),
        ),
        (
            SALES_MANAGER,
            DEAL_ACTIONS | {"export_selected", "delete_selected"},
            # Merging needs the change and the delete permission: the manager's, not the rep's.
            CONTACT_ACTIONS | {"export_selected", "delete_selected", "merge_selected"},
            {"export_selected", "delete_selected", "merge_selected"},
            {"delete_selected"},
        ),
        (READ_ONLY, set(), set(), {"export_selected"}, set()),
    ],
)
def test_which_bulk_actions_each_role_is_offered(
    client, user_of, records, role, deal, contact, company, tag
):
    logged_in(client, user_of[role])
    assert offered_actions(client, "deal") == deal
    assert offered_actions(client, "contact") == contact
    assert offered_actions(client, "company") == company
    assert offered_actions(client, "tag") == tag


def test_a_rep_runs_a_bulk_action(client, rep, records):
    logged_in(client, rep)
    response = run_action(client, url("deal", "changelist"), "mark_won", [records["deal"].pk])
    assert messages_of(response) == ["1 deal marked as won."]
    assert Deal.objects.get(pk=records["deal"].pk).stage.name == "Closed-Won"


@pytest.mark.parametrize(
    ("model", "action"),
    [("deal", "mark_won"), ("deal", "assign_owner"), ("contact", "set_status")],
)
def test_a_read_only_users_posted_bulk_action_is_refused(client, reader, records, model, action):
    logged_in(client, reader)
    before = Deal.objects.values_list("stage", "owner").get()
    response = run_action(client, url(model, "changelist"), action, [records[model].pk])
    assert messages_of(response) == [REFUSED]
    assert Deal.objects.values_list("stage", "owner").get() == before


@pytest.mark.parametrize("role", [SALES_REP, READ_ONLY])
@pytest.mark.parametrize("model", ["deal", "contact", "company"])
def test_a_posted_bulk_delete_without_the_delete_permission_is_refused(
    client, user_of, records, role, model
):
    logged_in(client, user_of[role])
    target = records[model]
    response = run_action(
        client, url(model, "changelist"), "delete_selected", [target.pk], post="yes"
    )
    assert messages_of(response) == [REFUSED]
    assert type(target).objects.filter(pk=target.pk).exists()


def test_a_manager_deletes_through_the_bulk_action(client, manager):
    tags = [make_tag(), make_tag()]
    logged_in(client, manager)
    run_action(
        client, url("tag", "changelist"), "delete_selected", [t.pk for t in tags], post="yes"
    )
    assert not Tag.objects.filter(pk__in=[t.pk for t in tags]).exists()


# --- the board ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "can_move"), [(SALES_REP, True), (SALES_MANAGER, True), (READ_ONLY, False)]
)
def test_the_board_offers_moves_only_to_those_who_may_change_deals(
    client, user_of, records, role, can_move
):
    logged_in(client, user_of[role])
    deal = records["deal"]
    board = client.get(url("deal", "board"))
    assert board.status_code == 200
    assert board.context["can_move"] is can_move
    html = board.content.decode()
    assert ("data-move-form" in html) is can_move
    assert ('draggable="true"' in html) is can_move
    response = client.post(url("deal", "move", deal.pk), {"stage": stage("Negotiation").pk})
    assert response.status_code == (302 if can_move else 403)
    deal.refresh_from_db()
    assert deal.stage.name == ("Negotiation" if can_move else "Prospecting")


# --- import and export -------------------------------------------------------------------

# (may import, may export) per role and list.
TRANSFERS = {
    SALES_REP: {"company": (False, True), "contact": (False, True), "deal": (False, True)},
    SALES_MANAGER: {"company": (True, True), "contact": (True, True), "deal": (True, True)},
    READ_ONLY: {"company": (False, True), "contact": (False, False), "deal": (False, False)},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", ["company", "contact", "deal"])
def test_import_and_export_pages_and_buttons_per_role(client, user_of, records, role, model):
    may_import, may_export = TRANSFERS[role][model]
    logged_in(client, user_of[role])
    page = client.get(url(model, "changelist")).content.decode()
    assert (f'href="{url(model, "import")}"' in page) is may_import
    assert (f'href="{url(model, "export")}' in page) is may_export
    assert client.get(url(model, "import")).status_code == (200 if may_import else 403)
    assert client.post(url(model, "process_import"), {}).status_code == (302 if may_import else 403)
    assert client.get(url(model, "export")).status_code == (200 if may_export else 403)
    download = client.post(url(model, "export"), {"format": "0", "resource": "0"})
    assert download.status_code == (200 if may_export else 403)
    if may_export:
        assert download["Content-Type"] == "text/csv"


def test_the_commands_import_and_export_whatever_the_roles(capsys):
    # Admin tools run on the server: no user, no permission check.
    call_command("crm_import", "companies", str(DATA / "companies.csv"))
    imported = Company.objects.count()
    assert imported
    capsys.readouterr()
    call_command("crm_export", "companies")
    assert capsys.readouterr().out.count("\n") == imported + 1


# --- stages and lost reasons -------------------------------------------------------------


@pytest.mark.parametrize("model", PIPELINE_MODELS)
@pytest.mark.parametrize(
    ("role", "status"), [(SALES_REP, 403), (READ_ONLY, 403), (SALES_MANAGER, 200)]
)
def test_only_managers_reorder_stages_and_lost_reasons(
    client, user_of, records, model, role, status
):
    logged_in(client, user_of[role])
    response = client.post(
        url(model, "sortable_update"),
        {"updatedItems": [[records[model].pk, 5]]},
        content_type="application/json",
    )
    assert response.status_code == status


def test_a_manager_adds_a_lost_reason_and_renames_a_stage(client, manager, records):
    logged_in(client, manager)
    page = client.get(url("lostreason", "add"))
    client.post(url("lostreason", "add"), form_data(page, "lostreason_form", name="Timing"))
    assert lost_reason("Timing")
    stage_page = client.get(url("stage", "change", records["stage"].pk))
    data = form_data(stage_page, "stage_form", name="Leads")
    assert client.post(url("stage", "change", records["stage"].pk), data).status_code == 302
    assert stage("Leads").pk == records["stage"].pk


# --- saved filters -----------------------------------------------------------------------


def save_filter(client, **fields):
    add = url("savedfilter", "add") + "?target=deal&query=status%3Dopen"
    page = client.get(add)
    assert page.status_code == 200
    response = client.post(add, form_data(page, "savedfilter_form", **fields))
    assert response.status_code == 302
    return page


@pytest.mark.parametrize("role", [SALES_REP, READ_ONLY])
def test_a_user_without_the_share_permission_saves_only_their_own_filters(client, user_of, role):
    user = user_of[role]
    logged_in(client, user)
    page = save_filter(client, name="Mine", shared="on")
    assert "shared" not in page.context["adminform"].form.fields
    saved = SavedFilter.objects.get(name="Mine")
    assert (saved.owner, saved.shared) == (user, False)

    # Editing one that was shared (before the right was taken away) cannot change that.
    SavedFilter.objects.filter(pk=saved.pk).update(shared=True)
    change = url("savedfilter", "change", saved.pk)
    edit = client.get(change)
    assert "shared" not in edit.context["adminform"].form.fields
    assert "shared" in edit.context["adminform"].readonly_fields
    client.post(change, form_data(edit, "savedfilter_form", name="Renamed", shared=""))
    saved.refresh_from_db()
    assert (saved.name, saved.shared) == ("Renamed", True)


def test_a_manager_shares_a_saved_filter_with_every_role(client, manager, rep, reader):
    logged_in(client, manager)
    page = save_filter(client, name="Team pipeline", shared="on")
    assert "shared" in page.context["adminform"].form.fields
    saved = SavedFilter.objects.get(name="Team pipeline")
    assert saved.shared
    for other in (rep, reader):
        logged_in(client, other)
        deals = client.get(url("deal", "changelist")).content.decode()
        assert saved.get_absolute_url().replace("&", "&amp;") in deals
        # Shown to them, theirs to use but not to change.
        assert client.get(url("savedfilter", "change", saved.pk)).status_code == 200
        assert client.post(url("savedfilter", "delete", saved.pk), {"post": "yes"}).status_code == (
            403
        )


# --- several roles -----------------------------------------------------------------------


def test_a_user_in_two_groups_has_the_rights_of_both(client, records):
    user = make_user_in(SALES_REP, READ_ONLY)
    logged_in(client, user)
    assert client.get(url("stage", "changelist")).status_code == 200  # from Read-only
    assert client.get(url("stage", "add")).status_code == 403  # from neither
    assert client.get(url("deal", "add")).status_code == 200  # from Sales rep
    assert offered_actions(client, "deal") == DEAL_ACTIONS | {"export_selected"}
    assert client.get(url("contact", "export")).status_code == 200  # from Sales rep
    assert client.get(url("contact", "import")).status_code == 403
    assert user.has_perm("crm_admin.view_all_deals")  # from Read-only


def test_a_permission_given_to_one_user_adds_to_their_role(client, reader, records):
    reader.user_permissions.add(Permission.objects.get(codename="export_contact"))
    logged_in(client, reader)
    assert client.get(url("contact", "export")).status_code == 200
    assert client.get(url("deal", "export")).status_code == 403
