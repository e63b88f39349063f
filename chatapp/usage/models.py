from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from .pricing import (
    LEDGER_FIELDS,
    TOKEN_FIELDS,  # noqa: F401 (read from here by the tests and bench/)
    WEB_SEARCH_PER_1K,
    Prices,
)

# Exact for any price with 6 decimals per million tokens times a 3-decimal batch multiplier
# (and for a 6-decimal price per 1,000 searches).
MONEY = {"max_digits": 30, "decimal_places": 15}
MONEY_PLACES = Decimal(10) ** -MONEY["decimal_places"]
RATE = {"max_digits": 12, "decimal_places": 6, "validators": [MinValueValidator(Decimal(0))]}


def token_columns(field_class: type[models.Field]) -> type[models.Model]:
    """An abstract model with one column per token kind and per server tool's request
    count (pricing.LEDGER_FIELDS)."""
    attrs = {name: field_class(default=0) for name in LEDGER_FIELDS}
    attrs["Meta"] = type("Meta", (), {"abstract": True})
    attrs["__module__"] = __name__
    return type(f"{field_class.__name__}TokenColumns", (models.Model,), attrs)


class ModelPrice(models.Model):
    """A model's prices from a date on; a later row replaces it from its own date, and
    what was recorded before keeps the row it was costed with."""

    model = models.CharField(max_length=100)
    effective_from = models.DateField()
    input_per_mtok = models.DecimalField("input $/MTok", **RATE)
    output_per_mtok = models.DecimalField("output $/MTok", **RATE)
    cache_write_5m_per_mtok = models.DecimalField("cache write 5 min $/MTok", **RATE)
    cache_write_1h_per_mtok = models.DecimalField("cache write 1 h $/MTok", **RATE)
    cache_read_per_mtok = models.DecimalField("cache read $/MTok", **RATE)
    web_search_per_1k = models.DecimalField(
        "web search $/1,000 searches",
        **RATE,
        default=WEB_SEARCH_PER_1K,
        help_text="Charged per search on top of the tokens, in batches too.",
    )
    batch_multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal(0))],
        help_text="The Batch API's price as a fraction of the normal price.",
    )

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="price_once_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from}"

    @property
    def prices(self) -> Prices:
        return Prices(
            input=self.input_per_mtok,
            output=self.output_per_mtok,
            cache_write_5m=self.cache_write_5m_per_mtok,
            cache_write_1h=self.cache_write_1h_per_mtok,
            cache_read=self.cache_read_per_mtok,
            batch_multiplier=self.batch_multiplier,
            web_search_per_1k=self.web_search_per_1k,
        )


class UsageRecord(token_columns(models.PositiveIntegerField)):
    """The ledger: one row per upstream call that can cost money. It is written when the
    call is about to be made (holding `reserved_cost` against the user's budget) and
    settled once when the call ends, with the tokens and the exact cost.

    What the call was made for is kept as plain ids of the chat's conversation and message:
    usage is the leaf app, and a deleted conversation leaves its calls as they were."""

    class Purpose(models.TextChoices):
        """What the call was for; each kind of call that costs money adds its own."""

        CHAT = "chat"
        TITLE = "title"
        BATCH = "batch"  # one result of a batch job (chatapp/batches), at the batch price

    class Status(models.TextChoices):
        RESERVED = "reserved"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"
        # The server died mid-call: settled at the usage its last checkpoint knew.
        INTERRUPTED = "interrupted"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="usage"
    )
    conversation_id = models.BigIntegerField(null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True, unique=True)
    model = models.CharField(max_length=100)
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.CHAT)
    is_batch = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RESERVED)
    # The most the call can cost, held against the budget until it is settled.
    reserved_cost = models.DecimalField(**MONEY, default=Decimal(0))
    # The exact cost; null when the model has no price (flagged to admins, never 0).
    cost = models.DecimalField(**MONEY, null=True, blank=True)
    price = models.ForeignKey(ModelPrice, null=True, blank=True, on_delete=models.PROTECT)
    request_id = models.CharField(max_length=100, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="usage_user_time"),
            models.Index(fields=["created_at"], name="usage_time"),
            models.Index(fields=["model", "created_at"], name="usage_model_time"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} call {self.pk} ({self.model})"

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens


class UsagePolicy(models.Model):
    """Site-wide limits (one row), editable in the admin."""

    default_monthly_budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Each user's monthly spend limit unless set per user; empty: no limit.",
    )
    max_tokens_cap = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="No reply may ask for more output tokens than this.",
    )
    requests_per_minute = models.PositiveIntegerField(
        help_text="Replies a user may start per minute; 0: no limit."
    )

    class Meta:
        verbose_name = "usage policy"
        verbose_name_plural = "usage policy"

    def __str__(self) -> str:
        return "Usage policy"

    @classmethod
    def current(cls) -> "UsagePolicy":
        policy, _ = cls.objects.get_or_create(
            pk=1,
            defaults={
                "default_monthly_budget_usd": settings.USAGE_DEFAULT_MONTHLY_BUDGET_USD,
                "max_tokens_cap": settings.USAGE_MAX_TOKENS_CAP,
                "requests_per_minute": settings.USAGE_REQUESTS_PER_MINUTE,
            },
        )
        return policy


class UserBudget(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="budget"
    )
    monthly_limit_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text="Empty: the site-wide default.",
    )

    def __str__(self) -> str:
        return f"Budget of {self.user}"


class UpstreamRateLimit(models.Model):
    """The anthropic-ratelimit-* headers of the latest upstream answer (one row)."""

    headers = models.JSONField(default=dict)
    observed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return "Upstream rate limits"


class UsageDaily(token_columns(models.BigIntegerField)):
    """The ledger summed per day, user and model, kept in the same transaction as each
    settled call, so reports over millions of calls read thousands of rows. `day` is in
    the site's time zone (settings.TIME_ZONE)."""

    day = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.CharField(max_length=100)
    requests = models.PositiveIntegerField(default=0)
    # Sum of the priced calls' costs; calls without a price are counted apart, never as 0.
    cost = models.DecimalField(**MONEY, default=Decimal(0))
    unpriced_requests = models.PositiveIntegerField(default=0)
    # What cache reads saved against the full input price, less the cache-write premium.
    cache_savings = models.DecimalField(**MONEY, default=Decimal(0))
    # Of the above, the Batch API's calls (`is_batch`) and their cost: the report tells
    # batch spend from chat with them.
    batch_requests = models.PositiveIntegerField(default=0)
    batch_cost = models.DecimalField(**MONEY, default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "user", "model"], name="usage_daily_once")
        ]
        indexes = [
            models.Index(fields=["day", "model"], name="usage_daily_day_model"),
            models.Index(fields=["user", "day"], name="usage_daily_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id} {self.model}"
