from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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


class TagQuerySet(models.QuerySet):
    def get_by_natural_key(self, name):
        return self.get(name__iexact=name)

    def with_usage(self):
        return self.annotate(
            contact_count=_count_subquery(Contact.tags.through, "tag"),
            deal_count=_count_subquery(Deal.tags.through, "tag"),
        )


class CompanyQuerySet(models.QuerySet):
    def with_contact_count(self):
        return self.annotate(contact_count=_count_subquery(Contact, "company"))


class ContactQuerySet(models.QuerySet):
    def for_admin_list(self):
        return self.select_related("company").prefetch_related("tags")

    def not_contacted_for(self, *, days: int, now=None):
        """Contacts whose last contact is more than `days` days ago, or who were never contacted."""
        cutoff = (now or timezone.now()) - timedelta(days=days)
        return self.filter(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=cutoff))

    def touch(self, at) -> int:
        """Move `last_contacted_at` forward to `at` on these contacts, never back; one UPDATE."""
        return self.filter(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=at)).update(
            last_contacted_at=at
        )


class StageQuerySet(models.QuerySet):
    def with_deal_count(self):
        return self.annotate(deal_count=_count_subquery(Deal, "stage"))

    def get_by_natural_key(self, name):
        return self.get(name=name)


class DealQuerySet(models.QuerySet):
    def for_admin_list(self):
        return self.select_related("contact__company", "stage", "owner")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="crm_tag_name_ci_unique",
                violation_error_message=_("A tag with this name already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def natural_key(self):
        return (self.name,)


class Company(models.Model):
    name = models.CharField(_("name"), max_length=200)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    website = models.URLField(_("website"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("companies")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="crm_company_name_ci_unique",
                violation_error_message=_("A company with this name already exists."),
            ),
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="crm_company_name_idx"),
            models.Index(fields=["industry"], name="crm_company_industry_idx"),
            models.Index(fields=["created_at"], name="crm_company_created_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        IN_DISCUSSION = "in_discussion", _("In discussion")
        PENDING_RESPONSE = "pending_response", _("Pending response")
        INACTIVE = "inactive", _("Inactive")

    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), max_length=254)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
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
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="crm_contact_email_ci_unique",
                violation_error_message=_("A contact with this email already exists."),
            ),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="crm_contact_name_idx"),
            models.Index(fields=["status"], name="crm_contact_status_idx"),
            models.Index(fields=["last_contacted_at"], name="crm_contact_lastcontact_idx"),
            models.Index(fields=["created_at"], name="crm_contact_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def clean(self):
        super().clean()
        self.email = (self.email or "").strip()

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class Stage(models.Model):
    class Outcome(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveIntegerField(_("order"), default=0, db_index=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.OPEN
    )

    objects = StageQuerySet.as_manager()

    class Meta:
        verbose_name = _("pipeline stage")
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="crm_stage_name_ci_unique",
                violation_error_message=_("A stage with this name already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # A stage created without an explicit position goes to the end of the pipeline.
        if self._state.adding and not self.order:
            last = Stage.objects.aggregate(last=models.Max("order"))["last"]
            self.order = (last or 0) + 1
        outcome_changed = not self._state.adding and self.outcome != getattr(
            self, "_loaded_outcome", self.outcome
        )
        with transaction.atomic():
            super().save(*args, **kwargs)
            if outcome_changed:
                # Its deals follow the new outcome, as if each had just been saved into it.
                self.deals.update(**Deal.outcome_changes(self.outcome, now=timezone.now()))
        self._loaded_outcome = self.outcome

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember the outcome as loaded, so save() can tell a change of outcome.
        instance._loaded_outcome = instance.__dict__.get("outcome")
        return instance

    def natural_key(self):
        return (self.name,)

    @property
    def is_closed(self) -> bool:
        return self.outcome != self.Outcome.OPEN


class Deal(models.Model):
    title = models.CharField(_("title"), max_length=200)
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.PROTECT, related_name="deals"
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0, message=_("The amount cannot be negative."))],
    )
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals"
    )
    expected_close_date = models.DateField(_("expected close"), null=True, blank=True)
    probability = models.PositiveSmallIntegerField(
        _("probability (%)"),
        default=50,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deals",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="deals")
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=100),
                name="crm_deal_probability_range",
                violation_error_message=_("Probability must be between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="crm_deal_amount_not_negative",
                violation_error_message=_("The amount cannot be negative."),
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="crm_deal_created_idx"),
            # The pipeline views (one stage, one owner) keep the list's -created_at order:
            # these let the database read the first page in order instead of sorting every
            # deal of that stage or owner (0.4 s at 100k deals on SQLite).
            models.Index(fields=["stage", "-created_at", "-id"], name="crm_deal_stage_created_idx"),
            models.Index(fields=["owner", "-created_at", "-id"], name="crm_deal_owner_created_idx"),
            models.Index(fields=["title"], name="crm_deal_title_idx"),
            # The admin breaks sort ties with -pk; with it in the index a sorted page needs no
            # sort of the ties (a few percent of amounts are empty; probability has few values).
            models.Index(fields=["amount", "-id"], name="crm_deal_amount_id_idx"),
            models.Index(fields=["probability", "-id"], name="crm_deal_probability_id_idx"),
            models.Index(fields=["expected_close_date"], name="crm_deal_expected_close_idx"),
            models.Index(fields=["closed_at"], name="crm_deal_closed_at_idx"),
            models.Index(fields=["stage", "-amount"], name="crm_deal_stage_amount_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        self.apply_stage_outcome()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "stage" in update_fields:
            kwargs["update_fields"] = {*update_fields, "closed_at", "probability"}
        super().save(*args, **kwargs)
        self._loaded_stage_id = self.stage_id

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember the stage as loaded, so save() can tell a move from a re-save.
        instance._loaded_stage_id = instance.__dict__.get("stage_id")
        return instance

    # The probability a deal takes in a closed stage.
    CLOSED_PROBABILITY = {Stage.Outcome.WON: 100, Stage.Outcome.LOST: 0}

    @classmethod
    def outcome_changes(cls, outcome: str, *, now) -> dict:
        """The field values for deals (re)entering a stage with `outcome`, for a bulk update:
        won/lost set the probability and close them (keeping an earlier closing date); open
        reopens them."""
        if outcome == Stage.Outcome.OPEN:
            return {"closed_at": None, "updated_at": now}
        return {
            "probability": cls.CLOSED_PROBABILITY[outcome],
            "closed_at": Coalesce(F("closed_at"), Value(now)),
            "updated_at": now,
        }

    def apply_stage_outcome(self) -> None:
        """Keep the deal in step with its stage's outcome: on entering a won or lost stage it is
        stamped `closed_at` now (kept while it stays there) and takes probability 100 or 0;
        back in an open stage, `closed_at` is cleared."""
        if not self.stage_id:
            return
        outcome = self.stage.outcome
        if outcome == Stage.Outcome.OPEN:
            self.closed_at = None
            return
        self.probability = self.CLOSED_PROBABILITY[outcome]
        if self.closed_at is None or self.stage_id != getattr(self, "_loaded_stage_id", None):
            self.closed_at = timezone.now()

    @property
    def company(self) -> Company | None:
        return self.contact.company if self.contact_id else None


class NoteBase(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    text = models.TextField(_("note"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text if len(self.text) <= 60 else f"{self.text[:57]}..."

    def save(self, *args, **kwargs):
        adding = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                # Part of the model so that every path (admin, import, plain ORM) obeys it.
                self.noted_contacts().touch(self.created_at)

    def noted_contacts(self) -> ContactQuerySet:
        raise NotImplementedError


class ContactNote(NoteBase):
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="notes"
    )

    class Meta(NoteBase.Meta):
        verbose_name = _("contact note")
        indexes = [
            models.Index(fields=["contact", "-created_at"], name="crm_contactnote_contact_idx"),
            models.Index(fields=["-created_at", "-id"], name="crm_contactnote_created_idx"),
        ]

    def noted_contacts(self) -> ContactQuerySet:
        return Contact.objects.filter(pk=self.contact_id)


class DealNote(NoteBase):
    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="notes"
    )

    class Meta(NoteBase.Meta):
        verbose_name = _("deal note")
        indexes = [
            models.Index(fields=["deal", "-created_at"], name="crm_dealnote_deal_idx"),
            models.Index(fields=["-created_at", "-id"], name="crm_dealnote_created_idx"),
        ]

    def noted_contacts(self) -> ContactQuerySet:
        return Contact.objects.filter(deals=self.deal_id)


class SavedFilterQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own saved filters and those shared with all staff."""
        return self.filter(Q(owner=user) | Q(shared=True)) if user.is_authenticated else self.none()


class SavedFilter(models.Model):
    """A named view of an admin list: its filter, search and sort parameters."""

    class Target(models.TextChoices):
        CONTACT = "contact", _("Contacts")
        DEAL = "deal", _("Deals")
        COMPANY = "company", _("Companies")

    name = models.CharField(_("name"), max_length=100)
    target = models.CharField(_("list"), max_length=20, choices=Target.choices)
    query = models.CharField(
        _("query"),
        max_length=2000,
        blank=True,
        help_text=_("The list's filter, search and sort parameters, as after '?' in its address."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="saved_filters",
    )
    shared = models.BooleanField(
        _("shared"), default=False, help_text=_("Offer this filter to all staff.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = SavedFilterQuerySet.as_manager()

    class Meta:
        ordering = ["target", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                "owner",
                "target",
                Lower("name"),
                name="crm_savedfilter_owner_target_name_unique",
                violation_error_message=_("You already have a saved filter with this name."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        url = reverse(f"admin:crm_admin_{self.target}_changelist")
        return f"{url}?{self.query}" if self.query else url

    def clean(self):
        super().clean()
        from crm_admin.admin.saved_filters import normalise_query, unknown_parameters

        self.query = normalise_query(self.query)
        unknown = unknown_parameters(target=self.target, query=self.query)
        if unknown:
            raise ValidationError(
                {
                    "query": _("The %(list)s list has no parameter %(names)s.")
                    % {
                        "list": self.get_target_display().lower(),
                        "names": ", ".join(f"“{name}”" for name in unknown),
                    }
                }
            )
