"""aider (PyPI) through lmrelay, as an OpenAI-compatible model (`--openai-api-base`, the
snippet in docs/clients.md), with an upstream that speaks Anthropic's protocol. aider edits
files through its own text edit formats, not function tools: the mock's scripted turn answers
a `whole` edit of the file, and aider applies it."""

from conftest import app_env, run_app

EDIT = 'hello.py\\n```python\\nprint(\\"hello from lmrelay\\")\\n```\\n'


def test_aider_edits_a_file_through_a_foreign_upstream(apps, stack, home):
    env = app_env(home, LITELLM_LOCAL_MODEL_COST_MAP="True")
    done = run_app(
        [str(apps.aider), "--model", "openai/to-anthropic",
         "--openai-api-base", f"{stack.gateway}/v1", "--openai-api-key", "any-key",
         "--edit-format", "whole", "--yes-always", "--no-git", "--no-check-update",
         "--analytics-disable", "--no-show-model-warnings", "--no-pretty", "--no-stream",
         "--message", f'[[say "{EDIT}"]]', "hello.py"],
        env, home,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Applied edit to hello.py" in done.stdout, done.stdout
    assert (home / "hello.py").read_text() == 'print("hello from lmrelay")\n'
