"""The seed rows a sync has not replaced yet get the seed's capabilities as the API sends
them (every thinking type and context strategy spelled out, valid for the SDK's
ModelCapabilities); a synced row is the API's own and is left alone."""

from django.db import migrations


def complete(apps, schema_editor):
    from chatapp.llm.catalogue import SEED

    ClaudeModel = apps.get_model("llm", "ClaudeModel")
    for model in SEED:
        ClaudeModel.objects.filter(id=model.id, synced_at__isnull=True).update(
            capabilities=model.capabilities
        )


class Migration(migrations.Migration):
    dependencies = [("llm", "0002_seed_models")]

    operations = [migrations.RunPython(complete, migrations.RunPython.noop)]
