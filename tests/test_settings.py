"""A bad setting stops the server at start with a message naming it, not at the first
reply."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["CHAT_DB_THREADS", "CHAT_DB_SETTLE_THREADS"])
def test_a_thread_count_below_one_is_refused_at_start(name):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatapp.settings", name: "0"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"{name} must be at least 1, not 0" in result.stderr
