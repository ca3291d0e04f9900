"""Django's stock admin over the same contacts, for bench/scale.py's render comparison.

A second AdminSite at /stock-admin/ with a plain `django.contrib.admin.ModelAdmin` showing
the same rows and columns as the CRM's contact list (100 a page). bench/scale.py mounts it
with ROOT_URLCONF pointing here and, while timing it, puts Django's own admin templates first
(Unfold's would otherwise win, since it comes first in INSTALLED_APPS).
"""

from pathlib import Path

import django.contrib.admin
from django.contrib import admin
from django.urls import path

from crm_admin.models import Contact
from project.urls import urlpatterns as project_urlpatterns

STOCK_TEMPLATES = Path(django.contrib.admin.__file__).parent / "templates"

stock_site = admin.AdminSite(name="stock")


class StockContactAdmin(admin.ModelAdmin):
    list_display = [
        "full_name",
        "email",
        "phone",
        "company",
        "status",
        "tag_names",
        "last_contacted_at",
        "next_step_with_date",
    ]
    list_per_page = 100
    search_fields = ["first_name", "last_name", "email", "company__name"]

    def get_queryset(self, request):
        return super().get_queryset(request).for_admin_list()

    @admin.display(description="name", ordering="last_name")
    def full_name(self, contact):
        return contact.full_name

    @admin.display(description="tags")
    def tag_names(self, contact):
        return ", ".join(tag.name for tag in contact.tags.all())

    @admin.display(description="next step", ordering="next_step_due")
    def next_step_with_date(self, contact):
        if not contact.next_step:
            return "-"
        due = f" (due {contact.next_step_due:%d %b})" if contact.next_step_due else ""
        return f"{contact.next_step}{due}"


stock_site.register(Contact, StockContactAdmin)

urlpatterns = [path("stock-admin/", stock_site.urls), *project_urlpatterns]
