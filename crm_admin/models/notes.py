"""Notes on contacts and deals; logging one moves the contact's last contact forward."""

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.models.pipeline import Deal
from crm_admin.models.records import Contact, ContactQuerySet


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
