from django.urls import path

from . import views

app_name = "attachments"
urlpatterns = [
    path("", views.upload, name="upload"),
    path("<int:attachment_id>/", views.attachment_file, name="file"),
    path("<int:attachment_id>/thumbnail/", views.attachment_thumbnail, name="thumbnail"),
]
