import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from crm_admin.models import Company, Contact, Deal

FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures"
DEMO_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Load the demo data set once (only into a database without CRM records) and, when DEBUG "
        "is on and no superuser exists, create one with a random password printed here."
    )

    def handle(self, *args, **options):
        self.load_demo_data()
        self.ensure_demo_superuser()

    def load_demo_data(self) -> None:
        if Company.objects.exists() or Contact.objects.exists() or Deal.objects.exists():
            self.stdout.write("CRM data already present: demo data not loaded.")
            return
        fixtures = sorted(str(path) for path in FIXTURES_DIR.glob("*.json"))
        with transaction.atomic():
            call_command("loaddata", *fixtures, verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"Loaded the demo data ({len(fixtures)} fixtures)."))

    def ensure_demo_superuser(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "A superuser exists: log in with it. Lost the password? "
                "`python manage.py changepassword <username>`."
            )
            return
        if not settings.DEBUG:
            self.stdout.write(
                "No superuser and DEBUG is off: create one with `manage.py createsuperuser`."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(
            username=DEMO_USERNAME, email="admin@example.com", password=password
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo superuser created. Log in at /admin/ as '{DEMO_USERNAME}' "
                f"with password: {password}"
            )
        )
