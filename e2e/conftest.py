"""Session fixture: an lmrelay-mock with three upstreams and an lmrelay gateway in front.

Binaries come from ``$LMRELAY_BIN_DIR`` (default: ``$CARGO_TARGET_DIR/debug``, else
``target/debug`` of the workspace). Both processes are started here and terminated by PID
at the end of the session, with bounded waits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import fast_path
from fast_path import ShadowTransport

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_KEY = "upstream-key"
CACHE_READ = 100
ROUTES = ["to-openai", "to-anthropic", "to-ollama"]
TIMEOUT = 20.0


def bin_dir() -> Path:
    if os.environ.get("LMRELAY_BIN_DIR"):
        return Path(os.environ["LMRELAY_BIN_DIR"])
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else ROOT / "target") / "debug"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Stack:
    gateway: str  # http://127.0.0.1:PORT (no trailing slash)
    openai_upstream: str  # http://127.0.0.1:PORT/v1
    anthropic_upstream: str
    ollama_upstream: str
    log_dir: Path


def _stop(proc: subprocess.Popen, name: str) -> None:
    """Terminates one process we started, by its PID; bounded waits."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"warning: {name} (pid {proc.pid}) did not exit")


def _read_mock_urls(proc: subprocess.Popen, deadline: float) -> dict[str, str]:
    """Reads the mock's `flavor url` lines from its stdout, bounded by `deadline`."""
    urls: dict[str, str] = {}
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2:
                urls[parts[0]] = parts[1]
            if len(urls) == 3:
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout=max(0.0, deadline - time.monotonic()))
    if len(urls) != 3:
        raise RuntimeError(f"lmrelay-mock did not print its three URLs in time (got {urls})")
    return urls


def _wait_healthy(url: str, proc: subprocess.Popen, deadline: float, log: Path) -> None:
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lmrelay exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:  # not up yet
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"lmrelay not healthy within 30 s ({last}):\n{log.read_text(errors='replace')}")


ADMIN_TOKEN = "e2e-admin-token"


# No active checks and no breaker trips: tests that fail upstreams on purpose
# (test_failover, test_cross_protocol) must not reorder the candidates of later tests.
QUIET_HEALTH = '[health]\ninterval = "0s"\nfailure_threshold = 1000\n'


def config_text(port: int, urls: dict[str, str], admin_token: str = ADMIN_TOKEN,
                health: str = QUIET_HEALTH, canonical_twins: bool = True) -> str:
    """The gateway config: our top-level keys, then the providers and routes shared with the
    Rust integration tests (testdata/mock-routes.toml)."""
    shared = (ROOT / "testdata" / "mock-routes.toml").read_text()
    for key, value in (("OPENAI_URL", urls["openai"]), ("ANTHROPIC_URL", urls["anthropic"]),
                       ("OLLAMA_URL", urls["ollama"]), ("UPSTREAM_KEY", UPSTREAM_KEY)):
        shared = shared.replace(key, value)
    # The admin API, so tests can clear the key marks that their injected 429s and 401s leave.
    admin = f'[admin]\ntoken = "{admin_token}"\n'
    canonical = CANONICAL_TWINS.replace("OPENAI_URL", urls["openai"]).replace(
        "ANTHROPIC_URL", urls["anthropic"]).replace("UPSTREAM_KEY", UPSTREAM_KEY) if canonical_twins else ""
    return (f'listen = "127.0.0.1:{port}"\ndrain_timeout = "2s"\n\n{health}\n{admin}\n{shared}'
            f'\n{canonical}')


# The same mock models behind providers that take no fast path: what e2e/fast_path.py
# compares the fast path with.
CANONICAL_TWINS = """
[[providers]]
name = "oa-canonical"
type = "openai"
base_url = "OPENAI_URL"
keys = ["UPSTREAM_KEY"]
models = ["gpt-4o-mini"]
passthrough = false
direct = false
timeout = "10s"

[[providers]]
name = "an-canonical"
type = "anthropic"
base_url = "ANTHROPIC_URL"
keys = ["UPSTREAM_KEY"]
models = ["claude-3-5-haiku-latest"]
passthrough = false
direct = false
timeout = "10s"

[[routes]]
model = "to-openai-canonical"
targets = ["oa-canonical/gpt-4o-mini"]

[[routes]]
model = "to-anthropic-canonical"
targets = ["an-canonical/claude-3-5-haiku-latest"]
"""


