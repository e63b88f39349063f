"""The README's two commands, with nothing but Python 3.11 installed:

    python3 -m chatapp.bootstrap serve   # set up and serve the app on http://127.0.0.1:8000
    python3 -m chatapp.bootstrap test    # set up and run the whole test suite

Both create `.venv/` and install the project into it when pyproject.toml has changed, then
go on inside it. Standard library only: this module runs before anything is installed.
"""

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".chatapp-installed"
POSTGRES_URL = "postgres://root@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def fail(text: str) -> None:
    print(f"error: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(*cmd, **kwargs) -> None:
    result = subprocess.run(cmd, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        fail(f"`{' '.join(map(str, cmd))}` failed with exit code {result.returncode}")


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs on whatever python3 is
        fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    if not VENV_PYTHON.exists():
        say(f"creating the virtualenv in {VENV}")
        run(sys.executable, "-m", "venv", str(VENV))

    def stamp(extras: str) -> str:
        return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()

    wanted = stamp(extras)
    # An install with the test extras serves the app too.
    good_enough = {wanted, stamp("[test]")}
    if STAMP.exists() and STAMP.read_text() in good_enough:
        return
    say("installing the project and its dependencies into .venv")
    run(str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "-e", f".{extras}")
    STAMP.write_text(wanted)


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(args: list[str]) -> None:
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), "-m", "chatapp.bootstrap", *args])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str, env=None) -> None:
    run(str(VENV_PYTHON), "manage.py", *args, env=env)


# --- serve -------------------------------------------------------------------------------


def serve(host: str, port: int) -> None:
    env = dict(os.environ)
    say("applying database migrations")
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage("recover_replies", env=env)
    print("\nLogins (created on first run):", flush=True)
    manage("ensure_demo_users", env=env)
    fake = None
    if not env.get("ANTHROPIC_API_KEY"):
        fake_port = free_port()
        fake = subprocess.Popen(
            [str(VENV_PYTHON), "-m", "chatapp.fake_anthropic", "--port", str(fake_port)],
            cwd=ROOT,
        )
        env.update(
            ANTHROPIC_BASE_URL=f"http://127.0.0.1:{fake_port}",
            ANTHROPIC_API_KEY="demo-mode-key",
            CHAT_DEMO_MODE="true",
        )
        print(
            "\n*** DEMO MODE: ANTHROPIC_API_KEY is not set, so replies are SIMULATED by the "
            f"built-in fake Anthropic API on port {fake_port}.\n*** Set ANTHROPIC_API_KEY "
            "and run this command again to talk to Claude.\n",
            flush=True,
        )
    else:
        say(f"using the Anthropic API at {env.get('ANTHROPIC_BASE_URL') or 'api.anthropic.com'}")
    if fake is not None:
        deadline = time.monotonic() + 10
        while not port_open(fake_port) and time.monotonic() < deadline:
            time.sleep(0.1)
    sync_models(env)
    worker = start_batch_worker(env)
    print(f"\nOpen http://{host}:{port}/ (Ctrl+C stops the server)\n", flush=True)
    server = subprocess.Popen(
        [str(VENV_PYTHON), "-m", "daphne", "-b", host, "-p", str(port), "chatapp.asgi:application"],
        cwd=ROOT,
        env=env,
    )
    try:
        sys.exit(server.wait())
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        server.wait()
    finally:
        for process in (worker, fake):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:  # a worker mid-import: safe to kill
                    process.kill()
                    process.wait()


def start_batch_worker(env):
    """The batch worker (`manage.py batch_worker`) beside the server, unless BATCH_WORKER
    is off (e.g. when it runs as a service of its own: docs/deployment.md). It stops with
    the server; a job it leaves half done is taken up where it was by the next start."""
    if env.get("BATCH_WORKER", "true").lower() in ("0", "false", "no", "off"):
        say("BATCH_WORKER is off: batch jobs wait for `manage.py batch_worker`")
        return None
    say("starting the batch worker")
    return subprocess.Popen([str(VENV_PYTHON), "manage.py", "batch_worker"], cwd=ROOT, env=env)


# --- test --------------------------------------------------------------------------------


def sync_models(env) -> None:
    """The model list from the Models API (in demo mode, the fake's); when the API cannot
    be reached the app still starts, on the list it has, and the admin says so."""
    result = subprocess.run(
        [str(VENV_PYTHON), "manage.py", "sync_models"], cwd=ROOT, env=env, check=False
    )
    if result.returncode != 0:
        say("the model list could not be synced: the app starts on the list it has")


def ensure_chromium(ci: bool) -> None:
    """The browser test drives Debian's chromium; install it where we may (root + apt)."""
    if shutil.which("chromium"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing chromium for the browser test (apt-get)")
        quiet = {"stdout": subprocess.DEVNULL}
        run("apt-get", "update", "-qq", **quiet)
        run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "chromium",
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            **quiet,
        )
    elif ci:
        fail("chromium is not installed and cannot be installed here (needs root and apt-get)")


def ensure_services(ci: bool, env: dict) -> None:
    """Runs the suite on PostgreSQL and tests Redis where they run on this machine (always
    in CI, which has them); a laptop without them runs on SQLite and skips those tests."""
    if ci and not port_open(5432) and shutil.which("pg_ctlcluster"):
        versions = sorted(os.listdir("/etc/postgresql"))
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
        )
    if ci and not port_open(6379) and shutil.which("redis-server"):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
        )
    if "DATABASE_URL" not in env and port_open(5432):
        env["DATABASE_URL"] = POSTGRES_URL
    if "TEST_REDIS_URL" not in env and port_open(6379):
        env["TEST_REDIS_URL"] = REDIS_URL
    say(f"database for the tests: {env.get('DATABASE_URL', 'SQLite (no PostgreSQL found)')}")
    say(f"Redis for the tests: {env.get('TEST_REDIS_URL', 'none found (those tests skip)')}")


def test(pytest_args: list[str]) -> None:
    env = dict(os.environ)
    ci = env.get("CI", "").lower() in ("1", "true", "yes")
    ensure_chromium(ci)
    ensure_services(ci, env)
    say("running ruff")
    run(str(VENV / "bin" / "ruff"), "check", ".")
    client_result = 0
    if not pytest_args:  # arguments choose pytest tests: then only those run
        client_result = run_client_tests(ci)
    say("running the test suite")
    result = subprocess.run([str(VENV_PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    sys.exit(result.returncode or client_result)


def run_client_tests(ci: bool) -> int:
    """The chat client's pure modules (static/chat/*.js) under Node's own test runner."""
    node = shutil.which("node")
    if node is None:
        if ci:
            fail("node is required in CI for the client's tests (tests/js) but is not installed")
        say("node is not installed: the client's tests (tests/js) are skipped")
        return 0
    say("running the client's tests (node --test tests/js/)")
    return subprocess.run([node, "--test", "tests/js/"], cwd=ROOT).returncode


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m chatapp.bootstrap")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="set up and serve the app")
    serve_cmd.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_cmd.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    commands.add_parser("test", help="set up and run the test suite (extra arguments go to pytest)")
    args, extra = parser.parse_known_args()
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    extras = "[test]" if args.command == "test" else ""
    if not in_venv():
        ensure_venv(extras)
        reexec_in_venv(sys.argv[1:])
    if args.command == "serve":
        serve(args.host, args.port)
    else:
        test(extra)


if __name__ == "__main__":
    main()
