"""Related-record fields of the change forms that survive a value which is not a key.

A form posted with `contact=abc` (or an id past 2**63) is invalid, and Django says so; but
re-rendering it, the autocomplete widget looks the bound value up with `pk__in`, which raises
ValueError (or OverflowError on SQLite) instead of showing "Select a valid choice". A
many-to-many field does the same lookup while validating. Values that the key column cannot
hold are left out of those lookups here, for every autocomplete and many-to-many field.
"""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError


def is_storable_key(key_field, value) -> bool:
    """Whether `value` converts to a value of the model field `key_field` (a type its column
    holds, within its range), so that a lookup by it cannot fail."""
    try:
        key_field.run_validators(key_field.to_python(value))
    except (ValidationError, TypeError):
        return False
    return True


def related_key_field(db_field):
    """The field of the related model that `db_field` (a foreign key or many-to-many) stores."""
    remote_opts = db_field.remote_field.model._meta
    name = getattr(db_field.remote_field, "field_name", None) or remote_opts.pk.name
    return remote_opts.get_field(name)


class StorableKeysWidgetMixin:
    def optgroups(self, name, value, attr=None):
        key_field = related_key_field(self.field)
        return super().optgroups(name, [v for v in value if is_storable_key(key_field, v)], attr)


class StorableAutocompleteSelect(StorableKeysWidgetMixin, AutocompleteSelect):
    pass


class StorableAutocompleteSelectMultiple(StorableKeysWidgetMixin, AutocompleteSelectMultiple):
    pass


class StorableModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Refuses a value that is no key with the field's own "not a valid value" error."""

    def clean(self, value):
        if isinstance(value, list | tuple):
            opts = self.queryset.model._meta
            key_field = opts.get_field(self.to_field_name or opts.pk.name)
            for item in value:
                if not is_storable_key(key_field, item):
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"],
                        code="invalid_pk_value",
                        params={"pk": item},
                    )
        return super().clean(value)


class StorableKeysFormMixin:
    """For every CRM ModelAdmin with related fields: the widgets and field above."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StorableAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = StorableAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        kwargs.setdefault("form_class", StorableModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
