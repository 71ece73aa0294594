"""Claude Code (npm, non-interactive `claude -p`) through lmrelay to upstreams that do not
speak Anthropic's protocol: it sends dozens of tools, `?beta=true`, beta headers and system
prompts; the mock's scripted turn makes the model call Claude Code's `Write` tool, Claude
Code writes the file and sends the result back, and the model's closing turn ends the task.
Started through `lmrelay run claude`, as docs/clients.md tells users to."""

import json

import pytest
from conftest import app_env, run_app


@pytest.mark.parametrize("route,flavour", [("to-openai", "openai"), ("to-ollama", "ollama")])
def test_claude_code_writes_a_file_through_a_foreign_upstream(apps, stack, home, route, flavour):
    target = home / "hello.txt"
    prompt = '[[call Write {"file_path": "%s", "content": "hello from lmrelay\\n"}]]' % target
    stack.reset(flavour)
    env = app_env(
        home,
        PATH=f"{apps.claude.parent}:/usr/bin:/bin",
        LMRELAY_API_KEY="any-key",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
    )
    done = run_app(
        [str(stack.gw_bin), "run", "-c", str(stack.config), "claude", "-p", prompt, "--model", route,
         "--allowedTools", "Write", "--output-format", "json"],
        env, home,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["is_error"] is False, result
    assert result["num_turns"] == 2, result
    assert result["result"].startswith("tool result: File created successfully"), result
    assert target.read_text() == "hello from lmrelay\n"
    # What Claude Code really sent reached the foreign upstream, tools and all.
    chats = [r for r in stack.upstream_requests(flavour) if r["method"] == "POST"]
    assert len(chats) >= 2, chats
    first = chats[0]["body"]
    assert len(first["tools"]) >= 10, [t.get("function", t).get("name") for t in first["tools"]]
