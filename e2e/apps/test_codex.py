"""Codex CLI (npm, `codex exec`) through lmrelay: it speaks only the OpenAI Responses API,
streamed, with function tools, a namespace of tools and web search; `lmrelay run codex` gives
it an `lmrelay` provider (docs/clients.md). Served by upstreams that speak Anthropic's and
Ollama's protocols, the model calls Codex's `exec_command`, Codex runs it and sends the
output back, and the model's closing turn ends the task."""

import pytest
from conftest import app_env, run_app


# docs/clients.md's config.toml for Codex (the model is chosen per run with -m).
CONFIG_TOML = """\
model_provider = "lmrelay"

[model_providers.lmrelay]
name = "lmrelay"
base_url = "{gateway}/v1"
env_key = "LMRELAY_API_KEY"
wire_api = "responses"
"""


@pytest.mark.parametrize("route,flavour,how", [("to-anthropic", "anthropic", "lmrelay run"),
                                               ("to-ollama", "ollama", "config.toml")])
def test_codex_runs_a_command_through_a_foreign_upstream(apps, stack, home, route, flavour, how):
    stack.reset(flavour)
    prompt = '[[call exec_command {"cmd": "echo hello from lmrelay > hello.txt"}]]'
    codex_home = home / ".codex"
    codex_home.mkdir()
    env = app_env(home, CODEX_HOME=str(codex_home), LMRELAY_API_KEY="any-key")
    codex = [str(apps.codex), "exec", "--skip-git-repo-check", "--sandbox", "danger-full-access",
             "-m", route, prompt]
    if how == "lmrelay run":
        argv = [str(stack.gw_bin), "run", "-c", str(stack.config), *codex]
    else:
        (codex_home / "config.toml").write_text(CONFIG_TOML.format(gateway=stack.gateway))
        argv = codex
    done = run_app(argv, env, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / "hello.txt").read_text() == "hello from lmrelay\n"
    assert "tool result:" in done.stdout, done.stdout + done.stderr
    # Two turns reached the foreign upstream: the call, then the command's output.
    turns = [r for r in stack.upstream_requests(flavour) if r["method"] == "POST"]
    assert len(turns) == 2, [r["path"] for r in turns]
