"""The models this project was built against, until a first sync replaces them with the
API's own list (catalogue.SEED; rows marked never synced)."""

from django.db import migrations


def seed(apps, schema_editor):
    from chatapp.llm.catalogue import SEED

    ClaudeModel = apps.get_model("llm", "ClaudeModel")
    if ClaudeModel.objects.exists():
        return
    for model in SEED:
        ClaudeModel.objects.create(
            id=model.id,
            display_name=model.label,
            lifecycle=model.lifecycle,
            line=model.line,
            max_input_tokens=model.max_input_tokens,
            max_tokens=model.max_output_tokens,
            capabilities=model.capabilities,
            is_default=model.is_default,
        )


class Migration(migrations.Migration):
    dependencies = [("llm", "0001_claude_models")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
