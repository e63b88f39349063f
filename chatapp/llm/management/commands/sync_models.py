from django.core.management.base import BaseCommand, CommandError

from chatapp.errors import AppError
from chatapp.llm.sync import models_sync


class Command(BaseCommand):
    help = "Sync the model catalogue from the Models API (GET /v1/models, every page)."

    def handle(self, *args, **options):
        try:
            result = models_sync()
        except AppError as exc:
            raise CommandError(f"Could not sync the models: {exc.message} ({exc.code})") from exc
        self.stdout.write(f"Synced the models: {result}.")
