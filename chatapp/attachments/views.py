"""Uploading a file, and serving it back to its owner (and staff) only. A stored file is
never served as what its name says: always as its checked media type, never sniffed,
sandboxed, and as a download unless it is an image."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.views.decorators.http import require_POST, require_safe

from .checks import AttachmentRefused
from .models import THUMBNAIL_MEDIA_TYPE
from .selectors import attachment_for_viewer
from .services import attachment_create

# A stored attachment never changes: the browser may keep it (for this user only).
CACHE_SECONDS = 3600


def _refusal(code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=400)


@login_required
@require_POST
def upload(request):
    """Contract (docs/protocol.md): multipart field `file` → 201 with the attachment, or
    400 {"error": {"code", "message"}}."""
    upload = request.FILES.get("file")
    if upload is None:
        return _refusal("missing_file", "No file was sent (the multipart field `file`).")
    try:
        attachment = attachment_create(owner=request.user, upload=upload)
    except AttachmentRefused as refused:
        return _refusal(refused.code, refused.message)
    return JsonResponse(attachment.to_dict(), status=201)


def _viewable_or_404(request, attachment_id: int):
    attachment = attachment_for_viewer(user=request.user, attachment_id=attachment_id)
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def _serve(field, *, media_type: str, inline: bool, filename: str) -> FileResponse:
    try:
        stored = field.storage.open(field.name, "rb")
    except OSError:
        raise Http404("The file is no longer stored.") from None
    if media_type == "text/plain":
        media_type = "text/plain; charset=utf-8"
    response = FileResponse(
        stored, content_type=media_type, as_attachment=not inline, filename=filename
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = f"private, max-age={CACHE_SECONDS}"
    return response


@login_required
@require_safe
def attachment_file(request, attachment_id: int):
    attachment = _viewable_or_404(request, attachment_id)
    return _serve(
        attachment.file,
        media_type=attachment.media_type,
        inline=attachment.kind == attachment.Kind.IMAGE,
        filename=attachment.download_name(),
    )


@login_required
@require_safe
def attachment_thumbnail(request, attachment_id: int):
    attachment = _viewable_or_404(request, attachment_id)
    if not attachment.thumbnail:
        raise Http404("Only images have a thumbnail.")
    return _serve(
        attachment.thumbnail,
        media_type=THUMBNAIL_MEDIA_TYPE,
        inline=True,
        filename=attachment.thumbnail_name(),
    )
