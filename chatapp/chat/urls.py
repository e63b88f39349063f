from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.chat, name="index"),
    path("c/<int:conversation_id>/", views.chat, name="conversation"),
    path("c/<int:conversation_id>/messages/", views.conversation_messages, name="messages"),
    path("c/<int:conversation_id>/settings/", views.conversation_settings, name="settings"),
    path("c/<int:conversation_id>/delete/", views.conversation_delete, name="delete"),
    path("c/<int:conversation_id>/export/", views.conversation_export, name="export"),
    path("messages/<int:message_id>/feedback/", views.message_feedback, name="feedback"),
    path("conversations/", views.conversations, name="conversations"),
    path("search/", views.search, name="search"),
]
