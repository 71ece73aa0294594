"""Simon Willison's `llm` (PyPI) through lmrelay: an OpenAI-compatible model from its
`extra-openai-models.yaml` (the snippet in docs/clients.md), a Python function offered as a
tool, the model's call of it, llm's tool result, and the model's answer — with upstreams that
speak Anthropic's and Ollama's protocols."""

import pytest
from conftest import app_env, run_app

ADD = "def add(a: int, b: int) -> int:\n    return a + b\n"


@pytest.mark.parametrize("route", ["to-anthropic", "to-ollama"])
def test_llm_calls_a_tool_through_a_foreign_upstream(apps, stack, home, route):
    user = home / "llm"
    user.mkdir()
    (user / "extra-openai-models.yaml").write_text(
        f"- model_id: lmrelay-{route}\n"
        f"  model_name: {route}\n"
        f"  api_base: \"{stack.gateway}/v1\"\n"
        f"  api_key_name: lmrelay\n"
        f"  supports_tools: true\n"
    )
    env = app_env(home, LLM_USER_PATH=str(user))
    keys = run_app([str(apps.llm), "keys", "set", "lmrelay", "--value", "any-key"], env, home)
    assert keys.returncode == 0, keys.stderr
    done = run_app(
        [str(apps.llm), "-m", f"lmrelay-{route}", "--functions", ADD, "--td",
         '[[call add {"a": 2, "b": 40}]]'],
        env, home,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # `--td` shows the call and its result on standard error; the answer is on standard out.
    assert "Tool call: add({'a': 2, 'b': 40})" in done.stderr, done.stderr
    assert done.stdout.strip() == "tool result: 42", done.stdout
