"""`manage.py crm_seed`: fill the database with realistic CRM data, fast, at any size."""

import functools
import itertools
import operator
import random
import re
import time
from bisect import bisect
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.test.utils import override_settings
from django.utils import timezone

from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.folding import fold
from crm_admin.management.seed_duplicates import (
    COMPANY_TWIN_SHARE,
    CONTACT_TWIN_SHARE,
    PHONE_SHARE,
    Phones,
    twin_name,
    website_variant,
)
from crm_admin.matching import company_name_key, domain_key
from crm_admin.models import (
    NEXT_STEP_WEEK_DAYS,
    Company,
    Contact,
    ContactNote,
    Deal,
    DealNote,
    Stage,
    Tag,
    latest_contact,
)

# Word lists packed by hand: one entry per line would make them 800 lines long.
# fmt: off
FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra",
    "Donald", "Ashley", "Steven", "Emily", "Paul", "Kimberly", "Andrew", "Donna", "Joshua",
    "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah",
    "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura", "Edward", "Sharon", "Jeffrey",
    "Cynthia", "Ryan", "Kathleen", "Jacob", "Amy", "Gary", "Angela", "Nicholas", "Shirley", "Eric",
    "Anna", "Jonathan", "Brenda", "Stephen", "Pamela", "Larry", "Emma", "Justin", "Nicole",
    "Scott", "Helen", "Brandon", "Samantha", "Benjamin", "Katherine", "Samuel", "Christine",
    "Gregory", "Debra", "Alexander", "Rachel", "Frank", "Carolyn", "Patrick", "Janet", "Raymond",
    "Maria", "Jack", "Olivia", "Dennis", "Heather", "Jerry", "Diane", "Tyler", "Julie", "Aaron",
    "Joyce", "Jose", "Victoria", "Adam", "Kelly", "Nathan", "Christina", "Henry", "Lauren",
    "Zachary", "Joan", "Douglas", "Evelyn", "Peter", "Judith", "Kyle", "Megan", "Noah", "Andrea",
    "Ethan", "Cheryl", "Jeremy", "Hannah", "Walter", "Jacqueline", "Christian", "Martha", "Keith",
    "Gloria", "Roger", "Teresa", "Terry", "Ann", "Austin", "Sara", "Sean", "Madison", "Gerald",
    "Frances", "Carl", "Kathryn", "Harold", "Janice", "Dylan", "Jean", "Arthur", "Abigail",
    "Lawrence", "Alice", "Jordan", "Judy", "Jesse", "Sophia", "Bryan", "Grace", "Billy", "Denise",
    "Bruce", "Amber", "Gabriel", "Doris", "Joe", "Marilyn", "Logan", "Danielle", "Alan", "Beverly",
    "Juan", "Isabella", "Albert", "Theresa", "Willie", "Diana", "Elijah", "Natalie", "Wayne",
    "Brittany", "Randy", "Charlotte", "Vincent", "Marie", "Mason", "Kayla", "Roy", "Alexis",
    "Ralph", "Lori", "Bobby", "Aisha", "Priya", "Wei", "Yuki", "Omar", "Fatima", "Mateo", "Sofia",
    "Lars", "Ingrid", "Hiroshi", "Mei", "Rahul", "Ananya", "Kwame", "Amara", "Diego", "Lucia",
    "Pierre", "Camille", "Jonas", "Freya", "Nikolai", "Elena", "Tariq", "Leila", "Kenji", "Hana",
    "Arjun", "Zara", "Emeka", "Chiara", "Luca",
]

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed",
    "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez",
    "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
    "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray",
    "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods",
    "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker",
    "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez",
    "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer",
    "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills",
    "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto",
    "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins",
    "Arnold", "Pierce", "Hansen", "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott",
    "Cunningham", "Duncan", "Armstrong", "Hudson", "Carroll", "Lane", "Riley", "Andrews", "Ray",
    "Berry", "Perkins", "Hoffman", "Johnston", "Matthews", "O'Brien", "Nakamura", "Tanaka", "Sato",
    "Suzuki", "Wang", "Zhang", "Liu", "Singh", "Kumar", "Sharma", "Okafor", "Mensah", "Mueller",
    "Schneider", "Fischer", "Weber", "Becker", "Rossi", "Russo", "Ferrari", "Bianchi", "Dubois",
    "Laurent", "Moreau", "Lefebvre", "Jansen", "Novak", "Kowalski", "Nowak", "Petrov", "Ivanova",
    "Larsen", "Nielsen", "Johansson", "Lindqvist", "Haddad", "Khalil", "Costa",
]

COMPANY_WORDS = [
    "Blue", "Bright", "North", "South", "East", "West", "Silver", "Golden", "Green", "Red",
    "Summit", "Harbor", "River", "Pine", "Oak", "Cedar", "Maple", "Stone", "Iron", "Copper",
    "Crystal", "Clear", "Swift", "Rapid", "Prime", "Apex", "Vertex", "Nova", "Stellar", "Lunar",
    "Solar", "Atlas", "Orion", "Polar", "Coastal", "Alpine", "Prairie", "Metro", "Urban", "Civic",
    "Pioneer", "Frontier", "Liberty", "Heritage", "Unity", "Keystone", "Cornerstone", "Beacon",
    "Lighthouse", "Anchor", "Compass", "Falcon", "Eagle", "Hawk", "Fox", "Wolf", "Bear", "Lion",
    "Tiger", "Bison", "Granite", "Quartz", "Cobalt", "Indigo", "Crimson", "Amber", "Emerald",
]

