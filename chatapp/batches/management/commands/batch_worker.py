import signal
import threading

from django.core.management.base import BaseCommand

from chatapp.batches import worker


class Command(BaseCommand):
    help = (
        "Runs the batch worker until stopped (SIGTERM or Ctrl+C): sends batch jobs through "
        "the Message Batches API, polls them and imports their results. Stopping it at any "
        "moment loses nothing and records no result twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="one turn over the parts that are due, then exit"
        )

    def handle(self, *args, once=False, **options):
        if once:
            worker.turn()
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker.run(stop)
