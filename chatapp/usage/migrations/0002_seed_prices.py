"""Current Claude prices (USD per million tokens). Cache writes cost 1.25x (5 minutes) or
2x (1 hour) the input price, cache reads 0.1x; the Batch API halves everything."""

from decimal import Decimal

from django.db import migrations

EFFECTIVE_FROM = "2026-01-01"
PRICES = {
    "claude-opus-4-8": ("5", "25"),
    "claude-sonnet-5": ("3", "15"),
    "claude-haiku-4-5": ("1", "5"),
    "claude-fable-5": ("10", "50"),
}


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("usage", "ModelPrice")
    for model, (input_price, output_price) in PRICES.items():
        base = Decimal(input_price)
        ModelPrice.objects.get_or_create(
            model=model,
            effective_from=EFFECTIVE_FROM,
            defaults={
                "input_per_mtok": base,
                "output_per_mtok": Decimal(output_price),
                "cache_write_5m_per_mtok": base * Decimal("1.25"),
                "cache_write_1h_per_mtok": base * 2,
                "cache_read_per_mtok": base * Decimal("0.1"),
                "batch_multiplier": Decimal("0.5"),
            },
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("usage", "ModelPrice")
    ModelPrice.objects.filter(effective_from=EFFECTIVE_FROM, model__in=PRICES).delete()


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