COMPANY_NOUNS = [
    "Systems", "Solutions", "Technologies", "Labs", "Dynamics", "Logistics", "Analytics",
    "Networks", "Software", "Partners", "Ventures", "Industries", "Manufacturing", "Foods",
    "Health", "Energy", "Capital", "Consulting", "Media", "Designs", "Robotics", "Bio", "Pharma",
    "Freight", "Materials", "Retail", "Outfitters", "Builders", "Foundry", "Works", "Studios",
    "Digital", "Data", "Cloud", "Security", "Insurance", "Finance", "Realty", "Hospitality",
    "Motors", "Electric", "Textiles", "Printing", "Packaging", "Marine", "Aerospace", "Farms",
    "Brewing", "Education", "Travel",
]

COMPANY_SUFFIXES = ["Inc", "LLC", "Ltd", "Group", "GmbH", "Co", "Corp", "AG", "BV", "SA", ""]

INDUSTRIES = [
    "Software", "Manufacturing", "Retail", "Healthcare", "Financial services", "Logistics",
    "Construction", "Education", "Energy", "Hospitality", "Media", "Consulting", "Real estate",
    "Telecommunications", "Food and beverage", "Automotive", "Pharmaceuticals", "Insurance",
    "Non-profit", "Agriculture",
]

TOP_LEVEL_DOMAINS = ["com"] * 7 + ["io", "co", "net", "de", "co.uk", "fr", "nl"]
FREE_MAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com"]

JOB_TITLES = [
    "CEO", "CTO", "CFO", "COO", "Founder", "VP of Sales", "VP of Engineering", "VP of Marketing",
    "Head of Procurement", "Head of Operations", "IT Manager", "Operations Manager",
    "Purchasing Manager", "Marketing Manager", "Product Manager", "Project Manager",
    "Office Manager", "Account Manager", "Software Engineer", "Data Analyst", "Finance Director",
    "HR Director", "Sales Director", "Business Analyst", "Consultant", "Buyer",
    "Facilities Manager", "Head of Customer Success",
]

TAG_NAMES = [
    "VIP", "Newsletter", "Partner", "Enterprise", "SMB", "Mid-market", "Referral", "Trade fair",
    "Webinar", "Inbound", "Outbound", "Renewal", "Upsell", "Churn risk", "Decision maker",
    "Champion", "Technical buyer", "Budget approved", "EMEA", "APAC", "Americas", "Public sector",
    "Startup", "Pilot", "Q1 target", "Q2 target", "Q3 target", "Q4 target", "Follow-up", "Cold",
]

OWNER_NAMES = [
    ("Alex", "Morgan"),
    ("Sam", "Rivera"),
    ("Jordan", "Lee"),
    ("Taylor", "Brooks"),
    ("Casey", "Nguyen"),
    ("Jamie", "Fischer"),
    ("Robin", "Okafor"),
    ("Drew", "Tanaka"),
    ("Avery", "Rossi"),
    ("Quinn", "Larsen"),
]

DEAL_OFFERS = [
    "annual licence", "licence renewal", "seat expansion", "pilot project", "onboarding package",
    "support plan", "analytics add-on", "data migration", "enterprise upgrade",
    "multi-year agreement", "training days", "integration project", "hardware refresh",
    "managed service", "consulting retainer",
]

NOTE_TOPICS = [
    "pricing for next year", "the onboarding timeline", "the integration with their ERP",
    "our security questionnaire", "renewal terms", "a pilot for their second site",
    "budget approval", "the contract redlines", "support response times", "the reference call",
    "volume discounts", "the rollout plan",
]
NOTE_NEXT_STEPS = [
    "Follow up next week.", "Waiting for their procurement team.", "Sent the proposal afterwards.",
    "They will bring in their CFO.", "Booked a demo for Thursday.", "Needs a revised quote.",
    "No decision before the next quarter.", "Positive, asked for the order form.",
    "Shared two case studies.",
]
DEAL_NEXT_STEP_TEXTS = [
    "Send the revised quote", "Book a demo with their team", "Chase the signed order form",
    "Call to agree the pilot scope", "Follow up on the proposal", "Confirm the budget with the CFO",
    "Answer the security questionnaire", "Schedule the kick-off call", "Send the contract redlines",
    "Share two reference customers", "Walk their IT team through the integration",
]
CONTACT_NEXT_STEP_TEXTS = [
    "Call to catch up", "Send the new case study", "Invite to the webinar",
    "Ask for an introduction to procurement", "Check in after their trade fair",
    "Send the product update", "Book a lunch meeting", "Ask how the rollout is going",
]
# fmt: on
NOTE_TEMPLATES = [
    "Call with {first} about {topic}. {next}",
    "Emailed {first} regarding {topic}. {next}",
    "Met {first} at their office; discussed {topic}. {next}",
    "Video call with {first} and team on {topic}. {next}",
    "Left a voicemail for {first} about {topic}.",
    "{first} asked about {topic}. {next}",
]

