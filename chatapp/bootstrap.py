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


def serve(host: str, port: int, workers: int) -> None:
    env = dict(os.environ)
    if workers > 1 and not env.get("REDIS_URL"):
        fail(
            f"--workers {workers} needs REDIS_URL: the server processes pass live replies to "
            "each other through Redis (docs/deployment.md)"
        )
    # SIGTERM (systemd, docker, kill) stops everything as Ctrl+C does: nothing this command
    # started is left running, reparented and still serving on the port.
    signal.signal(signal.SIGTERM, _stop_requested)
    started: list = []
    try:
        _serve(host, port, workers, env, started)
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for process in reversed(started):
            if isinstance(process, Servers):
                process.stop()
            else:
                stop_process(process)


def _serve(host: str, port: int, workers: int, env: dict, started: list) -> None:
    say("applying database migrations")
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage("recover_replies", env=env)
    if env.get("CHAT_DEMO_USERS", "true").lower() in ("0", "false", "no", "off"):
        say("CHAT_DEMO_USERS is off: no demo logins are made (create users with createsuperuser)")
    else:
        print("\nLogins (created on first run):", flush=True)
        manage("ensure_demo_users", env=env)
    if not env.get("ANTHROPIC_API_KEY"):
        fake_port = free_port()
        started.append(
            subprocess.Popen(
                [str(VENV_PYTHON), "-m", "chatapp.fake_anthropic", "--port", str(fake_port)],
                cwd=ROOT,
            )
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
        deadline = time.monotonic() + 10
        while not port_open(fake_port) and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        say(f"using the Anthropic API at {env.get('ANTHROPIC_BASE_URL') or 'api.anthropic.com'}")
    sync_models(env)
    worker = start_batch_worker(env)
    if worker is not None:
        started.append(worker)
    servers = Servers(host, port, workers, env)
    started.append(servers)
    plural = "es" if workers > 1 else ""
    say(f"{workers} server process{plural} on {host}:{port}")
    print(f"\nOpen http://{host}:{port}/ (Ctrl+C stops the server)\n", flush=True)
    servers.run()


class StopRequested(Exception):
    pass


def _stop_requested(signum, frame):
    raise StopRequested


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:  # e.g. a batch worker mid-import: safe to kill
        process.kill()
        process.wait()


class Servers:
    """`workers` server processes (chatapp/server.py, daphne) sharing one listening
    socket, bound here and handed to each with `--fd`: the kernel spreads connections
    over them. One that dies is started again; its replies are recovered by the others
    once their lease runs out (docs/architecture.md)."""

    def __init__(self, host: str, port: int, workers: int, env: dict):
        self.env = env
        self.workers = workers
        try:
            self.listener = socket.create_server((host, port), backlog=1024)
        except OSError as exc:
            fail(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another server there? "
                "Choose another with --port or PORT"
            )
        self.listener.set_inheritable(True)
        self.started: dict[int, float] = {}
        self.processes = [self._start() for _ in range(workers)]

    def _start(self) -> subprocess.Popen:
        fd = self.listener.fileno()
        process = subprocess.Popen(
            [str(VENV_PYTHON), "-m", "chatapp.server", "--fd", str(fd), "chatapp.asgi:application"],
            cwd=ROOT,
            env=self.env,
            pass_fds=(fd,),
        )
        self.started[process.pid] = time.monotonic()
        return process

    def run(self) -> None:
        while True:
            time.sleep(0.5)
            for index, process in enumerate(self.processes):
                if process.poll() is not None:
                    ended = f"server process {process.pid} ended ({process.returncode})"
                    quick = time.monotonic() - self.started.pop(process.pid, 0) < 10
                    if quick and process.returncode > 0:
                        # It could not start (its error is above), rather than being
                        # killed: starting it again would only fail again, for ever.
                        fail(f"{ended} as it started: see its error above")
                    say(f"{ended}; starting another")
                    self.processes[index] = self._start()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # daphne's clean stop
        for process in self.processes:
            stop_process(process)
        self.listener.close()


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
        say(
            "the model list could not be synced: the app starts on the list it has "
            "(the admin home says why)"
        )


def ensure_packages(ci: bool) -> None:
    """Debian's chromium (the browser tests) and nginx (the test of nginx in front of two
    server processes); installed where we may (root + apt)."""
    missing = [name for name in ("chromium", "nginx") if not shutil.which(name, path=SBIN_PATH)]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing {' and '.join(missing)} for the tests (apt-get)")
        quiet = {"stdout": subprocess.DEVNULL}
        run("apt-get", "update", "-qq", **quiet)
        run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            *missing,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            **quiet,
        )
    elif ci:
        fail(
            f"{' and '.join(missing)} not installed, and cannot be installed here "
            "(that needs root and apt-get)"
        )


SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


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
    ensure_packages(ci)
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
    serve_cmd.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="server processes sharing the port (needs REDIS_URL above 1; WEB_CONCURRENCY)",
    )
    commands.add_parser("test", help="set up and run the test suite (extra arguments go to pytest)")
    args, extra = parser.parse_known_args()
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    extras = "[test]" if args.command == "test" else ""
    if not in_venv():
        ensure_venv(extras)
        reexec_in_venv(sys.argv[1:])
    if args.command == "serve":
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        serve(args.host, args.port, args.workers)
    else:
        test(extra)


if __name__ == "__main__":
    main()
