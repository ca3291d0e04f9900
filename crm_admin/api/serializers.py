"""Representations a client can use without a second call. Read-only; the related rows they
show are loaded by the selectors in `selectors.py`, never queried from here."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote, Stage, Tag


class ReadOnlyModelSerializer(serializers.ModelSerializer):
    # Every field read-only: the API never writes, and the schema then lists every field as
    # present in every response. (A comment, not a docstring: the schema would show it.)

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.read_only = True
        return fields


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class TagNamesField(serializers.Field):
    """The names of the tags the selectors prefetched into `prefetched_tags`."""

    def __init__(self, **kwargs):
        super().__init__(source="prefetched_tags", read_only=True, **kwargs)

    def to_representation(self, tags):
        return [tag.name for tag in tags]


class UserSummarySerializer(ReadOnlyModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username"]


class CompanySummarySerializer(ReadOnlyModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name"]


class ContactSummarySerializer(ReadOnlyModelSerializer):
    full_name = serializers.CharField()

    class Meta:
        model = Contact
        fields = ["id", "full_name", "email"]


class StageSummarySerializer(ReadOnlyModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "outcome"]


class CompanySerializer(ReadOnlyModelSerializer):
    contact_count = serializers.IntegerField()

    class Meta:
        model = Company
        fields = ["id", "name", "industry", "website", "contact_count", "created_at", "updated_at"]


class ContactSerializer(ReadOnlyModelSerializer):
    full_name = serializers.CharField()
    company = CompanySummarySerializer(allow_null=True)
    owner = UserSummarySerializer(allow_null=True)
    tags = TagNamesField()

    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "title",
            "status",
            "company",
            "owner",
            "tags",
            "last_contacted_at",
            "next_step",
            "next_step_due",
            "created_at",
            "updated_at",
        ]


class DealSerializer(ReadOnlyModelSerializer):
    stage = StageSummarySerializer()
    contact = ContactSummarySerializer()
    company = CompanySummarySerializer(source="contact.company", allow_null=True)
    owner = UserSummarySerializer(allow_null=True)
    tags = TagNamesField()
    lost_reason = serializers.CharField(
        source="lost_reason.name",
        allow_null=True,
        help_text=_("Why the deal was lost (the reason's name); null unless it was lost."),
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "title",
            "amount",
            "probability",
            "expected_close_date",
            "stage",
            "contact",
            "company",
            "owner",
            "tags",
            "next_step",
            "next_step_due",
            "stage_entered_at",
            "lost_reason",
            "closed_at",
            "created_at",
            "updated_at",
        ]


class StageSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "order", "outcome"]


class TagSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "created_at"]


class ContactNoteSerializer(ReadOnlyModelSerializer):
    author = UserSummarySerializer(source="created_by", allow_null=True)

    class Meta:
        model = ContactNote
        fields = ["id", "contact", "text", "author", "created_at"]


class DealNoteSerializer(ReadOnlyModelSerializer):
    author = UserSummarySerializer(source="created_by", allow_null=True)

    class Meta:
        model = DealNote
        fields = ["id", "deal", "text", "author", "created_at"]