def rotate_upstream_keys(gateway: str, http, admin_token: str = ADMIN_TOKEN) -> None:
    """Clears every upstream key's cooling and invalid marks (an injected 429 cools a key
    for its retry-after; a later test must find the keys fresh)."""
    for provider in ("oa", "an", "ol", "oa-canonical", "an-canonical"):
        r = http.post(f"{gateway}/admin/keys/rotate", json={"provider": provider},
                      headers={"Authorization": f"Bearer {admin_token}"})
        assert r.status_code == 200, r.text


@contextlib.contextmanager
def running_stack(health: str = QUIET_HEALTH, canonical_twins: bool = True):
    """Starts an lmrelay-mock (OpenAI, Anthropic and Ollama upstreams) and a gateway in front
    of it with the admin token, and stops both (by PID, bounded waits) on exit."""
    bins = bin_dir()
    mock_bin, gw_bin = bins / "lmrelay-mock", bins / "lmrelay"
    for b in (mock_bin, gw_bin):
        if not b.is_file():
            pytest.fail(f"{b} not found: run `cargo build --workspace` or set LMRELAY_BIN_DIR", pytrace=False)

    log_dir = Path(tempfile.mkdtemp(prefix="lmrelay-e2e-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env.setdefault("RUST_LOG", "warn")
    procs: list[tuple[subprocess.Popen, str]] = []
    mock_err = open(log_dir / "mock.log", "wb")
    gw_log_path = log_dir / "lmrelay.log"
    gw_log = open(gw_log_path, "wb")
    try:
        mock = subprocess.Popen(
            [str(mock_bin), "--openai", "127.0.0.1:0", "--anthropic", "127.0.0.1:0", "--ollama", "127.0.0.1:0",
             "--key", UPSTREAM_KEY, "--cache-read-tokens", str(CACHE_READ)],
            stdout=subprocess.PIPE, stderr=mock_err, stdin=subprocess.DEVNULL, text=True, env=env,
        )
        procs.append((mock, "lmrelay-mock"))
        urls = _read_mock_urls(mock, time.monotonic() + 30)

        port = free_port()
        cfg = log_dir / "lmrelay.toml"
        cfg.write_text(config_text(port, urls, health=health, canonical_twins=canonical_twins))
        gw = subprocess.Popen([str(gw_bin), "serve", "-c", str(cfg)], stdout=gw_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env)
        procs.append((gw, "lmrelay"))
        gateway = f"http://127.0.0.1:{port}"
        _wait_healthy(gateway, gw, time.monotonic() + 30, gw_log_path)
        yield Stack(gateway, urls["openai"], urls["anthropic"], urls["ollama"], log_dir)
    finally:
        for proc, name in reversed(procs):
            _stop(proc, name)
        mock_err.close()
        gw_log.close()


@pytest.fixture(scope="session")
def stack():
    with running_stack() as s:
        yield s


@pytest.fixture(scope="session")
def gw(stack: Stack) -> str:
    return stack.gateway


@pytest.fixture(scope="session")
def shadow() -> ShadowTransport:
    """The SDK clients' transport, which compares the fast path with the canonical path
    while a test asks it to (`compare_fast_path`)."""
    return ShadowTransport()


@pytest.fixture
def compare_fast_path(shadow: ShadowTransport):
    """Checks every same-protocol request of the test against the canonical path."""
    shadow.active, shadow.mismatches = True, []
    yield shadow
    shadow.active = False
    assert not shadow.mismatches, "the fast path answered unlike the canonical path:\n" + \
        "\n\n".join(shadow.mismatches)


@pytest.fixture(scope="session")
def oai(gw: str, shadow: ShadowTransport):
    import openai

    http = fast_path.httpx.Client(transport=shadow, timeout=TIMEOUT)
    with openai.OpenAI(base_url=gw + "/v1", api_key="x", timeout=TIMEOUT, max_retries=0,
                       http_client=http) as c:
        yield c


@pytest.fixture(scope="session")
def ant(gw: str, shadow: ShadowTransport):
    import anthropic

    http = fast_path.httpx.Client(transport=shadow, timeout=TIMEOUT)
    with anthropic.Anthropic(base_url=gw, api_key="x", timeout=TIMEOUT, max_retries=0,
                             http_client=http) as c:
        yield c


@pytest.fixture(scope="session")
def oll(gw: str):
    import ollama

    return ollama.Client(host=gw, timeout=TIMEOUT)


@pytest.fixture(params=ROUTES)
def route(request) -> str:
    return request.param


# The real-application suite has its own harness and runs apart (scripts/test-apps).
collect_ignore = ["apps"]
