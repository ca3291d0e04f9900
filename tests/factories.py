"""Small helpers creating valid CRM rows with defaults; a test overrides what it cares about."""

import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from crm_admin.models import Company, Contact, Deal, Stage, Tag

_seq = itertools.count(1)


def make_user(*, username=None, staff=True, perms=(), **fields):
    n = next(_seq)
    user = get_user_model().objects.create_user(
        username=username or f"user{n}", password="pw-for-tests-only", is_staff=staff, **fields
    )
    for codename in perms:
        app_label, codename = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def make_tag(**fields):
    fields.setdefault("name", f"Tag {next(_seq)}")
    return Tag.objects.create(**fields)


def make_company(**fields):
    fields.setdefault("name", f"Company {next(_seq)}")
    fields.setdefault("industry", "Software")
    return Company.objects.create(**fields)


def make_contact(*, tags=(), **fields):
    n = next(_seq)
    fields.setdefault("first_name", "Ann")
    fields.setdefault("last_name", f"Lee{n}")
    fields.setdefault("email", f"ann{n}@example.com")
    contact = Contact.objects.create(**fields)
    if tags:
        contact.tags.add(*tags)
    return contact


def stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


def make_deal(*, tags=(), **fields):
    fields.setdefault("title", f"Deal {next(_seq)}")
    if "contact" not in fields:
        fields["contact"] = make_contact()
    fields.setdefault("stage", stage("Prospecting"))
    fields.setdefault("amount", Decimal("1000.00"))
    deal = Deal.objects.create(**fields)
    if tags:
        deal.tags.add(*tags)
    return deal


def lost_reason(name: str = "Price"):
    """One of the shipped lost reasons (migration 0013)."""
    from crm_admin.deal_history import LostReason

    return LostReason.objects.get(name=name)


def make_user_in(*roles: str, **fields):
    """A staff user in the shipped role groups named (crm_admin/roles.py)."""
    from django.contrib.auth.models import Group

    user = make_user(**fields)
    user.groups.add(*Group.objects.filter(name__in=roles))
    assert user.groups.count() == len(roles), "a role group is missing"
    return user
