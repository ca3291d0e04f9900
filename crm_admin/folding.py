"""The one rule by which names and emails are the same "ignoring case", on every database.

SQLite's LOWER() folds ASCII only and PostgreSQL's follows the server's locale, so a unique
constraint on LOWER(name) accepts "Ärzte GmbH" next to "ärzte gmbh" on one database and not the
other. Instead each model keeps a key folded here, in Python, once per write: the unique
constraint is on the key, and the admin's validation, the import's matching and the API's
lookups compare keys, so they all give the same answer on both databases.

The fold is Unicode's NFKC_Casefold, closely: NFKC (composed and decomposed "Ä", full-width
letters and ligatures become one spelling), full case folding ("ß" and "ẞ" are "ss", the Greek
final "ς" is "σ"), NFKC again, surrounding whitespace stripped. One addition: the dotted and the
dotless i are one letter in a key, so that the Turkish pairs İ/i and I/ı fold together as I/i do
(without it "İstanbul" and "istanbul" differ, and so do "IŞIK" and "ışık"). Accents are kept:
"Arzte" and "Ärzte" are different names.
"""  # noqa: RUF002 (the letters named are the point)

import itertools
import unicodedata

from django.db import models, transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver


def fold(text: str | None) -> str:
    """`text` as names and emails are compared ignoring case; '' for None."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Dotless i (U+0131) is i; casefold() spells İ as i + combining dot above (U+0307).
    folded = folded.replace("\u0131", "i").replace("i\u0307", "i")
    return unicodedata.normalize("NFKC", folded).strip()


class DerivedKeyField(models.TextField):
    """A key computed from other fields of its row, for constraints and index lookups.

    Not editable nor serialised: save() and bulk_create() compute it (pre_save), raw saves
    (loaddata) get it from the pre_save signal below, and FoldedKeysQuerySet keeps it in step
    on update() and bulk_update(). A text column, because folding may lengthen a value ("ß").
    Subclasses name their `sources` and compute the key from their values in `derive()`.
    """

    sources: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        kwargs.update(editable=False, blank=True, serialize=False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for forced in ("editable", "blank", "serialize"):
            kwargs.pop(forced, None)
        return name, path, args, kwargs

    def derive(self, *values) -> str:
        """The key of a row whose sources hold `values`, in the order of `sources`."""
        raise NotImplementedError

    def derive_for(self, instance) -> str:
        return self.derive(*(getattr(instance, source) for source in self.sources))

    def pre_save(self, model_instance, add):
        value = self.derive_for(model_instance)
        setattr(model_instance, self.attname, value)
        return value


class FoldedKeyField(DerivedKeyField):
    """The folded value of the model's `source` field, for unique constraints and lookups."""

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        self.sources = (source,)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, {**kwargs, "source": self.source}

    def derive(self, value) -> str:
        return fold(value)


def derived_keys(model) -> dict[str, DerivedKeyField]:
    """The model's derived key fields (folded keys and match keys), by name."""
    return {
        field.name: field
        for field in model._meta.concrete_fields
        if isinstance(field, DerivedKeyField)
    }


def folded_keys(model) -> dict[str, str]:
    """The model's folded key fields, each mapped to its source field."""
    return {
        name: field.source
        for name, field in derived_keys(model).items()
        if isinstance(field, FoldedKeyField)
    }


def fold_keys(instance) -> None:
    """Set every derived key of `instance` from its source fields (no query)."""
    for key, field in derived_keys(type(instance)).items():
        setattr(instance, key, field.derive_for(instance))


def keys_following(model, fields) -> set[str]:
    """The derived keys with a source among `fields`, which must be written with them."""
    fields = set(fields)
    return {key for key, field in derived_keys(model).items() if fields & set(field.sources)}


@receiver(pre_save, dispatch_uid="crm_admin.folding.fold_raw_saves")
def _fold_raw_saves(sender, instance, raw, **kwargs):
    # loaddata saves with raw=True, which writes attributes as they are and skips the fields'
    # pre_save(): fixtures carry no keys, so they are folded here.
    if raw:
        fold_keys(instance)