STATUS_WEIGHTS = {
    Contact.Status.NEW: 20,
    Contact.Status.CONTACTED: 30,
    Contact.Status.IN_DISCUSSION: 20,
    Contact.Status.PENDING_RESPONSE: 15,
    Contact.Status.INACTIVE: 15,
}
# How many tags a contact or a deal carries (index = number of tags), as relative weights.
CONTACT_TAG_COUNT_WEIGHTS = [35, 35, 20, 10]
DEAL_TAG_COUNT_WEIGHTS = [45, 35, 15, 5]

# Next steps, so that My day and the next-step filters show every case: the share of open
# deals and of contacts whose step is due in a range of days from today (overdue, today,
# this week, later), or undated; the rest have none. Closed deals have none (the rule's).
WEEK = NEXT_STEP_WEEK_DAYS
DEAL_NEXT_STEPS = [
    ((-30, -1), 0.12),  # overdue
    ((0, 0), 0.05),  # due today
    ((1, WEEK), 0.15),  # this week
    ((WEEK + 1, 60), 0.13),  # later
    (None, 0.10),  # undated
]
CONTACT_NEXT_STEPS = [
    ((-30, -1), 0.05),
    ((0, 0), 0.02),
    ((1, WEEK), 0.06),
    ((WEEK + 1, 90), 0.07),
    (None, 0.05),
]
CONTACT_OWNER_SHARE = 0.85

# Stage histories. A deal starts in the first open stage (else a later one) and moves along
# the open stages; a closed deal was won from the last open stage it reached (else an earlier
# one) or lost from any; a few went back a stage and on again, a few open ones were lost and
# reopened. Days in a stage are drawn around a mean rising along the pipeline.
STARTS_AT_FIRST_STAGE = 0.8
WON_FROM_LAST_STAGE = 0.7
WENT_BACK = 0.06
REOPENED = 0.02
MEAN_DAYS_IN_STAGE = (10, 8)  # the first open stage's, and how much each next one adds
MEAN_DAYS_CLOSED_BEFORE_REOPENING = 20
OPEN_DEAL_MEAN_AGE_DAYS = 60
# Of the shipped reasons (migration 0013), in their order; any other reason weighs the last.
LOST_REASON_WEIGHTS = [30, 25, 15, 15, 10, 5]

YEAR = timedelta(days=365)
SQLITE_SEED_CACHE_KIB = 256 * 1024


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


@functools.cache
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _email_domain(company_name: str, website: str) -> str:
    host = urlsplit(website).hostname or ""
    return host.removeprefix("www.") or f"{_slug(company_name) or 'example'}.com"


@contextmanager
def _keep_given_timestamps(*model_classes):
    """Stop auto_now/auto_now_add from overwriting the timestamps set on seeded rows.

    bulk_create runs each field's pre_save, which would stamp every row with the seed's
    wall-clock time: the deal list's -created_at order and "closed after created" would
    then mean nothing. The flags are restored on exit, also on error.
    """
    fields = [
        field
        for model in model_classes
        for field in model._meta.concrete_fields
        if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add)
    ]
    saved = [(field, field.auto_now, field.auto_now_add) for field in fields]
    for field in fields:
        field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


@contextmanager
def _without_query_log():
    """Turn DEBUG off while seeding, so that Django stops logging every query.

    Under DEBUG each INSERT of up to 999 parameters is kept as text, and on SQLite first
    re-quoted by an extra query: a fifth of a 100k-row seed's time and ~100 MB of memory.
    """
    if not settings.DEBUG:
        yield
        return
    with override_settings(DEBUG=False):
        yield


