# Batch jobs (chatapp/batches) record each result in the ledger with the purpose `batch`,
# and the daily roll-up counts the Batch API's calls and their cost apart, so the report can
# tell them from chat. No call was a batch call before this migration: the new columns start
# at 0 and stay exact.

from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0004_web_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagedaily",
            name="batch_requests",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagedaily",
            name="batch_cost",
            field=models.DecimalField(decimal_places=15, default=Decimal("0"), max_digits=30),
        ),
        migrations.AlterField(
            model_name="usagerecord",
            name="purpose",
            field=models.CharField(
                choices=[("chat", "Chat"), ("title", "Title"), ("batch", "Batch")],
                default="chat",
                max_length=10,
            ),
        ),
    ]
