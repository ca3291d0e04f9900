import secrets
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from crm_admin import services
from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.models import Company, Contact, Deal, Stage

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

# Stage histories, rebuilt through the stage-outcome rule (the fixtures hold none). Every deal
# was created in the first open stage; an open deal in a later one moved there this many
# days before the demo is loaded (in turn), so that the dashboard's velocity and stale count
# follow the day; a won or lost deal went through the open stages before it, this many days
# apart, closing on its fixture's date. Lost deals take these reasons in turn.
OPEN_DAYS_IN_STAGE = [3, 20, 9, 45, 1, 16]
DAYS_BEFORE_CLOSING = [12, 30, 7, 21, 16]
LOST_REASONS = ["Price", "Competitor", "No budget", "Timing"]
# How many days an open deal may stay in a stage before it is stale.
STALE_AFTER_DAYS = {"Negotiation": 14}


def _steps_by_value(pks: list[int], plan: list, today: date) -> dict[tuple, list[int]]:
    """{(step, due date): ids} for `pks` taking `plan`'s places in turn, days made dates."""
    steps = defaultdict(list)
    for i, pk in enumerate(pks):
        step = plan[i % len(plan)]
        if step is not None:
            text, days = step
            steps[text, None if days is None else today + timedelta(days=days)].append(pk)
    return steps


def demo_fixtures() -> list[str]:
    """The demo data set's files, in load order: crm_admin/demo/ in an installed package,
    which pyproject.toml builds from a checkout's top-level fixtures/ (where the standalone
    product keeps them, loadable with loaddata)."""
    app_dir = Path(__file__).resolve().parents[2]
    for folder in (app_dir / "demo", app_dir.parent / "fixtures"):
        files = sorted(str(path) for path in folder.glob("*.json"))
        if files:
            return files
    raise CommandError(f"No demo data set in {app_dir / 'demo'}: reinstall the package.")


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
                # After the owners' shares: each deal's moves are its owner's.
                self.give_stage_histories()

    def load_demo_data(self) -> bool:
        if Company.objects.exists() or Contact.objects.exists() or Deal.objects.exists():
            self.stdout.write("CRM data already present: demo data not loaded.")
            return False
        fixtures = demo_fixtures()
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

    def give_stage_histories(self) -> None:
        """Give every deal a stage history (OPEN_DAYS_IN_STAGE, DAYS_BEFORE_CLOSING), each
        row by the deal's owner, the lost deals their reasons (LOST_REASONS), and the stages
        of STALE_AFTER_DAYS their limits. The moves are replayed through the stage-outcome
        rule (Deal.replay_stage_moves), which also sets when each deal entered its stage;
        one bulk UPDATE of the deals and one INSERT of their rows."""
        now = timezone.now()
        stages = list(Stage.objects.order_by("order", "id"))
        open_stages = [stage for stage in stages if stage.outcome == Stage.Outcome.OPEN]
        reasons = {reason.name: reason for reason in LostReason.objects.all()}
        reasons = [reasons[name] for name in LOST_REASONS if name in reasons]
        deals = list(Deal.objects.select_related("stage", "owner").order_by("pk"))
        changes = []
        opened = closed = lost = 0
        for deal in deals:
            if deal.stage.is_closed:
                # Through every open stage, a gap apart, closing on the fixture's date.
                gap = timedelta(days=DAYS_BEFORE_CLOSING[closed % len(DAYS_BEFORE_CLOSING)])
                path = [*open_stages, deal.stage]
                last = deal.closed_at
                closed += 1
            else:
                # Through the open stages before its own, a week apart, into its own lately.
                gap = timedelta(days=7)
                path = open_stages[: open_stages.index(deal.stage) + 1]
                last = now - timedelta(days=OPEN_DAYS_IN_STAGE[opened % len(OPEN_DAYS_IN_STAGE)])
                opened += 1
            times = [deal.created_at] + [last - gap * i for i in range(len(path) - 2, -1, -1)]
            # Never before the deal was created, nor two moves at once.
            moves = [
                (stage, max(at, deal.created_at + timedelta(hours=index)))
                for index, (stage, at) in enumerate(zip(path, times, strict=True))
            ]
            reason = None
            if deal.stage.outcome == Stage.Outcome.LOST and reasons:
                reason, lost = reasons[lost % len(reasons)], lost + 1
            deal.actor = deal.owner
            for change in deal.replay_stage_moves(moves, lost_reason=reason):
                change.deal = deal
                changes.append(change)
        Deal.objects.bulk_update(deals, Deal.STAGE_RULE_FIELDS)
        DealStageChange.objects.bulk_create(changes)
        for name, days in STALE_AFTER_DAYS.items():
            Stage.objects.filter(name=name).update(stale_after_days=days)
        self.stdout.write(
            f"Gave the demo's deals their stage histories ({len(changes)} stage changes); "
            "deals sitting too long in a stage show as stale."
        )

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
