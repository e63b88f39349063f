# Web searches are billed per search on top of the tokens: each price row gets a price per
# 1,000 searches, versioned with its other prices (rows already there get the API's $10.00),
# and the ledger and its daily roll-up count each call's web searches and web fetches
# (pricing.TokenUsage's server-tool fields; a fetch costs only its tokens).

from decimal import Decimal

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_ledger_leaf"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelprice",
            name="web_search_per_1k",
            field=models.DecimalField(
                decimal_places=6,
                default=Decimal("10.00"),
                help_text="Charged per search on top of the tokens, in batches too.",
                max_digits=12,
                validators=[django.core.validators.MinValueValidator(Decimal("0"))],
                verbose_name="web search $/1,000 searches",
            ),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="web_search_requests",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="web_fetch_requests",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagedaily",
            name="web_search_requests",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagedaily",
            name="web_fetch_requests",
            field=models.BigIntegerField(default=0),
        ),
    ]
