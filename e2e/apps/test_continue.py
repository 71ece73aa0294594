"""Continue's CLI (npm, headless `cn -p`) through lmrelay, configured by the config.yaml of
docs/clients.md (an `openai` provider with lmrelay's `apiBase`), with an upstream that speaks
Anthropic's protocol: the model calls Continue's `Write` tool, Continue writes the file and
sends the result back."""

from conftest import app_env, run_app


def test_continue_writes_a_file_through_a_foreign_upstream(apps, stack, home):
    config = home / "continue.yaml"
    config.write_text(
        "name: lmrelay\n"
        "version: 1.0.0\n"
        "schema: v1\n"
        "models:\n"
        "  - name: lmrelay\n"
        "    provider: openai\n"
        "    model: to-anthropic\n"
        f"    apiBase: {stack.gateway}/v1\n"
        "    apiKey: any-key\n"
        "    roles: [chat, edit, apply]\n"
        "    capabilities: [tool_use]\n"
    )
    target = home / "hello.txt"
    prompt = '[[call Write {"filepath": "%s", "content": "hello from lmrelay\\n"}]]' % target
    stack.reset("anthropic")
    done = run_app([str(apps.continue_cli), "-p", "--config", str(config), "--auto", prompt],
                   app_env(home), home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_text() == "hello from lmrelay\n"
    assert done.stdout.strip().startswith("tool result:"), done.stdout
    sent = [r for r in stack.upstream_requests("anthropic") if r["method"] == "POST"]
    assert any(t["name"] == "Write" for t in sent[0]["body"]["tools"]), sent[0]["body"]["tools"]
