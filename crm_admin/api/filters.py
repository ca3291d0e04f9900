"""What each list accepts in its query string. A value that does not parse, an unknown choice
and a reference to a record that does not exist answer 400 naming the parameter (through
DjangoFilterBackend), never an empty list that hides a typo, and never a 500.

Date-only values are accepted for timestamps and mean midnight in the server's TIME_ZONE.
"""

from datetime import UTC
from functools import reduce
from operator import or_

import django_filters as filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from crm_admin.deal_history import LostReason
from crm_admin.folding import fold
from crm_admin.formats import UNSTORABLE_MOMENT, is_storable_moment
from crm_admin.models import (
    Company,
    Contact,
    ContactNote,
    Deal,
    DealNote,
    NextStepDue,
    Stage,
    Tag,
    next_step_due_condition,
)
from crm_admin.search import (
    COMPANY_SEARCH_FIELDS,
    CONTACT_SEARCH_FIELDS,
    DEAL_SEARCH_FIELDS,
    search_queryset,
)


def _same_name(value: str) -> Q:
    """Matches the name the way the unique constraints compare names: by the folded key."""
    return Q(name_key=fold(value))


class RepeatableTextInput(forms.TextInput):
    """A text box whose parameter may repeat (`?tags=A&tags=B`): its value is the list."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)

    def format_value(self, value):
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        return super().format_value(value)


class RecordField(forms.CharField):
    """A record given by its id or, ignoring case, by its name; cleans to its primary key.

    One query, only when the parameter is present. A number is always read as an id.
    """

    default_error_messages = {
        "unknown": _("No %(record)s with the id or name “%(value)s”."),
        "unknown_id": _("No %(record)s with the id “%(value)s”."),
        "invalid_id": _("Enter a whole number."),
    }

    def __init__(self, *, queryset, by_name=True, **kwargs):
        self.queryset, self.by_name = queryset, by_name
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        if value.isascii() and value.isdigit():
            # Longer digit strings fit no bigint: not an id, and not worth a query.
            too_long = len(value) > 18
            found = self.queryset.none() if too_long else self.queryset.filter(pk=int(value))
        elif self.by_name:
            found = self.queryset.filter(_same_name(value))
        else:
            raise ValidationError(self.error_messages["invalid_id"], code="invalid")
        pk = next(iter(found.values_list("pk", flat=True)[:1]), None)
        if pk is None:
            raise ValidationError(
                self.error_messages["unknown" if self.by_name else "unknown_id"],
                code="unknown",
                params={"record": self.queryset.model._meta.verbose_name, "value": value},
            )
        return pk


class TagNamesField(forms.Field):
    """Tag names, ignoring case; cleans to the tags' primary keys. One query when present."""

    widget = RepeatableTextInput
    default_error_messages = {"unknown": _("No tag named %(names)s.")}

    def to_python(self, value) -> list[str]:
        values = value if isinstance(value, list | tuple) else [value]
        return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))

    def validate(self, value):
        # A NUL byte would reach PostgreSQL, which refuses it in text with an error (a 500).
        super().validate(value)
        for name in value:
            ProhibitNullCharactersValidator()(name)

    def clean(self, value) -> list[int]:
        names = super().clean(value)
        if not names:
            return []
        found = dict(
            Tag.objects.filter(reduce(or_, map(_same_name, names))).values_list("name_key", "pk")
        )
        unknown = [name for name in names if fold(name) not in found]
        if unknown:
            raise ValidationError(
                self.error_messages["unknown"],
                code="unknown",
                params={"names": ", ".join(f"“{name}”" for name in unknown)},
            )
        return list(found.values())


class StrictBooleanField(forms.NullBooleanField):
    """`true` / `false` (or 1 / 0); anything else is an error rather than "no filter"."""

    widget = forms.TextInput

    def to_python(self, value):
        text = str(value).strip().lower() if value is not None else ""
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        if text:
            raise ValidationError(_("Enter true or false."), code="invalid")
        return None


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField


class RecordFilter(filters.CharFilter):
    """A related record by id or by name (see RecordField)."""

    field_class = RecordField


@extend_schema_field({"type": "integer", "description": "A user id."})
class UserFilter(filters.Filter):
    field_class = RecordField

    def __init__(self, **kwargs):
        super().__init__(queryset=get_user_model().objects.all(), by_name=False, **kwargs)


_TAGS_HELP = (
    "A tag name, ignoring case. Repeat the parameter for rows carrying every one of the tags "
    "(tags=A&tags=B means A and B). An unknown tag name is a 400."
)


@extend_schema_field({"type": "string", "description": _TAGS_HELP})
class TagsFilter(filters.MultipleChoiceFilter):
    """Rows carrying every one of the named tags (AND)."""

    field_class = TagNamesField

    def __init__(self, **kwargs):
        super().__init__(field_name="tags", help_text=_TAGS_HELP, **kwargs)

    def filter(self, qs, value):
        through = qs.model.tags.through
        owner = qs.model._meta.model_name
        for tag_id in value or ():
            qs = qs.filter(Exists(through.objects.filter(**{owner: OuterRef("pk")}, tag=tag_id)))
        return qs


class WordsFilter(filters.CharFilter):
    """Every word of the value appears, ignoring case, in at least one of `fields` (the list's
    search fields, shared with the admin: crm_admin/search.py). As in the admin, only the
    first MAX_SEARCH_WORDS words count, and words shorter than MIN_WORD_LENGTH are left out."""

    # Documented in the schema (crm_admin/api/schema.py): text fields refuse NUL characters.
    schema_pattern = r"^[^\x00]*$"

    def __init__(self, *, fields, **kwargs):
        self.fields = fields
        super().__init__(**kwargs)

    def filter(self, qs, value):
        return search_queryset(qs, self.fields, value or "")