class FoldedKeys:
    """Model mixin: a save limited to `update_fields` writes the keys of the fields it writes,
    and constraint validation (full_clean, ModelForm) checks the keys of the values being
    validated, so the admin shows the constraint's message instead of an IntegrityError."""

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *keys_following(type(self), update_fields)}
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None):
        fold_keys(self)
        if exclude:
            # A ModelForm excludes every field it does not show, the keys among them; a key is
            # validated whenever one of its sources is.
            keys = derived_keys(type(self))
            exclude = {
                name
                for name in exclude
                if name not in keys or set(keys[name].sources) <= set(exclude)
            }
        super().validate_constraints(exclude=exclude)


class FoldedKeysQuerySet(models.QuerySet):
    """update() and bulk_update() that keep the derived keys in step with their sources."""

    def update(self, **kwargs):
        partial = []
        for key, field in derived_keys(self.model).items():
            given = [source for source in field.sources if source in kwargs]
            if not given or key in kwargs:
                continue
            values = [kwargs[source] for source in given]
            if any(hasattr(value, "resolve_expression") for value in values):
                raise TypeError(
                    f"update({given[0]}=<expression>) cannot derive {key} in Python: "
                    f"pass {key} too, or save the instances."
                )
            if len(given) == len(field.sources):
                kwargs[key] = field.derive(*values)
            else:
                partial.append(key)
        if not partial:
            return super().update(**kwargs)
        # A key with a source left as each row has it (first name given, last name not) is
        # derived per row once the update is written: the rows are named first, since the
        # update may take them out of this queryset's filter.
        with transaction.atomic(using=self.db):
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            type(self)(self.model, using=self.db).filter(pk__in=pks).derive_keys(partial)
        return count

    update.alters_data = True

    def derive_keys(self, keys=None, *, batch_size: int = 2000) -> int:
        """Recompute the derived `keys` (every derived key of the model when None) of these
        rows from their stored sources, and write the rows where one changed: after a bulk
        write that skipped them, or once a rule's setting (CRM_PHONE_REGION) changed.

        Reads `batch_size` rows per query (pk, sources and keys only) and writes each batch's
        changed rows with one bulk_update (one UPDATE per batch, more if the database limits
        its parameters); nothing else of the rows is written, `updated_at` included. Returns
        the number of rows written. A key that now collides under a unique constraint raises
        IntegrityError."""
        fields = derived_keys(self.model)
        keys = list(fields if keys is None else keys)
        sources = {source for key in keys for source in fields[key].sources}
        rows = self.only("pk", *sources, *keys).order_by("pk").iterator(chunk_size=batch_size)
        written = 0
        for batch in itertools.batched(rows, batch_size):
            changed = []
            for row in batch:
                values = {key: fields[key].derive_for(row) for key in keys}
                if any(getattr(row, key) != value for key, value in values.items()):
                    for key, value in values.items():
                        setattr(row, key, value)
                    changed.append(row)
            if changed:
                models.QuerySet.bulk_update(self, changed, keys)
                written += len(changed)
        return written

    def bulk_update(self, objs, fields, batch_size=None):
        objs = tuple(objs)
        keys = keys_following(self.model, fields)
        if keys:
            for obj in objs:
                fold_keys(obj)
        return super().bulk_update(objs, [*fields, *sorted(keys)], batch_size=batch_size)

    bulk_update.alters_data = True

    def ids_by_key(self, keys=None) -> dict[str, int]:
        """{folded key: id} of these rows (only those with one of `keys`, when given), for
        matching names or emails the way the unique constraint compares them; one query."""
        (key,) = folded_keys(self.model)
        rows = self if keys is None else self.filter(**{f"{key}__in": list(keys)})
        return {folded: pk for pk, folded in rows.values_list("pk", key)}
