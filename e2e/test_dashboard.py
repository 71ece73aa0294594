"""The web dashboard at /ui, in headless Chromium: e2e/browser/dashboard.test.mjs (Node and
playwright-core driving Debian's /usr/bin/chromium) against a gateway and mocks of its own.

This stack's breakers trip after two failures and stay open for two minutes, so the test can
fail a mock provider and watch the dashboard show it (the session stack keeps breakers off).
Screenshots land in target/screenshots/. Set LMRELAY_SKIP_BROWSER=1 to skip on a machine
without Chromium or Node; otherwise a missing browser is a failure, not a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN, ROOT, running_stack

BROWSER_DIR = ROOT / "e2e" / "browser"
CHROMIUM = os.environ.get("LMRELAY_CHROMIUM", "/usr/bin/chromium")
HEALTH = '[health]\ninterval = "0s"\nfailure_threshold = 2\ncooldown = "120s"\nmax_cooldown = "300s"\n'


def screenshot_dir() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else ROOT / "target") / "screenshots"


def test_dashboard_in_chromium():
    if os.environ.get("LMRELAY_SKIP_BROWSER") == "1":
        pytest.skip("LMRELAY_SKIP_BROWSER=1")
    node = shutil.which("node")
    if node is None or not Path(CHROMIUM).is_file():
        pytest.fail(f"the dashboard test needs node and Chromium at {CHROMIUM} "
                    "(Debian: apt-get install chromium nodejs npm), or LMRELAY_SKIP_BROWSER=1", pytrace=False)
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("run `npm ci` in e2e/browser first (scripts/test does)", pytrace=False)

    # The dashboard lists the three providers it expects, without the fast-path twins.
    with running_stack(health=HEALTH, canonical_twins=False) as s:
        env = {
            **os.environ,
            "GATEWAY": s.gateway,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "MOCK_OPENAI": s.openai_upstream.removesuffix("/v1"),
            "MOCK_ANTHROPIC": s.anthropic_upstream,
            "MOCK_OLLAMA": s.ollama_upstream,
            "SCREENSHOT_DIR": str(screenshot_dir()),
            "CHROMIUM": CHROMIUM,
        }
        # The script bounds itself at 150 s plus its warm-up; this is the backstop.
        timeout = 200 + int(os.environ.get("WARM_UP_MS", "8000")) // 1000
        try:
            run = subprocess.run([node, "dashboard.test.mjs"], cwd=BROWSER_DIR, env=env, capture_output=True,
                                 text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"the browser test did not end within {timeout} s:\n{e.stdout}\n{e.stderr}", pytrace=False)
        if run.returncode != 0:
            log = (s.log_dir / "lmrelay.log").read_text(errors="replace")[-4000:]
            pytest.fail(f"browser test failed ({run.returncode}):\n{run.stdout}\n{run.stderr}\n"
                        f"--- lmrelay log (tail) ---\n{log}", pytrace=False)
        assert "PASS" in run.stdout, run.stdout
