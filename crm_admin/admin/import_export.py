"""Import and export on the company, contact and deal lists, through django-import-export's
admin flow (upload -> preview -> confirm; export form) with Unfold's forms and templates.

What differs from the stock mixin:
- the resources (crm_admin/resources/) check every row before writing anything, and the
  preview page shows totals first, then only the first errors or the first rows (a 10,000-row
  file no longer renders a 36 MB page, nor 150,000 bad rows a 66 MB one);
- importing needs crm_admin.import_<model> with the add and the change permission, exporting
  crm_admin.export_<model> with the view permission (crm_admin/roles.py gives them by role);
- exports stream (the current filtered and sorted list, or the rows selected with the "Export
  selected" action), and always carry every column, so that an export re-imports unchanged;
- uploads are limited to settings.CRM_IMPORT_MAX_UPLOAD_MB;
- the confirm step takes only a temporary file name this site signed, less than a day old:
  a made-up, forged or expired name gets the import page back, never another file read;
- the preview flags the rows that would make a likely duplicate company or contact (of an
  existing record, linked, or of another row of the file); the import still writes them.
"""

import os

from django.contrib import messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import MultipleChoiceField, MultipleHiddenInput
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm
from import_export.results import RowResult
from import_export.signals import post_export
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from crm_admin.conf import crm_settings
from crm_admin.formats import parse_id
from crm_admin.resources import (
    FORMATS,
    PREVIEW_ROWS,
    CompanyResource,
    ContactResource,
    DealResource,
    ImportFileError,
)


