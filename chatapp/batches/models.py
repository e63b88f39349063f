"""A batch job: many prompts from one uploaded file, sent through the Message Batches API
at the batch price.

A job's rows (BatchRow, one per line of the file) map onto the requests actually sent
(BatchRequest): identical rows share one request, sent once and costed once. The requests
go to the API in one or more parts (BatchPart, one API batch each: the API takes at most
100,000 requests or 256 MB per batch). Each request holds its ledger row from the moment
the job is stored (reserved at its worst case) to the moment its result is imported
(settled at its exact cost): one ledger row per result, never two.
"""

import json
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse

from chatapp.usage.models import MONEY, UsageRecord


class BatchJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # stored and reserved; the worker has yet to send it
        RUNNING = "running", "Running"  # sent: the API is working through it
        CANCELING = "canceling", "Canceling"  # the owner asked to stop it
        ENDED = "ended", "Ended"  # every part ended and its results are imported
        FAILED = "failed", "Failed"  # the API refused every part of it

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_jobs"
    )
    name = models.CharField(max_length=255)  # the uploaded file's name
    model = models.CharField(max_length=100)
    system = models.TextField(blank=True)
    max_tokens = models.PositiveIntegerField()
    # The shared system prompt cached for an hour (the first request writes it, the others
    # read it at a tenth of the input price).
    cache_system = models.BooleanField(default=False)
    # A JSON schema for structured output (output_config.format), or empty. Kept as text:
    # a JSON column may reorder an object's keys, and the order of the schema's fields is
    # the order of the CSV's columns (and of what the model writes).
    output_schema = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    row_count = models.PositiveIntegerField(default=0)
    request_count = models.PositiveIntegerField(default=0)  # rows less the identical ones
    # Results imported so far, by their type, in requests.
    succeeded = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    canceled = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    # The worst case held against the budget when the job was stored, and the exact cost
    # of the results imported so far (those of a model without a price are counted apart).
    reserved_cost = models.DecimalField(**MONEY, default=Decimal(0))
    cost = models.DecimalField(**MONEY, default=Decimal(0))
    unpriced = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    resubmitted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmissions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="batch_job_user_time")]

    def __str__(self) -> str:
        return f"Batch job {self.pk} ({self.name})"

    def get_absolute_url(self) -> str:
        return reverse("batches:job", args=[self.pk])

    @property
    def schema(self) -> dict | None:
        return json.loads(self.output_schema) if self.output_schema else None

    @property
    def reused(self) -> int:
        """Rows answered by another row's request: sent once, costed once."""
        return self.row_count - self.request_count

    @property
    def imported(self) -> int:
        return self.succeeded + self.errored + self.canceled + self.expired

    @property
    def failed_results(self) -> int:
        """Requests that can be sent again: errored, expired or canceled."""
        return self.errored + self.expired + self.canceled

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.ENDED, self.Status.FAILED)

    @property
    def can_cancel(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class BatchPart(models.Model):
    """One API batch of a job, from its submission to its imported results."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting to be sent (again, after `next_attempt_at`)
        SUBMITTING = "submitting"  # a worker is sending it (until `lease_until`)
        IN_PROGRESS = "in_progress"  # the API's processing_status, polled
        CANCELING = "canceling"
        ENDED = "ended"  # the API is done: its results are being imported
        IMPORTED = "imported"  # every result is in the database
        FAILED = "failed"  # the API refused it: its requests are errored
        CANCELED = "canceled"  # canceled before it was sent: its requests are canceled

    DONE = (Status.IMPORTED, Status.FAILED, Status.CANCELED)

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    # The API's id (msgbatch_…), once created.
    batch_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    requests = models.PositiveIntegerField()
    bytes = models.BigIntegerField()  # the size of its requests as sent
    # The API's request_counts, as last polled.
    processing = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    canceled = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    # When the worker next acts on it (send, poll or import), and the polling interval,
    # which grows while the batch runs; failed attempts in a row back off too.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    poll_interval = models.FloatField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    # A submission under way: no other worker sends the part before this time. One found
    # past it, without an id, is looked for among the API's batches before it is resent.
    lease_until = models.DateTimeField(null=True, blank=True)
    submit_started_at = models.DateTimeField(null=True, blank=True)
    cancel_sent_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="batch_part_once"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="batch_part_due")]

    def __str__(self) -> str:
        return f"Part {self.number} of job {self.job_id} ({self.batch_id or 'not sent'})"


class BatchRequest(models.Model):
    """One request as sent (one or more identical rows), and its result once imported."""

    class Result(models.TextChoices):
        NONE = "", "Waiting"
        SUCCEEDED = "succeeded", "Succeeded"
        ERRORED = "errored", "Errored"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Expired"

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="batch_requests")
    part = models.ForeignKey(BatchPart, on_delete=models.CASCADE, related_name="batch_requests")
    # The custom_id sent to the API (`r<n>`, unique within the job): with the part's batch
    # id, the key a result is imported by.
    custom_id = models.CharField(max_length=64)
    prompt = models.TextField()
    system = models.TextField(blank=True)  # the row's own, or the job's
    input_tokens_at_most = models.PositiveIntegerField()
    usage_record = models.OneToOneField(
        UsageRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    result = models.CharField(max_length=10, choices=Result.choices, blank=True, default="")
    output = models.TextField(blank=True)  # the reply's text
    # As the API sent it, whatever its length: a value added after this was written too.
    stop_reason = models.TextField(blank=True)
    error_type = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    # The API's Message of a succeeded result, whole (its content blocks, usage, model).
    message = models.JSONField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "custom_id"], name="batch_request_once"),
            models.UniqueConstraint(fields=["part", "custom_id"], name="batch_result_key"),
        ]

    def __str__(self) -> str:
        return f"{self.custom_id} of job {self.job_id}"

    @property
    def reason(self) -> str:
        """Why a request has no answer, as a person reads it."""
        if self.result == self.Result.ERRORED:
            kind = self.error_type.replace("_", " ") if self.error_type else "error"
            return f"{kind}: {self.error_message}" if self.error_message else kind
        return self.error_message


class BatchRow(models.Model):
    """A row of the uploaded file, in its order, with the request that answers it."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="batch_rows")
    number = models.PositiveIntegerField()  # 1 for the first row after a CSV's header
    custom_id = models.CharField(max_length=64)  # the file's own, or `row-<number>`
    request = models.ForeignKey(BatchRequest, on_delete=models.CASCADE, related_name="rows")
    # The first row of its request? The others reuse its result at no cost.
    first = models.BooleanField(default=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="batch_row_once"),
            models.UniqueConstraint(fields=["job", "custom_id"], name="batch_row_custom_id"),
        ]

    def __str__(self) -> str:
        return f"Row {self.number} of job {self.job_id}"
