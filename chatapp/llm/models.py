from django.db import models
from django.db.models import Q


class ClaudeModel(models.Model):
    """A model of the Models API (`GET /v1/models`), as last synced: what it is, its
    lifecycle, its limits and its capabilities exactly as the API returns them. The admin
    chooses which are offered and which is the default."""

    class Lifecycle(models.TextChoices):
        ACTIVE = "active"
        DEPRECATED = "deprecated"
        RETIRED = "retired"

    id = models.CharField(max_length=100, primary_key=True)
    display_name = models.CharField(max_length=200)
    released_at = models.DateTimeField(null=True, blank=True)
    lifecycle = models.CharField(max_length=12, choices=Lifecycle.choices)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    retires_at = models.DateTimeField(null=True, blank=True)
    line = models.CharField(max_length=20, blank=True)
    max_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    # The API's `capabilities` object, kept whole (ModelCapabilities).
    capabilities = models.JSONField(default=dict, blank=True)
    visible = models.BooleanField(default=True, help_text="Offered in the model picker.")
    is_default = models.BooleanField(default=False, help_text="The model of a new chat.")
    # False once a sync no longer finds it: then it is never offered.
    listed = models.BooleanField(default=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-released_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.id})"


class SyncFailure(models.Model):
    """The last sync whose Models API could not be read (one row, pk 1), until a sync
    succeeds: the admin home says when and why, since `serve` starts all the same."""

    failed_at = models.DateTimeField()
    error = models.TextField()

    def __str__(self) -> str:
        return f"sync failed at {self.failed_at:%Y-%m-%d %H:%M}: {self.error}"