class UploadLimitImportForm(ImportForm):
    """Unfold's import form, refusing a file over settings.CRM_IMPORT_MAX_UPLOAD_MB."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        limit = crm_settings.CRM_IMPORT_MAX_UPLOAD_MB
        if upload.size > limit * 1024 * 1024:
            raise ValidationError(
                _("The file is %(size).1f MB; the largest file you may import is %(limit)g MB.")
                % {"size": upload.size / 1024 / 1024, "limit": limit}
            )
        return upload


UPLOAD_SIGNER = signing.TimestampSigner(salt="crm_admin.import.upload")
UPLOAD_MAX_AGE = 24 * 60 * 60  # seconds: long enough to read a preview, then the upload expires


def upload_expired_message() -> str:
    return _("This upload has expired or does not exist: upload the file again.")


class SignedConfirmImportForm(ConfirmImportForm):
    """The confirm step's form. `import_file_name` is the temporary file's bare name signed
    by this site (CrmImportExportMixin.get_confirm_form_initial): the stock form takes any name
    and the temporary storage opens it in the temporary folder, so a made-up name was a 500
    and a guessed one another file read, then deleted."""

    def clean_import_file_name(self):
        try:
            name = UPLOAD_SIGNER.unsign(
                self.cleaned_data["import_file_name"], max_age=UPLOAD_MAX_AGE
            )
        except signing.BadSignature:  # SignatureExpired included
            raise ValidationError(upload_expired_message()) from None
        if name in ("", ".", "..") or os.path.basename(name) != name or "\\" in name:
            raise ValidationError(upload_expired_message())
        return name


class CrmImportExportMixin(ImportExportMixin):
    """Import and export for a CRM list; the subclasses below name the resource."""

    formats = list(FORMATS.values())
    import_form_class = UploadLimitImportForm
    confirm_form_class = SignedConfirmImportForm
    export_form_class = ExportForm
    import_template_name = "admin/crm_admin/import.html"
    import_export_change_list_template = "admin/crm_admin/change_list_import_export.html"
    import_preview_rows = PREVIEW_ROWS

    def _has_crm_permission(self, request, action: str) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")

    def has_import_permission(self, request):
        # An import creates and updates rows: it needs both of those rights too, so that
        # granting import alone never lets someone write what they could not type in.
        return (
            self._has_crm_permission(request, "import")
            and self.has_add_permission(request)
            and self.has_change_permission(request)
        )

    def has_export_permission(self, request):
        # A right of its own (crm_admin/roles.py: a read-only user may export companies, not
        # contacts' personal data), over a list the user may see.
        return self._has_crm_permission(request, "export") and self.has_view_permission(request)

    # Import.

    def get_import_context_data(self, **kwargs):
        resource = self.resource_classes[0]
        return {
            "import_rules": resource.rules,
            "columns": resource.column_names(),
            "required_columns": [column.name for column in resource.columns if column.required],
            "max_upload_mb": crm_settings.CRM_IMPORT_MAX_UPLOAD_MB,
        }

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        result = (getattr(response, "context_data", None) or {}).get("result")
        if getattr(result, "duplicates", None):
            self._link_duplicates(request, result.duplicates)
        return response

    def _link_duplicates(self, request, report) -> None:
        """Give each record a flagged row matches the link to its admin page, when the user
        may see it there (its ModelAdmin says so; no query)."""
        allowed = {}
        for flag in report.flags:
            for match in flag.matches:
                if match.record is None:
                    continue
                model = type(match.record)
                if model not in allowed:
                    try:
                        model_admin = self.admin_site.get_model_admin(model)
                    except NotRegistered:
                        allowed[model] = False
                    else:
                        allowed[model] = model_admin.has_view_or_change_permission(request)
                if allowed[model]:
                    opts = model._meta
                    match.href = reverse(
                        f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                        args=[match.record.pk],
                    )

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs["preview_rows"] = self.import_preview_rows
        return kwargs

    def write_to_tmp_storage(self, import_file, input_format):
        # The stock version joins the chunks with `bytes +=`, quadratic on large uploads.
        tmp_storage = self.get_tmp_storage_class()(
            encoding=None,
            read_mode=input_format.get_read_mode(),
            **self.get_tmp_storage_class_kwargs(),
        )
        tmp_storage.save(b"".join(import_file.chunks()))
        return tmp_storage

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if initial:
            name = os.path.basename(initial["import_file_name"])  # a path with TempFolderStorage
            initial["import_file_name"] = UPLOAD_SIGNER.sign(name)
        return initial

    def process_import(self, request, **kwargs):
        """The confirm step; an upload that is not (or no longer) there sends the user back to
        the import page with a message instead of a 500."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_confirm_form(request)
        formats = [str(index) for index in range(len(self.get_import_formats()))]
        if not form.is_valid() or form.cleaned_data["format"] not in formats:
            return self._upload_expired(request)
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            # Signed and recent, but gone: confirmed already (another tab) or cleaned away.
            return self._upload_expired(request)

    def _upload_expired(self, request):
        self.message_user(request, upload_expired_message(), messages.ERROR)
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_import")
        )

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportFileError):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The data changed between the preview and the confirmation: show why, again.
            context = {
                **self.admin_site.each_context(request),
                **self.get_import_context_data(),
                "title": _("Import"),
                "opts": self.model._meta,
                "form": self.get_import_form_class(request)(
                    self.get_import_formats(), self.get_import_resource_classes(request)
                ),
                "result": result,
            }
            self.message_user(request, _("Nothing was imported."), messages.ERROR)
            return TemplateResponse(request, [self.import_template_name], context)
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        self.message_user(
            request,
            _("Imported %(name)s: %(new)d created, %(update)d updated, %(skip)d unchanged.")
            % {
                "name": self.model._meta.verbose_name_plural,
                "new": result.created,
                "update": result.updated,
                "skip": result.unchanged,
            },
            messages.SUCCESS,
        )

    def generate_log_entries(self, result, request):
        """One history entry per created or changed record, in one INSERT per kind."""
        if self.get_skip_admin_log():
            return
        flags = {RowResult.IMPORT_TYPE_NEW: ADDITION, RowResult.IMPORT_TYPE_UPDATE: CHANGE}
        message = _("Imported from %s.") % (result.file_name or _("a file"))
        for import_type, flag in flags.items():
            instances = [row.instance for row in result.rows if row.import_type == import_type]
            if instances:
                LogEntry.objects.log_actions(request.user.pk, instances, flag, str(message))

    # Export.

    def export_action(self, request):
        # The export reads the list's ChangeList, which refuses parameters that no filter of
        # the list declares (?foo=1, ?format=0, ?amount__gte=abc): answer as the list does.
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            # Back to the list's own error page: the export page's form would post the
            # flag along, and the list drops it, exporting every row.
            self.message_user(request, _("Those filters are not valid."), messages.ERROR)
            changelist = reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist"
            )
            return HttpResponseRedirect(f"{changelist}?{ERROR_FLAG}=1")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_export_permission(request):
            actions["export_selected"] = (
                type(self).export_selected,
                "export_selected",
                _("Export selected %(verbose_name_plural)s"),
            )
        return actions

    def export_selected(self, request, queryset):
        """The export form for the checked rows; "select all" exports the filtered list."""
        export_url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_export"
        )
        query = f"?{request.GET.urlencode()}" if request.GET else ""
        if request.POST.get("select_across") == "1":
            return HttpResponseRedirect(export_url + query)
        selected = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        form = self.get_export_form_class()(
            formats=self.get_export_formats(),
            resources=self.get_export_resource_classes(request),
            initial={"export_items": selected},
        )
        form.fields["export_items"] = MultipleChoiceField(
            widget=MultipleHiddenInput, required=False, choices=[(pk, pk) for pk in selected]
        )
        context = self.init_request_context_data(request, form)
        context["export_url"] = export_url + query
        return TemplateResponse(request, [self.export_template_name], context)

    def get_valid_export_item_pks(self, request):
        # Only the posted rows (the stock version lists every key of the table).
        posted = [pk for text in request.POST.getlist("export_items") if (pk := parse_id(text))]
        return self.get_export_queryset(request).filter(pk__in=posted).values_list("pk", flat=True)

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        """Stream the file rather than build it in memory (django-import-export's hook)."""
        resource = self.choose_export_resource_class(export_form, request)(
            **self.get_export_resource_kwargs(request)
        )
        chunks = resource.export_stream(queryset, file_format=file_format.get_extension())
        response = StreamingHttpResponse(chunks, content_type=file_format.get_content_type())
        filename = self.get_export_filename(request, queryset, file_format)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        post_export.send(sender=None, model=self.model)
        return response


class CompanyImportExportMixin(CrmImportExportMixin):
    resource_classes = [CompanyResource]


class ContactImportExportMixin(CrmImportExportMixin):
    resource_classes = [ContactResource]


class DealImportExportMixin(CrmImportExportMixin):
    resource_classes = [DealResource]
