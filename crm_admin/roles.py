"""The roles a team gets out of the box: three groups and their permissions.

Each role is a rule over the CRM's permissions, not a fixed list, so a permission a later
version adds finds its way into the roles that should have it: sync_roles() sets each group's
permissions to exactly what its rule gives, and runs after every `migrate` (apps.py) as well
as in migration 0014. A user may be in several groups (Django adds their permissions up);
superusers keep every right whatever their groups. Edit a shipped group's permissions in the
admin and the next `migrate` puts them back: make a group of your own for other mixes.
"""

from django.contrib.auth.management import create_permissions

APP = "crm_admin"
SALES_REP = "Sales rep"
SALES_MANAGER = "Sales manager"
READ_ONLY = "Read-only"

# The records a rep works on: view, add and change, never delete.
REP_MODELS = ("company", "contact", "deal", "contactnote", "dealnote", "tag")
# What the CRM holds that a read-only user may view.
VIEWABLE_MODELS = (*REP_MODELS, "stage", "lostreason")
# Their own saved filters (the admin limits each user to theirs; sharing is its own right).
OWN_SAVED_FILTERS = ("view_savedfilter", "add_savedfilter", "change_savedfilter")
OWN_SAVED_FILTERS += ("delete_savedfilter",)


def role_codenames(role: str, every: set[str]) -> set[str]:
    """The codenames of the CRM's permissions that `role` has, out of `every` (all the app's
    permission codenames)."""
    if role == SALES_MANAGER:
        # Everything in the CRM (deletes, import, stages, view_all_deals...) but writing the
        # stage history, which only the stage-outcome rule writes.
        return set(every) - {f"{action}_dealstagechange" for action in ("add", "change", "delete")}
    if role == SALES_REP:
        records = {
            f"{action}_{model}" for action in ("view", "add", "change") for model in REP_MODELS
        }
        exports = {"export_company", "export_contact", "export_deal"}
        return (records | exports | set(OWN_SAVED_FILTERS)) & every
    if role == READ_ONLY:
        views = {f"view_{model}" for model in VIEWABLE_MODELS}
        # Companies hold no one's personal data; contacts and deals (their contact's email)
        # do, so exporting them is granted on purpose, not by this role.
        return (views | {"view_all_deals", "export_company"} | set(OWN_SAVED_FILTERS)) & every
    raise ValueError(f"no role {role!r}")


ROLES = (SALES_REP, SALES_MANAGER, READ_ONLY)


def sync_roles(*, group_model, permission_model, using: str = "default") -> None:
    """Create the three groups if missing and give each exactly its role's permissions.
    Takes the models (the migration passes its historical ones). About 3 + 3 queries."""
    permissions = {
        permission.codename: permission
        for permission in permission_model.objects.using(using).filter(content_type__app_label=APP)
    }
    for role in ROLES:
        group, _created = group_model.objects.using(using).get_or_create(name=role)
        codenames = role_codenames(role, set(permissions))
        group.permissions.set([permissions[codename] for codename in sorted(codenames)])


def sync_roles_after_migrate(sender, app_config=None, using="default", apps=None, **kwargs):
    """post_migrate receiver: the app's permissions exist first (Django's own receiver may
    run after this one), then the groups follow them."""
    from django.contrib.auth.models import Group, Permission

    create_permissions(sender, verbosity=0, using=using)
    sync_roles(group_model=Group, permission_model=Permission, using=using)
