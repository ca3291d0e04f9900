"""Tags, companies and contacts: the records a sales team keeps."""

from datetime import timedelta

from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.folding import FoldedKeyField, FoldedKeys, FoldedKeysQuerySet, fold
from crm_admin.matching import MatchKeyField
from crm_admin.models.next_steps import (
    NextStepFields,
    NextStepQuerySet,
    next_step_constraint,
    owner_field,
)


def _count_subquery(model, fk_name: str) -> Coalesce:
    """A correlated COUNT over `model` rows pointing at the outer row through `fk_name`.

    A subquery (rather than Count() over a join) keeps the changelist's COUNT(*) and paging
    queries free of GROUP BY, so a list page costs the same at 1k and 100k rows.
    """
    counted = (
        model.objects.filter(**{fk_name: OuterRef("pk")})
        .order_by()
        .values(fk_name)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=models.IntegerField()), 0)


class TagQuerySet(FoldedKeysQuerySet):
    def get_by_natural_key(self, name):
        return self.get(name_key=fold(name))

    def with_usage(self):
        from crm_admin.models.pipeline import Deal  # the pipeline's models build on these

        return self.annotate(
            contact_count=_count_subquery(Contact.tags.through, "tag"),
            deal_count=_count_subquery(Deal.tags.through, "tag"),
        )


class CompanyQuerySet(FoldedKeysQuerySet):
    def with_contact_count(self):
        return self.annotate(contact_count=_count_subquery(Contact, "company"))


def latest_contact(stored, at):
    """`last_contacted_at` once a contact at `at` is recorded on a contact whose value is
    `stored`: the later of the two. It never moves back and is never cleared (`at` None keeps
    `stored`). ContactQuerySet.touch() is the same rule as one UPDATE; notes use that one,
    the import (which writes many contacts, each with its own `at`) this one."""
    if at is None or (stored is not None and stored >= at):
        return stored
    return at


class ContactQuerySet(NextStepQuerySet, FoldedKeysQuerySet):
    def for_admin_list(self):
        return self.select_related("company").prefetch_related("tags")

    def not_contacted_for(self, *, days: int, now=None):
        """Contacts whose last contact is more than `days` days ago, or who were never contacted."""
        cutoff = (now or timezone.now()) - timedelta(days=days)
        return self.filter(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=cutoff))

    def touch(self, at) -> int:
        """Move `last_contacted_at` forward to `at` on these contacts, never back; one UPDATE.
        `latest_contact()` is the same rule for one contact in memory."""
        return self.filter(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=at)).update(
            last_contacted_at=at
        )


class Tag(FoldedKeys, models.Model):
    name = models.CharField(_("name"), max_length=50)
    name_key = FoldedKeyField(source="name")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name_key"],
                name="crm_tag_name_key_unique",
                violation_error_message=_("A tag with this name already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def natural_key(self):
        return (self.name,)


class Company(FoldedKeys, models.Model):
    name = models.CharField(_("name"), max_length=200)
    name_key = FoldedKeyField(source="name")
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    website = models.URLField(_("website"), blank=True)
    # Near-duplicate keys (crm_admin.matching), kept by every write path like name_key.
    name_match_key = MatchKeyField(rule="company_name")
    domain_key = MatchKeyField(rule="company_domain")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("companies")
        ordering = ["name", "id"]
        permissions = [
            ("import_company", _("Can import companies")),
            ("export_company", _("Can export companies")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["name_key"],
                name="crm_company_name_key_unique",
                violation_error_message=_("A company with this name already exists."),
            ),
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="crm_company_name_idx"),
            models.Index(fields=["industry"], name="crm_company_industry_idx"),
            models.Index(fields=["created_at"], name="crm_company_created_idx"),
            models.Index(
                fields=["name_match_key"],
                name="crm_company_name_match_idx",
                condition=~models.Q(name_match_key=""),
            ),
            models.Index(
                fields=["domain_key"],
                name="crm_company_domain_idx",
                condition=~models.Q(domain_key=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(FoldedKeys, NextStepFields):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        IN_DISCUSSION = "in_discussion", _("In discussion")
        PENDING_RESPONSE = "pending_response", _("Pending response")
        INACTIVE = "inactive", _("Inactive")

    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), max_length=254)
    email_key = FoldedKeyField(source="email")
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    phone_key = MatchKeyField(rule="contact_phone")
    title = models.CharField(_("job title"), max_length=100, blank=True)
    name_match_key = MatchKeyField(rule="contact_name")
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW
    )
    last_contacted_at = models.DateTimeField(_("last contacted"), null=True, blank=True)
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contacts",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="contacts")
    # Who looks after the relationship; a deal's owner stays the deal's own.
    owner = owner_field(related_name="contacts")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        permissions = [
            ("import_contact", _("Can import contacts")),
            # Contacts are people's personal data: exporting them is a right of its own.
            ("export_contact", _("Can export contacts")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["email_key"],
                name="crm_contact_email_key_unique",
                violation_error_message=_("A contact with this email already exists."),
            ),
            next_step_constraint("contact"),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="crm_contact_name_idx"),
            models.Index(fields=["status"], name="crm_contact_status_idx"),
            models.Index(fields=["last_contacted_at"], name="crm_contact_lastcontact_idx"),
            models.Index(fields=["created_at"], name="crm_contact_created_idx"),
            # My day (an owner's steps by date) and the lists sorted by next step.
            models.Index(fields=["owner", "next_step_due"], name="crm_contact_owner_step_idx"),
            models.Index(fields=["next_step_due", "id"], name="crm_contact_step_due_idx"),
            # Near duplicates: the same phone, or the same name at the same company.
            models.Index(
                fields=["phone_key"],
                name="crm_contact_phone_key_idx",
                condition=~models.Q(phone_key=""),
            ),
            models.Index(
                fields=["company", "name_match_key"],
                name="crm_contact_name_match_idx",
                condition=~models.Q(name_match_key="") & models.Q(company__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def clean(self):
        super().clean()
        self.email = (self.email or "").strip()

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)