@contextmanager
def _sqlite_large_cache():
    """Give this SQLite connection a 256 MiB page cache while seeding, then restore it.

    Inserts land at random places in the email, name and foreign-key indexes; with SQLite's
    default 2 MiB cache every batch re-reads and spills index pages, which nearly doubles
    the time of a 100k-row seed. A no-op on other databases.
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_SEED_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


class Command(BaseCommand):
    help = (
        "Add realistic companies, contacts, deals, notes and tag links to the database. "
        "Tags and sales owners (of deals and contacts) are a shared pool; a share of open "
        "deals and contacts get next steps due around today. Every deal gets the stage history "
        "that brought it to its stage (moved by its owner), every lost deal a lost reason. "
        "Emails, company names and phone numbers stay unique across repeated runs, but for "
        "about 1% of companies and contacts seeded as near-duplicates of others (another "
        "spelling of a name, a shared website, the same phone written another way)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--companies", type=_non_negative, default=200)
        parser.add_argument("--contacts", type=_non_negative, default=1000)
        parser.add_argument("--deals", type=_non_negative, default=1000)
        parser.add_argument(
            "--notes",
            type=_non_negative,
            default=2000,
            help="Notes in total: half on the new deals, the rest on the new contacts.",
        )
        parser.add_argument(
            "--tags",
            type=_non_negative,
            default=20,
            help="Size of the tag pool to link to; missing tags are created.",
        )
        parser.add_argument(
            "--owners",
            type=_non_negative,
            default=5,
            help=f"Staff 'sales' users owning the deals and contacts (at most {len(OWNER_NAMES)}); "
            "missing ones are created with unusable passwords.",
        )
        parser.add_argument("--batch-size", type=_positive, default=5000)
        parser.add_argument("--seed", type=int, default=None, help="Random seed (repeatable).")

    def handle(self, *args, **options):
        """Add the requested rows in one transaction, or nothing on error.

        Cost: one SELECT each for the existing company names, contact emails and phone keys
        (kept in memory to stay unique), then one INSERT per --batch-size rows and table (SQLite's
        999-parameter limit makes Django split those into ~100-row statements). Memory is
        roughly 1 KB per contact or deal, for the plans that keep notes and last contacts
        consistent. About 12-15k rows/s on SQLite and PostgreSQL on a 2-core machine.
        """
        n_contacts, n_deals, n_notes = options["contacts"], options["deals"], options["notes"]
        if (n_deals or n_notes) and not n_contacts:
            raise CommandError("Deals and notes are attached to new contacts: pass --contacts.")
        if options["owners"] > len(OWNER_NAMES):
            raise CommandError(f"At most {len(OWNER_NAMES)} owners are supported.")
        seed = options["seed"] if options["seed"] is not None else random.randrange(10**6)
        self.rng = random.Random(seed)
        self.batch_size = options["batch_size"]
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)  # the day My day and the filters call today
        self.verbose = options["verbosity"] > 0
        self.counts: dict[str, int] = {}
        started = time.perf_counter()

        with (
            _without_query_log(),
            _sqlite_large_cache(),
            transaction.atomic(),
            _keep_given_timestamps(Company, Contact, Deal),
        ):
            stages = list(Stage.objects.order_by("order", "id"))
            if n_deals and not any(stage.outcome == Stage.Outcome.OPEN for stage in stages):
                raise CommandError("No open pipeline stage exists; run migrate for the defaults.")
            self.owner_ids = self._ensure_owners(options["owners"])
            # Who moved a deal through its stages: its owner (the history rows' author).
            self.owner_users = {pk: get_user_model()(pk=pk) for pk in self.owner_ids}
            self.lost_reasons = list(LostReason.objects.order_by("order", "id"))
            self.open_stages = [s for s in stages if s.outcome == Stage.Outcome.OPEN]
            self.lost_stages = [s for s in stages if s.outcome == Stage.Outcome.LOST]
            first, step = MEAN_DAYS_IN_STAGE
            self.mean_days = {s.pk: MEAN_DAYS_CLOSED_BEFORE_REOPENING for s in stages}
            self.mean_days |= {s.pk: first + step * i for i, s in enumerate(self.open_stages)}
            self.tag_ids = self._ensure_tags(options["tags"])
            companies = self._create_companies(options["companies"])
            if not companies:
                companies = list(Company.objects.values_list("id", "name", "website"))
            contacts = self._plan_contacts(n_contacts, companies)
            deals = self._plan_deals(n_deals, contacts, stages)
            deal_notes, contact_notes = self._plan_notes(n_notes, contacts, deals)
            contact_ids = self._create_contacts(contacts, companies)
            deal_ids = self._create_deals(deals, contacts, contact_ids, companies)
            self._create_tag_links(Contact, contact_ids, CONTACT_TAG_COUNT_WEIGHTS)
            self._create_tag_links(Deal, deal_ids, DEAL_TAG_COUNT_WEIGHTS)
            self._create_notes(deal_notes, contact_notes, contacts, contact_ids, deals, deal_ids)

        elapsed = time.perf_counter() - started
        rows = sum(self.counts.values())
        if self.verbose:
            self.stdout.write(
                self.style.SUCCESS(f"Seeded {rows:,} rows in {elapsed:.1f}s")
                + f" ({rows / max(elapsed, 1e-9):,.0f} rows/s, --seed {seed})"
            )
            for label, count in self.counts.items():
                self.stdout.write(f"  {label:<16} {count:>10,}")

    # Pools that repeated runs share rather than grow.

    def _ensure_owners(self, count: int) -> list[int]:
        User = get_user_model()
        wanted = {f"{first}.{last}".lower(): (first, last) for first, last in OWNER_NAMES[:count]}
        existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
        new_users = []
        for username, (first, last) in wanted.items():
            if username not in existing:
                user = User(
                    username=username,
                    first_name=first,
                    last_name=last,
                    email=f"{username}@example.com",
                    is_staff=True,
                )
                user.set_unusable_password()
                new_users.append(user)
        User.objects.bulk_create(new_users)
        self.counts["owners"] = len(new_users)
        return list(User.objects.filter(username__in=wanted).values_list("id", flat=True))

    def _ensure_tags(self, count: int) -> list[int]:
        names = TAG_NAMES[:count] + [f"Segment {n}" for n in range(1, count - len(TAG_NAMES) + 1)]
        pool = Tag.objects.filter(name_key__in=[fold(name) for name in names])
        have = set(pool.values_list("name_key", flat=True))
        new_tags = [Tag(name=name) for name in names if fold(name) not in have]
        Tag.objects.bulk_create(new_tags)
        self.counts["tags"] = len(new_tags)
        return list(pool.order_by("id").values_list("id", flat=True))

    # Rows added on every run, inserted oldest first so that ids grow with created_at as
    # they do in real use.

    def _create_companies(self, count: int) -> list[tuple[int, str, str]]:
        """Return (id, name, website) of the new companies. Names are unique, also once their
        legal form is dropped (crm_admin.matching's name key), and so are website domains,
        but for the COMPANY_TWIN_SHARE that repeat a company seeded before
        (crm_admin/management/seed_duplicates.py)."""
        rng, now = self.rng, self.now
        rows_now = list(Company.objects.values_list("name_key", "name_match_key", "domain_key"))
        taken = {name_key for name_key, _match_key, _domain in rows_now}
        taken_keys = {match_key for _name_key, match_key, _domain in rows_now}
        taken_domains = {domain for _name_key, _match_key, domain in rows_now}
        created = sorted(now - 3 * YEAR * rng.random() for _ in range(count))
        seeded: list[tuple[str, str]] = []  # (name, website) of this run's companies

        keys: dict[str, str] = {}  # the name keys free() computed, for the name it accepts

        def free(name: str) -> bool:
            if fold(name) in taken:
                return False
            keys[name] = company_name_key(name)
            return keys[name] not in taken_keys

        def twin() -> tuple[str, str] | None:
            name, website = seeded[rng.randrange(len(seeded))]
            if rng.random() < 0.6:
                variant = twin_name(rng, name, taken)
                return (variant, website_variant(rng, website)) if variant else None
            return self._unique_company_name(free), website_variant(rng, website)

        def rows():
            for born in created:
                made = twin() if seeded and rng.random() < COMPANY_TWIN_SHARE else None
                if made is None:
                    name = self._unique_company_name(free)
                    stem, _, suffix = name.rpartition(" ")
                    slug = _slug(stem if suffix in COMPANY_SUFFIXES else name)
                    domain, number = f"{slug}.{rng.choice(TOP_LEVEL_DOMAINS)}", 1
                    while domain in taken_domains:
                        number += 1
                        domain = f"{slug}{number}.{rng.choice(TOP_LEVEL_DOMAINS)}"
                    made = name, f"https://www.{domain}"
                name, website = made
                taken.add(fold(name))
                taken_keys.add(keys.get(name) or company_name_key(name))
                keys.clear()
                taken_domains.add(domain_key(website))
                seeded.append(made)
                yield Company(
                    name=name,
                    industry=rng.choice(INDUSTRIES) if rng.random() < 0.95 else "",
                    website=website,
                    created_at=born,
                    updated_at=_between(rng, born, now),
                )

        def keep(company):
            return company.pk, company.name, company.website

        return self._bulk_create(Company, "companies", rows(), count, keep=keep)

    def _unique_company_name(self, free) -> str:
        """A company name that free(name) accepts: drawn again a few times, then numbered."""
        name = self._company_name()
        for _attempt in range(5):
            if free(name):
                return name
            name = self._company_name()
        base, number = name, 1
        while not free(name):
            number += 1
            name = f"{base} {number}"
        return name

    def _company_name(self) -> str:
        rng = self.rng
        shape = rng.random()
        if shape < 0.2:
            words = [rng.choice(COMPANY_WORDS), rng.choice(COMPANY_NOUNS)]
        elif shape < 0.55:
            # Two words and a noun: enough names for a large seed to keep them unique.
            words = [*rng.sample(COMPANY_WORDS, 2), rng.choice(COMPANY_NOUNS)]
        elif shape < 0.75:
            words = [rng.choice(LAST_NAMES), rng.choice(COMPANY_NOUNS)]
        elif shape < 0.9:
            words = [rng.choice(LAST_NAMES), "&", rng.choice(LAST_NAMES)]
        else:
            words = [rng.choice(COMPANY_WORDS) + rng.choice(COMPANY_NOUNS).lower()]
        suffix = rng.choice(COMPANY_SUFFIXES)
        return " ".join([*words, suffix] if suffix else words)

    def _plan_contacts(self, count: int, companies: list) -> dict[str, list]:
        """Decide per contact what deals and notes depend on: creation time, company, name,
        status and last contact, and its phone. Plans are parallel lists, far lighter than
        model instances."""
        rng, now = self.rng, self.now
        created = sorted(now - 2 * YEAR * rng.random() for _ in range(count))
        statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count)
        company, last_contacted, owner = [], [], []
        for born, status in zip(created, statuses, strict=True):
            # A squared draw makes a few companies hold many contacts, as in real books.
            has_company = companies and rng.random() < 0.88
            company.append(int(len(companies) * rng.random() ** 2) if has_company else None)
            if status == Contact.Status.NEW or rng.random() < 0.1:
                last_contacted.append(None)
            else:
                last_contacted.append(_between(rng, max(born, now - YEAR), now))
            has_owner = self.owner_ids and rng.random() < CONTACT_OWNER_SHARE
            owner.append(rng.choice(self.owner_ids) if has_owner else None)
        plan = {
            "created": created,
            "company": company,
            "status": statuses,
            "last_contacted": last_contacted,
            "owner": owner,
            "first_name": rng.choices(FIRST_NAMES, k=count),
            "last_name": rng.choices(LAST_NAMES, k=count),
        }
        self._plan_phones_and_twins(plan)
        return plan

    def _plan_phones_and_twins(self, plan: dict) -> None:
        """Give the planned contacts their phones (unique, "phone" and "phone_key"), and make
        CONTACT_TWIN_SHARE of them a second record of a contact planned before: its phone
        written another way under its name, or its name at its company (which the twin's
        email then differs from). Reads the phone keys stored (one query)."""
        rng = self.rng
        phones = Phones(
            rng, Contact.objects.exclude(phone_key="").values_list("phone_key", flat=True)
        )
        texts, keys = [], []
        for index in range(len(plan["created"])):
            if index and rng.random() < CONTACT_TWIN_SHARE:
                first = rng.randrange(index)
                for field in ("first_name", "last_name"):
                    # A careless second entry: sometimes all in lower case.
                    name = plan[field][first]
                    plan[field][index] = name.lower() if rng.random() < 0.25 else name
                if keys[first] and (plan["company"][first] is None or rng.random() < 0.5):
                    texts.append(phones.rewritten(keys[first], texts[first]))
                    keys.append(keys[first])
                    continue
                plan["company"][index] = plan["company"][first]
            key, text = phones.new() if rng.random() < PHONE_SHARE else ("", "")
            texts.append(text)
            keys.append(key)
        plan["phone"], plan["phone_key"] = texts, keys

    def _plan_deals(self, count: int, contacts: dict, stages: list[Stage]) -> dict[str, list]:
        """Decide per deal its contact, creation time, stage, probability (rising along the
        open stages) and owner. The stages it went through on the way, and what a closed
        stage means for it, come in _create_deals (the product's rule)."""
        rng, now = self.rng, self.now
        by_outcome = {
            outcome: [s for s in stages if s.outcome == outcome] for outcome in Stage.Outcome
        }
        open_stages = by_outcome[Stage.Outcome.OPEN]
        # A funnel: earlier open stages hold more deals; won and lost share the closed rest.
        weights, base_probability = {}, {}
        for position, stage in enumerate(open_stages):
            weights[stage.pk] = 60 * (len(open_stages) - position) / len(open_stages)
            base_probability[stage.pk] = round(90 * (position + 1) / (len(open_stages) + 1))
        for outcome, share in ((Stage.Outcome.WON, 22), (Stage.Outcome.LOST, 18)):
            for stage in by_outcome[outcome]:
                weights[stage.pk] = share / len(by_outcome[outcome])
        cumulative = list(itertools.accumulate(weights[s.pk] for s in stages))

        n_contacts = len(contacts["created"])
        started = []
        for who in (rng.randrange(n_contacts) for _ in range(count)):
            born = _between(rng, contacts["created"][who], now)
            stage = stages[bisect(cumulative, rng.random() * cumulative[-1])]
            if not stage.is_closed:
                # Deals still open are mostly young: the old ones were won or lost.
                age = timedelta(days=rng.expovariate(1 / OPEN_DEAL_MEAN_AGE_DAYS))
                born = max(born, now - age)
            started.append((born, who, stage))
        started.sort(key=operator.itemgetter(0))
        plan = {key: [] for key in ("created", "contact", "stage", "probability", "owner")}
        for born, who, stage in started:
            if stage.is_closed:
                probability = None  # the rule's: 100 won, 0 lost
            else:
                jitter = 5 * rng.randint(-2, 2)
                probability = min(95, max(5, base_probability[stage.pk] + jitter))
            has_owner = self.owner_ids and rng.random() < 0.92
            plan["created"].append(born)
            plan["contact"].append(who)
            plan["stage"].append(stage)
            plan["probability"].append(probability)
            plan["owner"].append(rng.choice(self.owner_ids) if has_owner else None)
        return plan

    def _stage_path(self, final: Stage) -> list[Stage]:
        """The stages a deal now in `final` went through, its creation's first."""
        rng, open_stages = self.rng, self.open_stages
        last = len(open_stages) - 1
        if not final.is_closed:
            reached = open_stages.index(final)
        elif final.outcome == Stage.Outcome.WON and rng.random() < WON_FROM_LAST_STAGE:
            reached = last
        else:
            reached = rng.randint(0, last)
        first = 0 if rng.random() < STARTS_AT_FIRST_STAGE else rng.randint(0, reached)
        path = open_stages[first : reached + 1]
        if len(path) > 1 and rng.random() < WENT_BACK:
            back = rng.randint(1, len(path) - 1)
            path[back + 1 : back + 1] = [path[back - 1], path[back]]
        if final.is_closed:
            path.append(final)
        elif self.lost_stages and rng.random() < REOPENED:
            path[-1:-1] = [rng.choice(self.lost_stages)]
        return path

    def _stage_moves(self, born: datetime, path: list[Stage]) -> list[tuple[Stage, datetime]]:
        """When the deal entered each stage of `path`: created at `born`, then after a stay in
        each stage drawn around its mean, squeezed into the time since `born` if they would
        run past now; an open deal has been in its stage since."""
        rng = self.rng

        def stay(stage) -> float:  # days, at least an hour
            return max(rng.expovariate(1 / self.mean_days[stage.pk]), 1 / 24)

        stays = [stay(stage) for stage in path[:-1]]
        room, total = (self.now - born) / timedelta(days=1), sum(stays)
        if total > room:
            stays = [days * room * rng.uniform(0.5, 0.95) / total for days in stays]
        times = [born]
        for days in stays:
            times.append(times[-1] + timedelta(days=days))
        return list(zip(path, times, strict=True))

    def _lost_reason(self) -> LostReason | None:
        reasons = self.lost_reasons
        if not reasons:
            return None
        weights = [
            LOST_REASON_WEIGHTS[i] if i < len(LOST_REASON_WEIGHTS) else LOST_REASON_WEIGHTS[-1]
            for i in range(len(reasons))
        ]
        return self.rng.choices(reasons, weights=weights)[0]

    def _plan_notes(self, count: int, contacts: dict, deals: dict) -> tuple[list, list]:
        """Plan (time, deal index) and (time, contact index) per note, oldest first, and move
        each noted contact's last contact forward to its newest note: bulk_create skips the
        rule NoteBase.save() enforces."""
        rng, now = self.rng, self.now
        n_deals, n_contacts = len(deals["created"]), len(contacts["created"])
        on_deals = count // 2 if n_deals else 0
        deal_notes, contact_notes = [], []
        for _ in range(on_deals):
            index = rng.randrange(n_deals)
            at = _between(rng, max(deals["created"][index], now - YEAR), now)
            deal_notes.append((at, index))
            self._note_contacted(contacts, deals["contact"][index], at)
        for _ in range(count - on_deals):
            index = rng.randrange(n_contacts)
            at = _between(rng, max(contacts["created"][index], now - YEAR), now)
            contact_notes.append((at, index))
            self._note_contacted(contacts, index, at)
        return sorted(deal_notes), sorted(contact_notes)

    @staticmethod
    def _note_contacted(contacts: dict, index: int, at: datetime) -> None:
        # A note's one effect on its contact (NoteBase.save); the status stays what it was.
        contacts["last_contacted"][index] = latest_contact(contacts["last_contacted"][index], at)

    def _create_contacts(self, plan: dict, companies: list) -> list[int]:
        rng = self.rng
        taken = set(Contact.objects.values_list("email_key", flat=True))
        domains = [_email_domain(name, website) for _, name, website in companies]

        def rows():
            for i, company in enumerate(plan["company"]):
                first, last = plan["first_name"][i], plan["last_name"][i]
                domain = domains[company] if company is not None else rng.choice(FREE_MAIL_DOMAINS)
                born, last_contacted = plan["created"][i], plan["last_contacted"][i]
                next_step, next_step_due = self._next_step(
                    CONTACT_NEXT_STEPS, CONTACT_NEXT_STEP_TEXTS
                )
                yield Contact(
                    first_name=first,
                    last_name=last,
                    email=self._unique_email(taken, first, last, domain),
                    phone=plan["phone"][i],
                    title=rng.choice(JOB_TITLES) if rng.random() < 0.93 else "",
                    status=plan["status"][i],
                    last_contacted_at=last_contacted,
                    company_id=companies[company][0] if company is not None else None,
                    owner_id=plan["owner"][i],
                    next_step=next_step,
                    next_step_due=next_step_due,
                    created_at=born,
                    updated_at=max(born, last_contacted or born),
                )

        return self._bulk_create(Contact, "contacts", rows(), len(plan["company"]))

    def _unique_email(self, taken: set[str], first: str, last: str, domain: str) -> str:
        first, last = _slug(first), _slug(last)
        shape = self.rng.random()
        if shape < 0.6:
            local = f"{first}.{last}"
        elif shape < 0.8:
            local = f"{first[0]}{last}"
        elif shape < 0.9:
            local = f"{first}_{last}"
        else:
            local = f"{first}{last[0]}"
        email, number = f"{local}@{domain}", 1
        while fold(email) in taken:
            number += 1
            email = f"{local}{number}@{domain}"
        taken.add(fold(email))
        return email

    def _create_deals(self, plan: dict, contacts: dict, contact_ids: list, companies: list):
        rng, now = self.rng, self.now
        today = now.date()

        def rows():
            for i, who in enumerate(plan["contact"]):
                company = contacts["company"][who]
                if company is not None:
                    party = companies[company][1]
                else:
                    party = f"{contacts['first_name'][who]} {contacts['last_name'][who]}"
                deal = Deal(
                    title=f"{party} - {rng.choice(DEAL_OFFERS)}",
                    contact_id=contact_ids[who],
                    amount=self._amount(),
                    owner_id=plan["owner"][i],
                    created_at=plan["created"][i],
                )
                deal.actor = self.owner_users.get(plan["owner"][i])
                path = self._stage_path(plan["stage"][i])
                moves = self._stage_moves(deal.created_at, path)
                # The product's rule for each stage the deal entered, at the planned time.
                deal.seeded_history = deal.replay_stage_moves(
                    moves, lost_reason=self._lost_reason()
                )
                if plan["probability"][i] is not None:
                    # An open deal's probability as its owner rates it now (a reopened one
                    # kept the 0 of its loss, by the rule).
                    deal.probability = plan["probability"][i]
                if deal.closed_at is None:
                    deal.expected_close_date = today + timedelta(days=rng.randint(-30, 180))
                    deal.updated_at = _between(rng, deal.stage_entered_at, now)
                    deal.next_step, deal.next_step_due = self._next_step(
                        DEAL_NEXT_STEPS, DEAL_NEXT_STEP_TEXTS
                    )
                else:
                    closed_on = deal.closed_at.date()
                    deal.expected_close_date = closed_on + timedelta(days=rng.randint(-20, 10))
                    deal.updated_at = deal.closed_at
                yield deal

        self.history_rows = 0
        ids = self._bulk_create(
            Deal, "deals", rows(), len(plan["contact"]), after=self._create_stage_history
        )
        self.counts["stage changes"] = self.history_rows
        return ids

    def _create_stage_history(self, deals: list[Deal]) -> None:
        """The history rows of a batch of deals just inserted, in one bulk insert."""
        changes = []
        for deal in deals:
            for change in deal.seeded_history:
                change.deal_id = deal.pk
                changes.append(change)
        DealStageChange.objects.bulk_create(changes, batch_size=self.batch_size)
        self.history_rows += len(changes)

    def _next_step(self, shares: list, texts: list[str]) -> tuple[str, date | None]:
        """A next step drawn by `shares` ((day range from today, or None: undated), share),
        or none ("", None) for the rest."""
        rng = self.rng
        draw = rng.random()
        for days, share in shares:
            if draw < share:
                due = self.today + timedelta(days=rng.randint(*days)) if days else None
                return rng.choice(texts), due
            draw -= share
        return "", None

    def _amount(self) -> Decimal | None:
        rng = self.rng
        if rng.random() < 0.03:
            return None
        # Log-normal: most deals are a few thousand, a long tail reaches the millions.
        value = min(5_000_000, max(200, rng.lognormvariate(9.4, 1.1)))
        step = 50 if value < 10_000 else 500
        return Decimal(int(value // step * step))

    def _create_tag_links(self, model, object_ids: list[int], count_weights: list[int]) -> None:
        if not self.tag_ids:
            return
        rng = self.rng
        # Early tags in the pool are the popular ones, as with real tagging.
        tag_weights = [1 / (rank + 1) for rank in range(len(self.tag_ids))]
        tag_counts = rng.choices(
            range(len(count_weights)), weights=count_weights, k=len(object_ids)
        )
        pairs = [
            (object_id, tag_id)
            for object_id, how_many in zip(object_ids, tag_counts, strict=True)
            if how_many
            for tag_id in set(rng.choices(self.tag_ids, weights=tag_weights, k=how_many))
        ]
        through = model.tags.through
        object_field = f"{model._meta.model_name}_id"
        rows = (through(**{object_field: object_id, "tag_id": tag}) for object_id, tag in pairs)
        self._bulk_create(through, f"{model._meta.model_name} tags", rows, len(pairs), keep=None)

    def _create_notes(self, deal_notes, contact_notes, contacts, contact_ids, deals, deal_ids):
        rng = self.rng

        def text(first: str) -> str:
            return rng.choice(NOTE_TEMPLATES).format(
                first=first, topic=rng.choice(NOTE_TOPICS), next=rng.choice(NOTE_NEXT_STEPS)
            )

        def author() -> int | None:
            return rng.choice(self.owner_ids) if self.owner_ids else None

        deal_rows = (
            DealNote(
                deal_id=deal_ids[index],
                created_by_id=deals["owner"][index] or author(),
                text=text(contacts["first_name"][deals["contact"][index]]),
                created_at=at,
            )
            for at, index in deal_notes
        )
        self._bulk_create(DealNote, "deal notes", deal_rows, len(deal_notes), keep=None)
        contact_rows = (
            ContactNote(
                contact_id=contact_ids[index],
                created_by_id=contacts["owner"][index] or author(),
                text=text(contacts["first_name"][index]),
                created_at=at,
            )
            for at, index in contact_notes
        )
        self._bulk_create(ContactNote, "contact notes", contact_rows, len(contact_notes), keep=None)

    # Batching and progress.

    def _bulk_create(
        self, model, label: str, rows, total: int, keep=operator.attrgetter("pk"), after=None
    ):
        """Insert `rows` (any iterable of unsaved instances) --batch-size at a time and return
        keep(instance) for each, ids by default; keep=None returns nothing, to spare memory.
        after(batch), if given, runs on each batch once inserted (its rows have their ids)."""
        started = time.perf_counter()
        kept, done = [], 0
        for batch in itertools.batched(rows, self.batch_size):
            saved = model._base_manager.bulk_create(batch, batch_size=self.batch_size)
            if after is not None:
                after(saved)
            if keep is not None:
                kept.extend(map(keep, saved))
            done += len(batch)
            self._progress(label, done, total, started)
        self.counts[label] = done
        self._progress(label, done, total, started, final=True)
        return kept

    def _progress(self, label: str, done: int, total: int, started: float, final=False) -> None:
        if not self.verbose:
            return
        elapsed = time.perf_counter() - started
        line = f"  {label:<16} {done:>10,} / {total:<10,} {elapsed:6.1f}s"
        if final:
            rate = f"{done / elapsed:>10,.0f} rows/s" if elapsed else ""
            self.stdout.write(f"{'\r' if self.stdout.isatty() else ''}{line} {rate}")
        elif self.stdout.isatty():
            # One self-overwriting line per table; skipped when piped, where \r is noise.
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
