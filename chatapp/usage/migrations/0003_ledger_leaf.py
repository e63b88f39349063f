# The ledger keeps plain ids of the conversation and message a call was made for, instead
# of foreign keys into the chat app: usage is the leaf app. The columns and their data
# stay; only the constraints go (the message id stays unique: one ledger row per reply).
# The purposes: chat replies and titles (batch goes until batches are recorded).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0002_seed_prices"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usagerecord",
            name="conversation",
            field=models.BigIntegerField(blank=True, null=True, db_column="conversation_id"),
        ),
        migrations.AlterField(
            model_name="usagerecord",
            name="message",
            field=models.BigIntegerField(
                blank=True, null=True, unique=True, db_column="message_id"
            ),
        ),
        migrations.RenameField(
            model_name="usagerecord", old_name="conversation", new_name="conversation_id"
        ),
        migrations.RenameField(model_name="usagerecord", old_name="message", new_name="message_id"),
        migrations.AlterField(
            model_name="usagerecord",
            name="conversation_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="usagerecord",
            name="message_id",
            field=models.BigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="usagerecord",
            name="purpose",
            field=models.CharField(
                choices=[("chat", "Chat"), ("title", "Title")], default="chat", max_length=10
            ),
        ),
    ]
