from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from chatapp.llm.catalogue import MODELS
from chatapp.routing import CHAT_SOCKET_PATH
from chatapp.usage.services import month_to_date

from . import selectors
from .forms import ConversationSettingsForm


def _owned_or_404(request, conversation_id: int):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


# The page's URL templates: the client fills `{id}` in and never copies a route.
_ID = 2147483647


def _url_template(name: str) -> str:
    return reverse(name, args=[_ID]).replace(str(_ID), "{id}")


def _urls() -> dict:
    return {
        "index": reverse("chat:index"),
        "socket": "/" + CHAT_SOCKET_PATH,
        **{
            name: _url_template(f"chat:{name}")
            for name in ("conversation", "messages", "settings", "delete")
        },
    }


def _conversation_data(conversation) -> dict:
    return {
        "conversation": conversation.to_dict(),
        "messages": [m.to_dict() for m in selectors.active_path(conversation=conversation)],
    }


@login_required
def chat(request, conversation_id: int | None = None):
    conversation = None
    chat_data = {"conversation": None, "messages": []}
    if conversation_id is not None:
        conversation = _owned_or_404(request, conversation_id)
        chat_data = _conversation_data(conversation)
    chat_data |= {
        "models": [{"id": m.id, "label": m.label} for m in MODELS],
        "default_model": settings.CHAT_DEFAULT_MODEL,
        "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "urls": _urls(),
        "settings_url": (
            reverse("chat:settings", args=[conversation.pk]) if conversation else None
        ),
        "month_to_date": month_to_date(user=request.user).to_dict(),
    }
    return render(
        request,
        "chat/index.html",
        {
            "conversations": selectors.conversation_list(user=request.user),
            "conversation": conversation,
            "chat_data": chat_data,
        },
    )


@login_required
def conversation_messages(request, conversation_id: int):
    """The conversation and its saved messages as JSON: what a tab reloads after a
    reconnect (the same shape as the page's `chat-data`)."""
    return JsonResponse(_conversation_data(_owned_or_404(request, conversation_id)))


@login_required
@require_POST
def conversation_settings(request, conversation_id: int):
    conversation = _owned_or_404(request, conversation_id)
    form = ConversationSettingsForm.partial(request.POST, instance=conversation)
    if not form.is_valid():
        return JsonResponse({"ok": False, "errors": form.errors}, status=400)
    conversation = form.save()
    return JsonResponse({"ok": True, "conversation": conversation.to_dict()})


@login_required
@require_POST
def conversation_delete(request, conversation_id: int):
    _owned_or_404(request, conversation_id).delete()
    return redirect("chat:index")
