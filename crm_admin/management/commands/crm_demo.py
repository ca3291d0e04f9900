import secrets
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm_admin import services
from crm_admin.models import Company, Contact, Deal, Stage

FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures"
DEMO_USERNAME = "admin"

# The fixtures' dates are fixed; next steps are given relative to the day the demo is loaded,
# so that My day has something overdue, due today and this week on the first login. Each
# plan is a cycle over the records in id order: (step, days from today, or None for an
# undated step), or None for no next step. The demo login takes every LOGIN_DEALS-th open deal
# and every LOGIN_CONTACTS-th contact: the places marked "login" below.
DEAL_STEPS = [
    ("Send the revised quote", -2),  # login: overdue
    ("Call to agree the rollout date", 0),
    ("Confirm the budget with finance", 0),  # login: today
    ("Book the pilot review", 3),
    ("Demo the new reporting", 2),  # login: this week
    None,
    ("Introduce the support team", None),  # login: undated
    ("Send the reference list", -1),
    None,  # login: no next step
    ("Ask legal for the redlines", None),
    ("Chase the signed order", -5),  # login: overdue
    ("Plan the kick-off meeting", 6),
]
LOGIN_DEALS = 2
CONTACT_STEPS = [
    ("Call about the renewal", 0),  # login: today
    ("Send the case study", -3),
    None,
    ("Invite to the customer day", None),
    ("Visit the new office", 5),  # login: this week
    ("Follow up on the invoice", -1),
    None,
    ("Ask for a referral", 2),
    ("Send the price list", -1),  # login: overdue
    None,
    ("Check in after the training", 4),
    None,
    ("Introduce the new account manager", 0),  # login: today
    ("Confirm the meeting agenda", 1),
    ("Thank for the order", -2),
    None,
]
LOGIN_CONTACTS = 4


def _steps_by_value(pks: list[int], plan: list, today: date) -> dict[tuple, list[int]]:
    """{(step, due date): ids} for `pks` taking `plan`'s places in turn, days made dates."""
    steps = defaultdict(list)
    for i, pk in enumerate(pks):
        step = plan[i % len(plan)]
        if step is not None:
            text, days = step
            steps[text, None if days is None else today + timedelta(days=days)].append(pk)
    return steps


class Command(BaseCommand):
    help = (
        "Load the demo data set once (only into a database without CRM records) and, when DEBUG "
        "is on and no superuser exists, create one with a random password printed here."
    )

    def handle(self, *args, **options):
        # One transaction: a demo is loaded with its next steps, or not at all.
        with transaction.atomic():
            loaded = self.load_demo_data()
            login = self.ensure_demo_superuser()
            if loaded:
                self.give_next_steps(login)

    def load_demo_data(self) -> bool:
        if Company.objects.exists() or Contact.objects.exists() or Deal.objects.exists():
            self.stdout.write("CRM data already present: demo data not loaded.")
            return False
        fixtures = sorted(str(path) for path in FIXTURES_DIR.glob("*.json"))
        call_command("loaddata", *fixtures, verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"Loaded the demo data ({len(fixtures)} fixtures)."))
        return True

    def ensure_demo_superuser(self):
        """The superuser to log in with (`admin`, or the first existing one), created when
        DEBUG is on and there is none; None when there is none."""
        User = get_user_model()
        superusers = User.objects.filter(is_superuser=True).order_by("pk")
        existing = superusers.filter(username=DEMO_USERNAME).first() or superusers.first()
        if existing is not None:
            self.stdout.write(
                "A superuser exists: log in with it. Lost the password? "
                "`python manage.py changepassword <username>`."
            )
            return existing
        if not settings.DEBUG:
            self.stdout.write(
                "No superuser and DEBUG is off: create one with `manage.py createsuperuser`."
            )
            return None
        password = secrets.token_urlsafe(12)
        login = User.objects.create_superuser(
            username=DEMO_USERNAME, email="admin@example.com", password=password
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo superuser created. Log in at /admin/ as '{DEMO_USERNAME}' "
                f"with password: {password}"
            )
        )
        return login

    def give_next_steps(self, login) -> None:
        """Give the open deals and the contacts next steps dated from today (DEAL_STEPS,
        CONTACT_STEPS), the contacts owners (the login at its places, else the demo's other
        users in turn), and the login its share of the open deals, through the services."""
        today = timezone.localdate()
        others = list(
            get_user_model().objects.filter(is_superuser=False, is_staff=True).order_by("username")
        )
        deals = list(
            Deal.objects.filter(stage__outcome=Stage.Outcome.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if login is not None:
            services.deals_assign_owner(
                deals=Deal.objects.filter(pk__in=deals[::LOGIN_DEALS]), owner=login
            )
        contacts = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
        owners = defaultdict(list)
        for i, pk in enumerate(contacts):
            if login is not None and i % LOGIN_CONTACTS == 0:
                owners[login].append(pk)
            elif others:
                owners[others[i % len(others)]].append(pk)
        for owner, pks in owners.items():
            Contact.objects.filter(pk__in=pks).update(owner=owner)
        for model, pks, plan in ((Deal, deals, DEAL_STEPS), (Contact, contacts, CONTACT_STEPS)):
            for (text, due), step_pks in _steps_by_value(pks, plan, today).items():
                rows = model.objects.filter(pk__in=step_pks)
                services.next_steps_set(rows=rows, text=text, due=due)
        self.stdout.write(
            "Gave the demo's open deals and contacts next steps from today"
            + (f"; '{login.get_username()}' owns some of them." if login is not None else ".")
        )
