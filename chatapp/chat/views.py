from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from chatapp.llm import catalogue
from chatapp.routing import CHAT_SOCKET_PATH
from chatapp.usage.services import month_to_date

from . import selectors
from .export import export_markdown
from .forms import ConversationSettingsForm, FeedbackForm
from .services import conversation_announce, feedback_set


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
        "search": reverse("chat:search"),
        "conversations": reverse("chat:conversations"),
        "attachments": reverse("attachments:upload"),
        **{
            name: _url_template(f"chat:{name}")
            for name in ("conversation", "messages", "settings", "delete", "export", "feedback")
        },
    }


def _conversation_data(conversation) -> dict:
    data = conversation.to_dict()
    model = catalogue.get(conversation.model)
    if model is not None and model.offered:  # an alias, as the picker lists it
        data["model"] = model.id
    return {
        "conversation": data,
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
        "models": [m.to_dict() for m in catalogue.offered()],
        "default_model": catalogue.default_model_id(),
        "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "max_attachments": settings.CHAT_MAX_ATTACHMENTS,
        "urls": _urls(),
        "month_to_date": month_to_date(user=request.user).to_dict(),
    }
    first_page, chat_data["conversations_next"] = selectors.conversation_page(user=request.user)
    return render(
        request,
        "chat/index.html",
        {
            "conversations": first_page,
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
    conversation_announce(conversation=conversation)
    return JsonResponse({"ok": True, "conversation": conversation.to_dict()})


@login_required
@require_POST
def conversation_delete(request, conversation_id: int):
    _owned_or_404(request, conversation_id).delete()
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"ok": True, "redirect": reverse("chat:index")})
    return redirect("chat:index")


def _conversation_row(conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "pinned": conversation.pinned,
        "updated_at": conversation.updated_at.isoformat(),
    }


@login_required
@require_GET
def conversations(request):
    """The sidebar's list, a page at a time (`?after=` the `next` of the page before)."""
    try:
        page, cursor = selectors.conversation_page(
            user=request.user, after=request.GET.get("after") or None
        )
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"conversations": [_conversation_row(c) for c in page], "next": cursor})


SEARCH_QUERY_CHARS = 200


@login_required
@require_GET
def search(request):
    """Contract: `GET /search/?q=TEXT` → {"results": [{conversation_id, title, snippet}]},
    over the logged-in user's conversations only."""
    query = request.GET.get("q", "").strip()
    if len(query) > SEARCH_QUERY_CHARS:
        return JsonResponse(
            {
                "error": f"The search is {len(query):,} characters long; the limit is "
                f"{SEARCH_QUERY_CHARS}."
            },
            status=400,
        )
    if not query:
        return JsonResponse({"results": []})
    return JsonResponse({"results": selectors.conversation_search(user=request.user, query=query)})


@login_required
@require_GET
def conversation_export(request, conversation_id: int):
    """Contract: `?format=json` every message of every branch; `?format=md` the active
    branch. A download either way."""
    conversation = _owned_or_404(request, conversation_id)
    kind = request.GET.get("format", "md")
    name = f"conversation-{conversation.pk}"
    if kind == "json":
        response = JsonResponse(
            selectors.conversation_export(conversation=conversation),
            json_dumps_params={"ensure_ascii": False, "indent": 2},
        )
        filename = f"{name}.json"
    elif kind == "md":
        path = selectors.active_path(conversation=conversation)
        response = HttpResponse(
            export_markdown(conversation, path), content_type="text/markdown; charset=utf-8"
        )
        filename = f"{name}.md"
    else:
        return JsonResponse({"error": "format is md or json."}, status=400)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@login_required
@require_POST
def message_feedback(request, message_id: int):
    """The user's rating of one of their replies (an empty rating clears it)."""
    message = selectors.reply_of_user(user=request.user, message_id=message_id)
    if message is None:
        raise Http404("No such reply.")
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "errors": form.errors}, status=400)
    feedback = feedback_set(
        user=request.user,
        message=message,
        rating=form.cleaned_data["rating"],
        comment=form.cleaned_data["comment"],
    )
    return JsonResponse({"ok": True, "feedback": feedback.to_dict() if feedback else None})
