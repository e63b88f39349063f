"""The catalogue from the Models API: every page of `GET /v1/models`, saved into
ClaudeModel. A model the API no longer lists is kept (conversations name it) but never
offered again; the admin's choices (visible, default) survive every sync."""

from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from chatapp.errors import AppError

from .client import async_client
from .models import ClaudeModel, SyncFailure
from .stream import raise_upstream

SYNC_TIMEOUT_SECONDS = 20


async def models_fetch() -> list[dict]:
    """Every model the API lists, as JSON objects (the SDK pages through them)."""
    listed = []
    try:
        # Retired models too: the API lists them only when asked, and a retirement must be
        # recorded as one (not as a model that disappeared).
        # A short timeout and one retry: `serve` syncs before it starts, and an API that
        # does not answer must not hold the app up for ANTHROPIC_TIMEOUT.
        client = async_client().with_options(timeout=SYNC_TIMEOUT_SECONDS, max_retries=1)
        pages = client.models.list(limit=100, lifecycle=["active", "deprecated", "retired"])
        async for model in pages:
            listed.append(model.model_dump(mode="json"))
    except Exception as exc:
        raise_upstream(exc)
    return listed


@dataclass(frozen=True)
class SyncResult:
    listed: int
    added: int
    unlisted: int

    def __str__(self) -> str:
        return (
            f"{self.listed} models listed by the API ({self.added} new); "
            f"{self.unlisted} no longer listed"
        )


@transaction.atomic
def models_save(listed: list[dict]) -> SyncResult:
    now = timezone.now()
    known = {row.id: row for row in ClaudeModel.objects.select_for_update()}
    added = 0
    for data in listed:
        row = known.get(data["id"]) or ClaudeModel(id=data["id"])
        added += row._state.adding
        row.display_name = data.get("display_name") or data["id"]
        row.released_at = data.get("created_at")
        row.lifecycle = data.get("lifecycle") or ClaudeModel.Lifecycle.ACTIVE
        row.deprecated_at = data.get("deprecated_at")
        row.retires_at = data.get("retires_at")
        row.line = data.get("line") or ""
        row.max_input_tokens = data.get("max_input_tokens")
        row.max_tokens = data.get("max_tokens")
        row.capabilities = data.get("capabilities") or {}
        row.listed = True
        row.synced_at = now
        row.save()
    ids = {data["id"] for data in listed}
    gone = [row for row in known.values() if row.id not in ids and row.listed]
    for row in gone:
        row.listed = False
        row.save(update_fields=["listed"])
    _keep_a_default(gone)
    return SyncResult(listed=len(listed), added=added, unlisted=len(gone))


def _keep_a_default(gone: list[ClaudeModel]) -> None:
    """A default the API no longer lists passes to its newest snapshot, if any."""
    for row in gone:
        if not row.is_default:
            continue
        successor = (
            ClaudeModel.objects.filter(id__startswith=f"{row.id}-", listed=True)
            .exclude(lifecycle=ClaudeModel.Lifecycle.RETIRED)
            .order_by("-id")
            .first()
        )
        if successor is not None:
            ClaudeModel.objects.filter(pk=row.pk).update(is_default=False)
            ClaudeModel.objects.filter(pk=successor.pk).update(is_default=True)


def models_sync() -> SyncResult:
    """Fetches and saves the catalogue (from sync code: the command, `serve` through it,
    the admin). An API that cannot be read is recorded (SyncFailure) before the error
    goes on; a sync that succeeds forgets it."""
    try:
        listed = async_to_sync(models_fetch)()
    except AppError as exc:
        SyncFailure.objects.update_or_create(
            pk=1, defaults={"failed_at": timezone.now(), "error": f"{exc.message} ({exc.code})"}
        )
        raise
    result = models_save(listed)
    SyncFailure.objects.filter(pk=1).delete()
    return result