class _StorableDateTimeField(forms.DateTimeField):
    """Django's DateTimeField (it also takes a plain date), refusing moments that cannot be
    stored: 9999-12-31T23:59-05:00 is past the year 9999 once in UTC."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        if not is_storable_moment(value):
            raise ValidationError(UNSTORABLE_MOMENT, code="invalid")
        # PostgreSQL refuses UTC offsets past 15:59 (Python takes up to 23:59): send the same
        # moment in UTC.
        return value.astimezone(UTC)


class _TimestampFilter(filters.DateTimeFilter):
    field_class = _StorableDateTimeField


def _timestamp(field_name: str, lookup_expr: str) -> filters.DateTimeFilter:
    return _TimestampFilter(field_name=field_name, lookup_expr=lookup_expr)


class HasNextStepFilter(StrictBooleanFilter):
    """true: rows with a next step; false: rows without one (next_step_due_condition's
    "none", whose one definition the admin's filter and My day share)."""

    def __init__(self, **kwargs):
        super().__init__(field_name="next_step", **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        without = next_step_due_condition(NextStepDue.NONE)
        return qs.exclude(without) if value else qs.filter(without)


class NextStepFilterSet(filters.FilterSet):
    """The next-step filters that deals and contacts share."""

    next_step_due__gte = filters.DateFilter(field_name="next_step_due", lookup_expr="gte")
    next_step_due__lte = filters.DateFilter(
        field_name="next_step_due",
        lookup_expr="lte",
        help_text=_("Next steps due on or before this date (overdue ones included)."),
    )


class ContactFilterSet(NextStepFilterSet):
    tags = TagsFilter()
    status = filters.ChoiceFilter(choices=Contact.Status.choices)
    company = RecordFilter(
        queryset=Company.objects.all(), help_text=_("A company id, or a company name (any case).")
    )
    last_contacted_at__lt = _timestamp("last_contacted_at", "lt")
    last_contacted_at__gte = _timestamp("last_contacted_at", "gte")
    last_contacted_at__isnull = StrictBooleanFilter(
        field_name="last_contacted_at",
        lookup_expr="isnull",
        help_text=_("true: contacts never contacted; false: contacted at least once."),
    )
    created_at__gte = _timestamp("created_at", "gte")
    created_at__lt = _timestamp("created_at", "lt")
    owner = UserFilter()
    has_next_step = HasNextStepFilter(
        help_text=_("true: contacts with a next step; false: contacts without one.")
    )
    search = WordsFilter(
        fields=CONTACT_SEARCH_FIELDS,
        help_text=_("Words found in the name, email or company name (all of them, any case)."),
    )

    class Meta:
        model = Contact
        fields = []


class DealFilterSet(NextStepFilterSet):
    stage = RecordFilter(
        queryset=Stage.objects.all(), help_text=_("A stage id, or a stage name (any case).")
    )
    lost_reason = RecordFilter(
        queryset=LostReason.objects.all(),
        help_text=_("Deals lost for this reason: a lost reason id, or its name (any case)."),
    )
    status = filters.ChoiceFilter(
        field_name="stage__outcome",
        choices=Stage.Outcome.choices,
        help_text=_("The outcome of the deal's stage."),
    )
    owner = UserFilter()
    tags = TagsFilter()
    probability__gte = filters.NumberFilter(
        field_name="probability", lookup_expr="gte", min_value=0, max_value=100
    )
    probability__lte = filters.NumberFilter(
        field_name="probability", lookup_expr="lte", min_value=0, max_value=100
    )
    amount__gte = filters.NumberFilter(
        field_name="amount", lookup_expr="gte", max_digits=12, decimal_places=2
    )
    amount__lte = filters.NumberFilter(
        field_name="amount", lookup_expr="lte", max_digits=12, decimal_places=2
    )
    expected_close_date__gte = filters.DateFilter(
        field_name="expected_close_date", lookup_expr="gte"
    )
    expected_close_date__lte = filters.DateFilter(
        field_name="expected_close_date", lookup_expr="lte"
    )
    has_next_step = HasNextStepFilter(
        help_text=_(
            "true: deals with a next step; false: deals without one (a won or lost deal never "
            "has one: add status=open for the open deals without a next step)."
        )
    )
    search = WordsFilter(
        fields=DEAL_SEARCH_FIELDS,
        help_text=_(
            "Words found in the title, contact name or email, or company name (all, any case)."
        ),
    )

    class Meta:
        model = Deal
        fields = []


class CompanyFilterSet(filters.FilterSet):
    industry = filters.CharFilter(lookup_expr="iexact", help_text=_("Ignoring case."))
    search = WordsFilter(
        fields=COMPANY_SEARCH_FIELDS,
        help_text=_("Words found in the name, industry or website (all of them, any case)."),
    )

    class Meta:
        model = Company
        fields = []


class NoteFilterSet(filters.FilterSet):
    created_at__gte = _timestamp("created_at", "gte")
    created_at__lt = _timestamp("created_at", "lt")


class ContactNoteFilterSet(NoteFilterSet):
    class Meta:
        model = ContactNote
        fields = []


class DealNoteFilterSet(NoteFilterSet):
    class Meta:
        model = DealNote
        fields = []
