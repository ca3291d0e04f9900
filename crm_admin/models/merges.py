"""What a merge leaves behind: one row per record merged into another, with its values."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.folding import FoldedKeyField
from crm_admin.models.records import Company, Contact


class MergedRecord(models.Model):
    """A company or contact merged into `company` or `contact` (the one that stayed).

    `values` keeps every field of the merged record as it was (the values not kept included,
    tags by name), so that a merge loses nothing; a merged contact's email stays findable
    through `email_key`. When the survivor is merged in turn, these rows follow it.
    """

    class Kind(models.TextChoices):
        COMPANY = "company", _("company")
        CONTACT = "contact", _("contact")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    company = models.ForeignKey(
        Company,
        verbose_name=_("merged into company"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="merged_records",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("merged into contact"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="merged_records",
    )
    merged_id = models.PositiveBigIntegerField(_("id of the merged record"))
    label = models.CharField(_("merged record"), max_length=400)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    email_key = FoldedKeyField(source="email")
    values = models.JSONField(_("values"), default=dict)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("merged by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    merged_at = models.DateTimeField(_("merged at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("merged record")
        ordering = ["-merged_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="company", company__isnull=False, contact__isnull=True)
                    | models.Q(kind="contact", contact__isnull=False, company__isnull=True)
                ),
                name="crm_mergedrecord_one_survivor",
            ),
        ]
        indexes = [
            models.Index(
                fields=["email_key"],
                name="crm_merged_email_idx",
                condition=~models.Q(email_key=""),
            ),
        ]

    def __str__(self) -> str:
        return self.label
