"""The page a refused login gets once django-axes locks a username or an address out."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def login_locked_out(request, original_response, credentials):
    """AXES_LOCKOUT_CALLABLE: the admin's login page look, with why and for how long (429)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed login attempts. Try again in %(minutes)d minute, "
        "or ask an administrator to unlock the account.",
        "Too many failed login attempts. Try again in %(minutes)d minutes, "
        "or ask an administrator to unlock the account.",
        minutes,
    ) % {"minutes": minutes}
    context = {
        **admin.site.each_context(request),
        "title": _("Login locked"),
        "message": message,
    }
    # render(), not a TemplateResponse: axes' middleware returns it after the view has run,
    # where nothing would render a lazy response.
    return render(request, "admin/crm_admin/login_locked_out.html", context, status=429)
