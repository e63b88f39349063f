from django.core.management.base import BaseCommand

from chatapp.chat.services import replies_mark_interrupted


class Command(BaseCommand):
    help = (
        "Marks replies left 'streaming' by a server that stopped as failed ('interrupted'). "
        "Run it at start-up, before any server process streams."
    )

    def handle(self, *args, **options):
        count = replies_mark_interrupted()
        if count:
            self.stdout.write(f"Marked {count} interrupted repl{'y' if count == 1 else 'ies'}.")
