"""Staff list the uploads (read only); nobody else gets in."""

from django.urls import reverse

from chatapp.attachments.services import attachment_create

from .conftest import upload


def test_staff_see_the_uploads_read_only(client, owner, staff):
    attachment = attachment_create(owner=owner, upload=upload("notes.md", b"# Notes\n"))
    client.force_login(staff)
    page = client.get(reverse("admin:attachments_attachment_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "notes.md" in html and "owner" in html and "8 bytes" in html.replace("\xa0", " ")
    assert reverse("attachments:file", args=[attachment.pk]) in html
    detail = client.get(reverse("admin:attachments_attachment_change", args=[attachment.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.get(reverse("admin:attachments_attachment_add")).status_code == 403


def test_non_staff_cannot_list_them(client, owner):
    client.force_login(owner)
    response = client.get(reverse("admin:attachments_attachment_changelist"))
    assert response.status_code == 302
