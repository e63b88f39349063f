from django.core.management.base import BaseCommand

from chatapp.chat.services import replies_recover


class Command(BaseCommand):
    help = (
        "Recovers the replies whose server process died (still 'streaming', with a lease "
        "that ran out): each keeps what had arrived, is marked 'interrupted', and its cost "
        "is settled at the usage known then. Safe at any moment: replies that live "
        "processes stream are left alone."
    )

    def handle(self, *args, **options):
        count = len(replies_recover())
        if count:
            self.stdout.write(f"Recovered {count} interrupted repl{'y' if count == 1 else 'ies'}.")
