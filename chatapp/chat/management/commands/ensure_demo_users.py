import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERS = (
    ("demo", {"is_staff": False, "is_superuser": False}),
    ("admin", {"is_staff": True, "is_superuser": True}),
)


class Command(BaseCommand):
    help = (
        "Creates a demo user and an admin when the database has no users yet, and prints "
        "their logins (kept in var/demo_logins.json, readable by this account only)."
    )

    def handle(self, *args, **options):
        path = settings.VAR_DIR / "demo_logins.json"
        logins = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        if not User.objects.exists():
            logins = {}
            for username, flags in DEMO_USERS:
                password = secrets.token_urlsafe(12)
                User.objects.create_user(username=username, password=password, **flags)
                logins[username] = password
            settings.VAR_DIR.mkdir(exist_ok=True)
            path.write_text(json.dumps(logins))
            path.chmod(0o600)
        for username, password in logins.items():
            user = User.objects.filter(username=username).first()
            if user is None or not user.check_password(password):
                continue  # changed or removed since: not ours to print
            role = "admin (staff)" if user.is_staff else "user"
            self.stdout.write(f"  {role:<14} username: {username:<8} password: {password}")
