"""Real applications driven through lmrelay: a mock with every upstream flavour the apps are
sent to, a gateway in front, and the installed applications (scripts/test-apps).

The mock and the gateway come from the SDK suite's harness (../conftest.py). Every app runs
with its own empty HOME so no user configuration leaks in; scripts/test-apps runs the whole
session inside a network namespace with only loopback.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

# The SDK suite's harness, and the modules beside it that it imports.
sys.path.insert(0, str(Path(__file__).parent.parent))
_spec = importlib.util.spec_from_file_location("lmrelay_e2e_harness", Path(__file__).parent.parent / "conftest.py")
assert _spec and _spec.loader
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness
_spec.loader.exec_module(harness)

APP_TIMEOUT = 180


@dataclasses.dataclass
class Apps:
    claude: Path
    codex: Path
    continue_cli: Path
    llm: Path
    aider: Path


@dataclasses.dataclass
class Stack:
    gateway: str
    config: Path
    mock: dict[str, str]  # flavour -> base URL
    gw_bin: Path

    def upstream_requests(self, flavour: str) -> list[dict]:
        """The requests the mock of `flavour` recorded (its control endpoint)."""
        base = self.mock[flavour].removesuffix("/v1")
        with urllib.request.urlopen(f"{base}/mock/requests", timeout=5) as r:
            return json.loads(r.read())

    def reset(self, flavour: str) -> None:
        base = self.mock[flavour].removesuffix("/v1")
        req = urllib.request.Request(f"{base}/mock/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).close()


@pytest.fixture(scope="session")
def apps() -> Apps:
    root = Path(os.environ.get("LMRELAY_APPS_DIR", harness.ROOT / "target" / "apps"))
    found = Apps(
        claude=root / "node" / "node_modules" / ".bin" / "claude",
        codex=root / "node" / "node_modules" / ".bin" / "codex",
        continue_cli=root / "node" / "node_modules" / ".bin" / "cn",
        llm=root / "venv" / "bin" / "llm",
        aider=root / "venv" / "bin" / "aider",
    )
    for p in dataclasses.astuple(found):
        if not Path(p).exists():
            pytest.fail(f"{p} not found: run scripts/test-apps (it installs the applications)", pytrace=False)
    return found


@pytest.fixture(scope="session")
def stack():
    bins = harness.bin_dir()
    log_dir = Path(tempfile.mkdtemp(prefix="lmrelay-apps-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    procs: list[tuple[subprocess.Popen, str]] = []
    mock_log = open(log_dir / "mock.log", "wb")
    gw_log_path = log_dir / "lmrelay.log"
    gw_log = open(gw_log_path, "wb")
    try:
        mock = subprocess.Popen(
            [str(bins / "lmrelay-mock"), "--openai", "127.0.0.1:0", "--anthropic", "127.0.0.1:0",
             "--ollama", "127.0.0.1:0", "--key", harness.UPSTREAM_KEY],
            stdout=subprocess.PIPE, stderr=mock_log, stdin=subprocess.DEVNULL, text=True, env=env,
        )
        procs.append((mock, "lmrelay-mock"))
        urls = harness._read_mock_urls(mock, time.monotonic() + 30)
        port = harness.free_port()
        cfg = log_dir / "lmrelay.toml"
        # Applications ask for their own model names (Claude Code's sonnet, haiku and opus,
        # say): a catch-all route sends them to a foreign upstream.
        catch_all = '\n[[routes]]\nmodel = "claude-*"\ntargets = ["oa/gpt-4o-mini"]\n'
        cfg.write_text(harness.config_text(port, urls) + catch_all)
        gw_bin = bins / "lmrelay"
        gw = subprocess.Popen([str(gw_bin), "serve", "-c", str(cfg)], stdout=gw_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env)
        procs.append((gw, "lmrelay"))
        gateway = f"http://127.0.0.1:{port}"
        harness._wait_healthy(gateway, gw, time.monotonic() + 30, gw_log_path)
        yield Stack(gateway, cfg, urls, gw_bin)
    finally:
        for proc, name in reversed(procs):
            harness._stop(proc, name)
        mock_log.close()
        gw_log.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME (and working directory) for one application run."""
    h = tmp_path / "home"
    h.mkdir()
    return h


def app_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no provider variables or proxies from the caller."""
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "LMRELAY_APPS_NETNS", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), NO_COLOR="1", CI="1")
    env.update(extra)
    return env


def run_app(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Runs an application to completion, bounded by APP_TIMEOUT; output kept for asserts."""
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=APP_TIMEOUT, stdin=subprocess.DEVNULL)


def offline() -> bool:
    """Whether this process can reach nothing but loopback."""
    try:
        with socket.create_connection(("1.1.1.1", 443), timeout=2):
            return False
    except OSError:
        return True
