"""Saved filters: named views of the admin's lists."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def delete_private_keep_shared(collector, field, sub_objs, using):
    """on_delete for a saved filter's owner: the owner's private filters go with them (nobody
    else can see or use them); shared ones stay for the team, without an owner, like the
    shipped ones. Django's delete confirmation lists the private ones it deletes."""
    models.CASCADE(collector, field, sub_objs.filter(shared=False), using)
    models.SET_NULL(collector, field, sub_objs.filter(shared=True), using)


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
        on_delete=delete_private_keep_shared,
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
        permissions = [("share_savedfilter", _("Can share saved filters with all staff"))]
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
