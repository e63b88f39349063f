from django.urls import path

from chatapp.chat.consumers import ChatConsumer

# The chat socket's path; the pages hand it to the client, which never copies it.
CHAT_SOCKET_PATH = "ws/chat/"

websocket_urlpatterns = [path(CHAT_SOCKET_PATH, ChatConsumer.as_asgi())]
