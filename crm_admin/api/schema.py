"""OpenAPI additions that drf-spectacular cannot infer: filter bounds and the error answers.

Imported by crm_admin.api.views so the filter extension is registered before any schema is.
"""

from drf_spectacular.contrib.django_filters import DjangoFilterExtension


class BoundedFilterExtension(DjangoFilterExtension):
    """django-filter's parameters, plus the bounds their form fields enforce.

    A number filter with `min_value` / `max_value` documents them; one with `max_digits` and
    `decimal_places` (amounts) becomes a decimal string with at most that many digits, the
    form amounts take everywhere in the API. The filter definitions stay the one home.
    """

    priority = 1

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        extra = filter_field.extra
        pattern = getattr(filter_field, "schema_pattern", None)
        for parameter in parameters:
            schema = parameter["schema"]
            if pattern:
                schema["pattern"] = pattern
            if extra.get("min_value") is not None:
                schema["minimum"] = extra["min_value"]
            if extra.get("max_value") is not None:
                schema["maximum"] = extra["max_value"]
            if extra.get("max_digits") is not None:
                whole = extra["max_digits"] - extra.get("decimal_places", 0)
                fraction = extra.get("decimal_places", 0)
                parameter["schema"] = {
                    "type": "string",
                    "pattern": rf"^-?[0-9]{{1,{whole}}}(\.[0-9]{{1,{fraction}}})?$",
                }
        return parameters


_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
_ERRORS = {
    "401": ("Missing or invalid credentials (`WWW-Authenticate: Token`).", _DETAIL),
    "403": ("Not staff, or without the view permission on these records.", _DETAIL),
    "404": ("No such record (on a list: a page past the end, or no such parent).", _DETAIL),
    "429": ("Too many requests with this token; `Retry-After` gives the seconds to wait.", _DETAIL),
}
_INVALID_QUERY = (
    "A filter or paging parameter that does not parse: each parameter with its reasons.",
    {"$ref": "#/components/schemas/InvalidParameters"},
)
_COMPONENTS = {
    "ErrorDetail": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "InvalidParameters": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "example": {"last_contacted_at__lt": ["Enter a valid date/time."]},
    },
}


def add_error_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: every CRM operation documents the errors DRF answers with.

    Lists (operations taking `page`) also answer 400 for a query parameter that does not
    parse. The bodies are DRF's: `{"detail": "..."}`, or the parameters with their messages.
    """
    result.setdefault("components", {}).setdefault("schemas", {}).update(_COMPONENTS)
    for path_item in result["paths"].values():
        for method, operation in path_item.items():
            if method == "parameters":
                continue
            errors = dict(_ERRORS)
            if any(p.get("name") == "page" for p in operation.get("parameters", [])):
                errors["400"] = _INVALID_QUERY
            responses = operation.setdefault("responses", {})
            for code, (description, schema) in sorted(errors.items()):
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": schema}},
                    },
                )
    return result


def crm_endpoints_only(endpoints):
    """PREPROCESSING_HOOKS entry: the CRM's schema documents the CRM's endpoints, not a host
    project's own API mounted beside it."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(endpoint[3], "cls", type(None)).__module__.startswith("crm_admin.")
    ]


# The settings of the CRM's schema and docs views, applied by those views alone
# (drf-spectacular's `custom_settings`), so that a host's SPECTACULAR_SETTINGS stay its own.
# `manage.py spectacular --custom-settings crm_admin.api.schema.SPECTACULAR_SETTINGS` writes
# the same schema to a file.
SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": "Read-only access to the CRM's companies, contacts, deals and notes.",
    "VERSION": "1.0.0",
    # Swagger UI's files come from drf-spectacular-sidecar through the static files: the docs
    # work on machines without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "PREPROCESSING_HOOKS": ["crm_admin.api.schema.crm_endpoints_only"],
    # drf-spectacular's own hook (enums), then the error answers (400/401/403/404/429).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm_admin.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ContactStatusEnum": "crm_admin.models.Contact.Status",
        "StageOutcomeEnum": "crm_admin.models.Stage.Outcome",
    },
}
