"""Deleting a user or a tag never silently destroys history or empties saved filters."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from crm_admin.models import ContactNote, SavedFilter, Tag
from tests.factories import make_contact, make_deal, make_user

pytestmark = pytest.mark.django_db


def user_delete_url(user):
    return reverse("admin:auth_user_delete", args=[user.pk])


def test_deleting_a_user_with_crm_history_is_refused_with_deactivate_instead(staff_client):
    rep = make_user(username="rep")
    make_deal(owner=rep)
    ContactNote.objects.create(contact=make_contact(), text="Called", created_by=rep)
    LogEntry.objects.log_actions(rep.pk, [make_contact()], CHANGE, "Edited")

    page = staff_client.get(user_delete_url(rep)).content.decode()
    assert "1 history entry, 1 deal, 1 note" in page
    assert "Deactivate them instead" in page

    staff_client.post(user_delete_url(rep), {"post": "yes"})
    assert type(rep).objects.filter(pk=rep.pk).exists()
    assert LogEntry.objects.filter(user=rep).count() == 1


def test_bulk_deleting_users_is_refused_the_same_way(staff_client):
    rep, newcomer = make_user(username="rep"), make_user(username="newcomer")
    make_deal(owner=rep)
    response = staff_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [rep.pk, newcomer.pk]},
    )
    assert "Deactivate them instead" in response.content.decode()
    staff_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [rep.pk, newcomer.pk], "post": "yes"},
    )
    assert type(rep).objects.filter(pk__in=[rep.pk, newcomer.pk]).count() == 2


def test_a_deleted_users_private_saved_filters_go_and_shared_ones_stay(staff_client):
    leaver = make_user(username="leaver")
    private = SavedFilter.objects.create(name="My pipeline", target="deal", owner=leaver)
    shared = SavedFilter.objects.create(
        name="Team pipeline", target="deal", owner=leaver, shared=True
    )

    page = staff_client.get(user_delete_url(leaver)).content.decode()
    assert "My pipeline" in page, "the confirmation lists the private filter it deletes"
    assert "Team pipeline" not in page

    assert staff_client.post(user_delete_url(leaver), {"post": "yes"}).status_code == 302
    assert not SavedFilter.objects.filter(pk=private.pk).exists()
    shared.refresh_from_db()
    assert shared.owner is None


def test_plain_orm_user_delete_follows_the_same_saved_filter_rule():
    leaver = make_user()
    SavedFilter.objects.create(name="Mine", target="deal", owner=leaver)
    kept = SavedFilter.objects.create(name="Ours", target="deal", owner=leaver, shared=True)
    leaver.delete()
    assert list(SavedFilter.objects.filter(name__in=["Mine", "Ours"])) == [kept]


def test_the_tag_delete_page_names_the_saved_filters_that_use_the_tag(staff_client):
    buyers = Tag.objects.get(name="Buyers")
    other = make_user()
    SavedFilter.objects.create(
        name="Secret", target="contact", owner=other, query=f"tags__id__exact={buyers.pk}"
    )
    url = reverse("admin:crm_admin_tag_delete", args=[buyers.pk])
    response = staff_client.get(url)
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(warnings) == 1
    assert "“Buyers not contacted in 30 days”" in warnings[0]
    assert "1 private saved filter of another user" in warnings[0]
    assert "Secret" not in warnings[0]

    unused = Tag.objects.create(name="Unused")
    response = staff_client.get(reverse("admin:crm_admin_tag_delete", args=[unused.pk]))
    assert not list(get_messages(response.wsgi_request))


def test_a_saved_filter_whose_tag_is_gone_says_so_when_opened(staff_client):
    saved = SavedFilter.objects.get(name="Buyers not contacted in 30 days")
    buyers = Tag.objects.get(name="Buyers")
    staff_client.post(reverse("admin:crm_admin_tag_delete", args=[buyers.pk]), {"post": "yes"})
    assert not Tag.objects.filter(pk=buyers.pk).exists()

    response = staff_client.get(saved.get_absolute_url())
    assert response.status_code == 200
    warnings = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(
        "The saved filter “Buyers not contacted in 30 days” uses a tag that no longer exists" in w
        for w in warnings
    ), warnings


def test_bulk_deleting_tags_warns_before_and_reports_after(staff_client):
    buyers = Tag.objects.get(name="Buyers")
    tags = reverse("admin:crm_admin_tag_changelist")
    asked = staff_client.post(tags, {"action": "delete_selected", "_selected_action": [buyers.pk]})
    before = [str(m) for m in get_messages(asked.wsgi_request)]
    assert len(before) == 1 and before[0].startswith("These saved filters use this tag")
    assert Tag.objects.filter(pk=buyers.pk).exists()

    done = staff_client.post(
        tags, {"action": "delete_selected", "_selected_action": [buyers.pk], "post": "yes"}
    )
    after = [str(m) for m in get_messages(done.wsgi_request)]
    assert any(m.startswith("These saved filters used the deleted tag") for m in after), after
    assert not any(m.startswith("These saved filters use this tag") for m in after)
    assert not Tag.objects.filter(pk=buyers.pk).exists()


def test_a_list_filtered_by_an_existing_tag_gives_no_warning(staff_client):
    buyers = Tag.objects.get(name="Buyers")
    url = reverse("admin:crm_admin_contact_changelist") + f"?tags__id__exact={buyers.pk}"
    response = staff_client.get(url)
    assert not list(get_messages(response.wsgi_request))
