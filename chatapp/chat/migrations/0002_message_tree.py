# Messages form a tree (edits and regenerations are siblings) and a conversation has an
# active branch; a title the user set, pins, stop sequences; feedback on replies; text
# kept for search, with a full-text index on PostgreSQL.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def build_tree(apps, schema_editor):
    """Each message follows the one before it in its conversation (a reply, the question
    it answers); the last message ends the active branch; search text from the content."""
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    for conversation in Conversation.objects.iterator():
        previous = None
        for message in Message.objects.filter(conversation=conversation).order_by(
            "created_at", "id"
        ):
            message.parent_id = message.in_reply_to_id or (previous.pk if previous else None)
            message.search_text = "".join(
                block.get("text", "") for block in message.content if block.get("type") == "text"
            )
            message.save(update_fields=["parent", "search_text"])
            previous = message
        if previous is not None:
            conversation.active_leaf_id = previous.pk
            conversation.save(update_fields=["active_leaf"])


SEARCH_INDEX = "msg_search_text_fts"


def search_index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {SEARCH_INDEX} ON chat_message "
            "USING gin (to_tsvector('english'::regconfig, COALESCE(search_text, ''::text)))"
        )


def search_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Feedback",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rating",
                    models.CharField(choices=[("up", "Up"), ("down", "Down")], max_length=4),
                ),
                ("comment", models.TextField(blank=True, max_length=2000)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.RemoveIndex(
            model_name="conversation",
            name="conv_owner_recent",
        ),
        migrations.AddField(
            model_name="conversation",
            name="active_leaf",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="pinned",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="conversation",
            name="stop_sequences",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="conversation",
            name="title_set_by_user",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="search_text",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["owner", "-pinned", "-updated_at"], name="conv_owner_recent"
            ),
        ),
        migrations.AddField(
            model_name="feedback",
            name="message",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="feedback_set",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="feedback",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="feedback",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="feedback",
            index=models.Index(fields=["rating", "created_at"], name="feedback_rating_time"),
        ),
        migrations.AddConstraint(
            model_name="feedback",
            constraint=models.UniqueConstraint(
                fields=("message", "user"), name="feedback_once_per_user"
            ),
        ),
        migrations.RunPython(build_tree, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="message",
            name="in_reply_to",
        ),
        migrations.RunPython(search_index_create, search_index_drop),
    ]
