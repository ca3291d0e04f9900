"""Stylesheets every admin page loads, for UNFOLD["STYLES"] (callables of the request)."""

from django.templatetags.static import static


def no_script(request) -> str:
    """The rule that shows the admin's pages in a browser without JavaScript."""
    return static("crm_admin/css/no_script.css")
