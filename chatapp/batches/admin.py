"""Batch jobs in the admin, read-only: the services write them."""

from django.contrib import admin

from chatapp.readonly_admin import ReadOnlyAdmin, ReadOnlyAdminMixin

from .models import BatchJob, BatchPart


class BatchPartInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BatchPart
    extra = 0
    fields = [
        "number",
        "batch_id",
        "status",
        "requests",
        "processing",
        "succeeded",
        "errored",
        "canceled",
        "expired",
        "imported",
        "next_attempt_at",
        "error",
    ]
    readonly_fields = fields


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "user",
        "name",
        "model",
        "status",
        "row_count",
        "request_count",
        "succeeded",
        "errored",
        "canceled",
        "expired",
        "cost",
    ]
    list_filter = ["status", "model", "created_at"]
    search_fields = ["user__username", "name", "parts__batch_id"]
    list_select_related = ["user"]
    inlines = [BatchPartInline]
