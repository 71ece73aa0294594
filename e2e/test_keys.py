"""Gateway keys, limits and the admin API, through the official SDKs (openai, anthropic, ollama).

This module starts a second lmrelay process of its own (module-scoped, stopped by PID) in front
of the session's mock upstreams, with a config built from testdata/mock-routes.toml plus:

* `[admin] token` and `[store] encryption_key`, both random per run;
* an extra provider `priced` (the OpenAI mock, priced at $1000 per million tokens both ways)
  and the route `to-priced` on it, so that a budget bites after one request;
* `[[keys]]` (random plaintext secrets): `all` (`models = ["*"]`), `allow`
  (`models = ["to-openai"]`) and, one per client protocol so that each test has windows of
  its own, `rpm-*` (`rpm = 3`), `tpm-*` (`tpm = 50`) and `budget-*` (`budget_usd = 0.01`).

The gateway runs with `LMRELAY_LOG=debug`, its output goes to a file. Every response any client
of this module receives (SDK or admin) is recorded; the last test (pytest runs a file's tests in
order) checks that no secret appears in the gateway's log, in those responses or in what the
upstreams received: upstream keys, gateway keys (config and runtime), admin token, encryption key.

Clients: `openai`/`anthropic` with `max_retries=0` (one SDK call = one gateway request).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx
import httpx2
import ollama
import openai
import pytest

from conftest import UPSTREAM_KEY, _stop, _wait_healthy, bin_dir, config_text, free_port

TIMEOUT = 20.0
PROTOCOLS = ["openai", "anthropic", "ollama"]
BY_PROTOCOL = pytest.mark.parametrize("protocol", PROTOCOLS)
EXTRA_UPSTREAM_KEY = "sk-extra"
RPM, TPM, BUDGET = 3, 50, 0.01
# Sixty one-letter words: the gateway estimates ceil((119 + 16) / 4) = 34 input tokens (under
# the tpm of 50, so the first request is admitted); the mock reports ~30 input and 61 output
# tokens (over 50 once counted), costing ~$0.09 at the `priced` provider's prices (over $0.01).
LONG_PROMPT = " ".join(["a"] * 60)
KEY_ID = re.compile(r"^key_[0-9a-f]{8}$")
# Every client here opens a new connection per request. The gateway closes a connection after
# answering 401 to a request whose body it did not read yet, without saying so
# (`Connection: close`); a client that reuses the connection then fails at random with
# "Server disconnected". test_rejected_request_keeps_the_connection_usable checks that on its
# own, deterministically; the other tests must not fail at random because of it.
NO_KEEPALIVE = {"max_connections": 20, "max_keepalive_connections": 0}


def upstream_key_id(secret: str) -> str:
    """The short id the admin API shows for an upstream key: `key_` + 8 hex of its SHA-256."""
    return "key_" + hashlib.sha256(secret.encode()).hexdigest()[:8]


# --- what clients saw -------------------------------------------------------------------------

@dataclasses.dataclass
class Seen:
    method: str
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: str

    def is_key_creation(self) -> bool:
        """The one answer allowed to carry a secret: a created gateway key's."""
        return self.method == "POST" and self.url.endswith("/admin/keys") and self.status == 201

    def text(self) -> str:
        hdrs = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.method} {self.url} -> {self.status}\n{hdrs}\n\n{self.body}"


class Recorder:
    """Keeps every response (status, headers, body) the module's clients receive."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def hook(self, response) -> None:  # httpx and httpx2 response event hook
        response.read()  # no test here streams: reading in the hook is harmless
        self.seen.append(Seen(response.request.method, str(response.request.url), response.status_code,
                              list(response.headers.multi_items()), response.text))

    def last(self) -> Seen:
        return self.seen[-1]


# --- the second gateway -----------------------------------------------------------------------

@dataclasses.dataclass
class Relay:
    url: str
    admin_token: str
    encryption_key: str
    keys: dict[str, str]  # config key name -> plaintext secret
    log: Path
    rec: Recorder
    runtime_secrets: list[str] = dataclasses.field(default_factory=list)
    _clients: dict[tuple[str, str | None], Any] = dataclasses.field(default_factory=dict)

    # SDK clients, one per (protocol, key), all recording what they receive.
    def openai(self, key: str | None) -> openai.OpenAI:
        k = ("openai", key)
        if k not in self._clients:
            http = openai.DefaultHttpxClient(event_hooks={"response": [self.rec.hook]},
                                             limits=httpx2.Limits(**NO_KEEPALIVE))
            self._clients[k] = openai.OpenAI(base_url=self.url + "/v1", api_key=key or "unused",
                                             timeout=TIMEOUT, max_retries=0, http_client=http)
        return self._clients[k]

    def anthropic(self, key: str | None) -> anthropic.Anthropic:
        k = ("anthropic", key)
        if k not in self._clients:
            http = anthropic.DefaultHttpxClient(event_hooks={"response": [self.rec.hook]},
                                                limits=httpx2.Limits(**NO_KEEPALIVE))
            self._clients[k] = anthropic.Anthropic(base_url=self.url, api_key=key or "unused",
                                                   timeout=TIMEOUT, max_retries=0, http_client=http)
        return self._clients[k]

    def ollama(self, key: str | None) -> ollama.Client:
        k = ("ollama", key)
        if k not in self._clients:
            headers = {"Authorization": f"Bearer {key}"} if key else None
            c = ollama.Client(host=self.url, timeout=TIMEOUT, headers=headers,
                              event_hooks={"response": [self.rec.hook]}, limits=httpx.Limits(**NO_KEEPALIVE))
            if key is None:  # the SDK would send $OLLAMA_API_KEY
                c._client.headers.pop("authorization", None)
            self._clients[k] = c
        return self._clients[k]

    def close(self) -> None:
        for c in self._clients.values():
            (c._client if isinstance(c, ollama.Client) else c).close()


def relay_config(port: int, stack, admin_token: str, encryption_key: str, keys: dict[str, str]) -> str:
    urls = {"openai": stack.openai_upstream, "anthropic": stack.anthropic_upstream,
            "ollama": stack.ollama_upstream}
    limits = {"all": {}, "allow": {"models": ["to-openai"]}}
    for p in PROTOCOLS:
        limits[f"rpm-{p}"] = {"rpm": RPM}
        limits[f"tpm-{p}"] = {"tpm": TPM}
        limits[f"budget-{p}"] = {"budget_usd": BUDGET}
    extra = [
        f'[store]\nencryption_key = "{encryption_key}"\n',
        f'[[providers]]\nname = "priced"\ntype = "openai"\nbase_url = "{stack.openai_upstream}"\n'
        f'keys = ["{UPSTREAM_KEY}"]\nmodels = ["gpt-4o-mini"]\ntimeout = "10s"\n'
        'prices = { "gpt-4o-mini" = { input = 1000.0, output = 1000.0 } }\n',
        '[[routes]]\nmodel = "to-priced"\ntargets = ["priced/gpt-4o-mini"]\n',
    ]
    for name, fields in limits.items():
        lines = [f'name = "{name}"', f'key = "{keys[name]}"', f'models = {json.dumps(fields.get("models", ["*"]))}']
        lines += [f"{f} = {v}" for f, v in fields.items() if f != "models"]
        extra.append("[[keys]]\n" + "\n".join(lines) + "\n")
    # conftest's text: listen, [health] (interval = "0s", no breaker trips), shared providers
    # and routes; TOML lets the tables and arrays of tables continue after it.
    return config_text(port, urls, admin_token) + "\n" + "\n".join(extra)


@pytest.fixture(scope="module")
def relay(stack):
    gw_bin = bin_dir() / "lmrelay"
    if not gw_bin.is_file():
        pytest.fail(f"{gw_bin} not found: run `cargo build --workspace` or set LMRELAY_BIN_DIR", pytrace=False)
    admin_token = "adm-" + secrets.token_urlsafe(24)
    encryption_key = base64.b64encode(secrets.token_bytes(32)).decode()
    names = ["all", "allow"] + [f"{k}-{p}" for k in ("rpm", "tpm", "budget") for p in PROTOCOLS]
    keys = {n: "gwk-" + secrets.token_hex(16) for n in names}
    port = free_port()
    cfg = stack.log_dir / "lmrelay-keys.toml"
    cfg.write_text(relay_config(port, stack, admin_token, encryption_key, keys))
    log = stack.log_dir / "lmrelay-keys.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env["LMRELAY_LOG"] = "debug"
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(gw_bin), "serve", "-c", str(cfg)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        r = Relay(url, admin_token, encryption_key, keys, log, Recorder())
        try:
            _wait_healthy(url, proc, time.monotonic() + 30, log)
            yield r
        finally:
            r.close()
            _stop(proc, "lmrelay (test_keys)")


@pytest.fixture(scope="module")
def admin(relay):
    """An httpx client for /admin/*, with the admin token, recording what it receives."""
    with httpx.Client(base_url=relay.url, timeout=TIMEOUT, event_hooks={"response": [relay.rec.hook]},
                      headers={"Authorization": f"Bearer {relay.admin_token}"},
                      limits=httpx.Limits(**NO_KEEPALIVE)) as c:
        yield c


# --- one call per client protocol ---------------------------------------------------------------

def chat(relay: Relay, protocol: str, key: str | None, model: str, prompt: str = "hi") -> str:
    """One chat request with `key` (None: no key at all); the answer's text."""
    if protocol == "openai":
        extra = {"Authorization": openai.omit} if key is None else None
        r = relay.openai(key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], extra_headers=extra)
        return r.choices[0].message.content
    if protocol == "anthropic":
        extra = {"X-Api-Key": anthropic.omit, "Authorization": anthropic.omit} if key is None else None
        m = relay.anthropic(key).messages.create(
            model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}], extra_headers=extra)
        return "".join(b.text for b in m.content if b.type == "text")
    r = relay.ollama(key).chat(model=model, messages=[{"role": "user", "content": prompt}])
    return r.message.content


def list_models(relay: Relay, protocol: str, key: str | None) -> list[str]:
    if protocol == "openai":
        extra = {"Authorization": openai.omit} if key is None else None
        return [m.id for m in relay.openai(key).models.list(extra_headers=extra)]
    if protocol == "anthropic":
        extra = {"X-Api-Key": anthropic.omit, "Authorization": anthropic.omit} if key is None else None
        return [m.id for m in relay.anthropic(key).models.list(extra_headers=extra)]
    return [m.model for m in relay.ollama(key).list().models]


ERRORS = {
    401: {"openai": openai.AuthenticationError, "anthropic": anthropic.AuthenticationError},
    403: {"openai": openai.PermissionDeniedError, "anthropic": anthropic.PermissionDeniedError},
    429: {"openai": openai.RateLimitError, "anthropic": anthropic.RateLimitError},
}


@dataclasses.dataclass
class Failure:
    status: int
    headers: Any
    message: str


def expect_error(relay: Relay, protocol: str, status: int, call: Callable[[], Any]) -> Failure:
    """Runs one SDK call that must fail with `status`, as that SDK's own error class, in the
    protocol's own error shape."""
    cls = ERRORS[status].get(protocol, ollama.ResponseError)
    with pytest.raises(cls) as e:
        call()
    err = e.value
    assert err.status_code == status
    if protocol == "openai":
        assert isinstance(err.body, dict) and err.body.get("message"), err.body
        return Failure(status, err.response.headers, err.body["message"])
    if protocol == "anthropic":
        assert err.body["type"] == "error" and err.body["error"]["message"], err.body
        return Failure(status, err.response.headers, err.body["error"]["message"])
    seen = relay.rec.last()
    assert seen.status == status and json.loads(seen.body)["error"] == err.error
    return Failure(status, httpx.Headers(seen.headers), err.error)


def poll(fn: Callable[[], Any], timeout: float = 3.0, every: float = 0.05) -> Any:
    """Calls `fn` until it returns something truthy or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(every)


def usage(admin: httpx.Client, **query) -> dict:
    r = admin.get("/admin/usage", params=query)
    assert r.status_code == 200, r.text
    return r.json()


def wait_counted(admin: httpx.Client, key_name: str, requests: int) -> dict:
    """Waits (bounded) until the usage of `key_name` counts `requests` requests: usage is
    recorded in the background right after each answer."""
    u = poll(lambda: (lambda u: u if u["total"]["requests"] >= requests else None)(usage(admin, key=key_name)))
    assert u, f"usage of {key_name} not counted within 3 s: {usage(admin, key=key_name)}"
    return u


# --- access ---------------------------------------------------------------------------------

@BY_PROTOCOL
def test_missing_key_is_401(relay, protocol):
    f = expect_error(relay, protocol, 401, lambda: chat(relay, protocol, None, "to-openai"))
    assert "key" in f.message.lower()
    expect_error(relay, protocol, 401, lambda: list_models(relay, protocol, None))


@BY_PROTOCOL
def test_unknown_key_is_401(relay, protocol):
    unknown = "gwk-not-a-key-" + secrets.token_hex(4)
    expect_error(relay, protocol, 401, lambda: chat(relay, protocol, unknown, "to-openai"))
    expect_error(relay, protocol, 401, lambda: list_models(relay, protocol, unknown))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 response with a Content-Length from `sock`; None if the server closed
    the connection (or reset it) before answering."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
    except ConnectionResetError:
        return None
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("path,auth", [
    ("/v1/chat/completions", None),
    ("/api/chat", "Bearer gwk-unknown"),
    ("/admin/keys", None),
], ids=["openai no key", "ollama unknown key", "admin no token"])
def test_rejected_request_keeps_the_connection_usable(relay, path, auth):
    # A client sends the headers, then the body (as clients with larger bodies do). The 401
    # comes before the body is read; the connection must stay usable for the client's next
    # request, or the answer must say `Connection: close` so that the client does not reuse it.
    body = json.dumps({"model": "to-openai", "name": "never", "models": ["*"],
                       "messages": [{"role": "user", "content": "x"}]}).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: lmrelay\r\nContent-Type: application/json\r\n"
    head += f"Authorization: {auth}\r\n" if auth else ""
    head += f"Content-Length: {len(body)}\r\n\r\n"
    port = int(relay.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        time.sleep(0.2)
        sock.sendall(body)
        first = read_response(sock)
        assert first is not None and first[0] == 401, first
        relay.rec.seen.append(Seen("POST", relay.url + path, first[0], list(first[1].items()),
                                   first[2].decode(errors="replace")))
        if first[1].get("connection", "").lower() == "close":
            return
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: lmrelay\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        second = read_response(sock)
    assert second is not None and second[0] == 200, (
        "the gateway closed the connection after the 401 without `Connection: close` "
        f"(first answer's headers: {first[1]})")


@BY_PROTOCOL
def test_known_key_is_served(relay, protocol):
    assert chat(relay, protocol, relay.keys["all"], "to-anthropic", "hello") == "echo: hello"


@BY_PROTOCOL
def test_model_outside_allowlist_is_403(relay, protocol):
    key = relay.keys["allow"]
    assert chat(relay, protocol, key, "to-openai", "allowed") == "echo: allowed"
    f = expect_error(relay, protocol, 403, lambda: chat(relay, protocol, key, "to-anthropic"))
    assert "allow" in f.message and "to-anthropic" in f.message


def test_model_outside_allowlist_is_403_on_retrieve(relay):
    c = relay.openai(relay.keys["allow"])
    assert c.models.retrieve("to-openai").id == "to-openai"
    expect_error(relay, "openai", 403, lambda: c.models.retrieve("to-anthropic"))


def test_ollama_allowlisted_model_by_its_listed_name(relay):
    # The Ollama listing shows `to-openai:latest`; an Ollama client uses that name, and
    # `name:latest` means `name` (product.md), so the allowlist entry `to-openai` covers it.
    c = relay.ollama(relay.keys["allow"])
    assert [m.model for m in c.list().models] == ["to-openai:latest"]
    r = c.chat(model="to-openai:latest", messages=[{"role": "user", "content": "tagged"}])
    assert r.message.content == "echo: tagged"


# --- listings ---------------------------------------------------------------------------------

@BY_PROTOCOL
def test_listing_shows_only_allowed_models(relay, protocol):
    allowed = list_models(relay, protocol, relay.keys["allow"])
    everything = list_models(relay, protocol, relay.keys["all"])
    latest = (lambda m: m + ":latest") if protocol == "ollama" else (lambda m: m)
    assert allowed == [latest("to-openai")]
    assert {latest(m) for m in ("to-openai", "to-anthropic", "to-ollama", "to-priced")} <= set(everything)


# --- limits -----------------------------------------------------------------------------------

@BY_PROTOCOL
def test_rpm_limit(relay, protocol):
    name = f"rpm-{protocol}"
    for i in range(RPM):
        assert chat(relay, protocol, relay.keys[name], "to-openai", f"r{i}") == f"echo: r{i}"
    f = expect_error(relay, protocol, 429, lambda: chat(relay, protocol, relay.keys[name], "to-openai"))
    assert int(f.headers["retry-after"]) >= 1
    assert name in f.message and f"{RPM} requests per minute" in f.message, f.message


@BY_PROTOCOL
def test_tpm_limit(relay, admin, protocol):
    name = f"tpm-{protocol}"
    key = relay.keys[name]
    # Admitted on its estimate (34 tokens of 50); its real usage (~90 tokens) is counted after.
    assert chat(relay, protocol, key, "to-openai", LONG_PROMPT) == "echo: " + LONG_PROMPT
    u = wait_counted(admin, name, 1)
    assert u["total"]["input_tokens"] + u["total"]["output_tokens"] > TPM, u
    f = expect_error(relay, protocol, 429, lambda: chat(relay, protocol, key, "to-openai"))
    assert int(f.headers["retry-after"]) >= 1
    assert name in f.message and f"{TPM} tokens per minute" in f.message, f.message


@BY_PROTOCOL
def test_budget_limit(relay, admin, protocol):
    name = f"budget-{protocol}"
    key = relay.keys[name]
    assert chat(relay, protocol, key, "to-priced", LONG_PROMPT) == "echo: " + LONG_PROMPT
    u = wait_counted(admin, name, 1)
    assert u["total"]["cost_usd"] > BUDGET, u
    assert [(r["provider"], r["model"]) for r in u["rows"]] == [("priced", "gpt-4o-mini")]
    f = expect_error(relay, protocol, 429, lambda: chat(relay, protocol, key, "to-priced"))
    assert int(f.headers["retry-after"]) >= 1
    assert name in f.message and "budget" in f.message, f.message
    # Spending is per key, not per model: the unpriced route is refused too.
    expect_error(relay, protocol, 429, lambda: chat(relay, protocol, key, "to-openai"))


# --- admin API: token -------------------------------------------------------------------------

ADMIN_ENDPOINTS = [
    ("GET", "/admin/keys", None),
    ("POST", "/admin/keys", {"name": "should-not-exist", "models": ["*"]}),
    ("GET", "/admin/keys/gk_000000000000", None),
    ("POST", "/admin/keys/gk_000000000000/disable", None),
    ("DELETE", "/admin/keys/gk_000000000000", None),
    ("POST", "/admin/keys/rotate", {"provider": "oa"}),
    ("GET", "/admin/providers", None),
    ("POST", "/admin/providers/oa/keys", {"key": "sk-should-not-be-added"}),
    ("DELETE", "/admin/providers/oa/keys/key_00000000", None),
    ("GET", "/admin/usage", None),
]


@pytest.mark.parametrize("method,path,body", ADMIN_ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ADMIN_ENDPOINTS])
def test_admin_requires_the_token(relay, admin, method, path, body):
    wrong = [
        {},  # none
        {"Authorization": "Bearer wrong-" + secrets.token_hex(8)},
        {"Authorization": f"Bearer {relay.keys['all']}"},  # a gateway key is not the admin token
        {"Authorization": relay.admin_token},  # not a bearer token
        {"x-api-key": relay.admin_token},
    ]
    with httpx.Client(base_url=relay.url, timeout=TIMEOUT, event_hooks={"response": [relay.rec.hook]},
                      limits=httpx.Limits(**NO_KEEPALIVE)) as c:
        for headers in wrong:
            r = c.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (headers.keys(), r.status_code, r.text)
            assert r.json()["error"]["message"], r.text
    listed = admin.get("/admin/keys").json()["keys"]
    assert "should-not-exist" not in [k["name"] for k in listed]
    oa = next(p for p in admin.get("/admin/providers").json()["providers"] if p["name"] == "oa")
    assert upstream_key_id("sk-should-not-be-added") not in [k["id"] for k in oa["keys"]]


def test_admin_lists_config_keys_without_secrets(relay, admin):
    r = admin.get("/admin/keys")
    assert r.status_code == 200
    keys = {k["name"]: k for k in r.json()["keys"]}
    assert keys["allow"]["source"] == "config" and keys["allow"]["id"] == "cfg:allow"
    assert keys["allow"]["models"] == ["to-openai"]
    assert keys["rpm-openai"]["rpm"] == RPM and keys["tpm-openai"]["tpm"] == TPM
    assert keys["budget-openai"]["budget_usd"] == BUDGET
    assert all("key" not in k for k in keys.values())
    for secret in relay.keys.values():
        assert secret not in r.text
    # Config keys change only with the file.
    r = admin.delete("/admin/keys/cfg:all")
    assert r.status_code == 409 and r.json()["error"]["field"] == "id"


# --- admin API: runtime gateway keys ------------------------------------------------------------

def create_key(relay: Relay, admin: httpx.Client, **fields) -> dict:
    body = {"name": f"rt-{secrets.token_hex(4)}", "models": ["*"], **fields}
    r = admin.post("/admin/keys", json=body)
    assert r.status_code == 201, r.text
    k = r.json()
    relay.runtime_secrets.append(k["key"])
    return k


def works_everywhere(relay: Relay, secret: str, prompt: str) -> None:
    for p in PROTOCOLS:
        assert chat(relay, p, secret, "to-openai", prompt) == f"echo: {prompt}", p


def refused_everywhere(relay: Relay, secret: str) -> None:
    for p in PROTOCOLS:
        f = expect_error(relay, p, 401, lambda: chat(relay, p, secret, "to-openai"))
        assert "key" in f.message.lower()


def test_admin_key_lifecycle(relay, admin):
    k = create_key(relay, admin, models=["to-openai"], rpm=1000)
    secret, kid = k["key"], k["id"]
    assert re.fullmatch(r"lmr_[0-9a-f]{40}", secret), k
    assert kid.startswith("gk_") and secret not in kid
    assert {"name": k["name"], "models": ["to-openai"], "rpm": 1000, "disabled": False,
            "source": "runtime"}.items() <= k.items()
    # Works at once, with each SDK; its allowlist applies.
    works_everywhere(relay, secret, "fresh key")
    expect_error(relay, "openai", 403, lambda: chat(relay, "openai", secret, "to-anthropic"))
    assert list_models(relay, "openai", secret) == ["to-openai"]

    # The secret is shown once: never in the listing nor in the key's own page.
    r = admin.get("/admin/keys")
    assert r.status_code == 200 and secret not in r.text
    [listed] = [x for x in r.json()["keys"] if x["id"] == kid]
    assert "key" not in listed and listed["name"] == k["name"]
    r = admin.get(f"/admin/keys/{kid}")
    assert r.status_code == 200 and secret not in r.text and "key" not in r.json()
    assert r.json()["id"] == kid

    r = admin.post(f"/admin/keys/{kid}/disable")
    assert r.status_code == 200 and r.json()["disabled"] is True and secret not in r.text
    refused_everywhere(relay, secret)
    assert admin.get(f"/admin/keys/{kid}").json()["disabled"] is True

    r = admin.post(f"/admin/keys/{kid}/enable")
    assert r.status_code == 200 and r.json()["disabled"] is False and secret not in r.text
    works_everywhere(relay, secret, "enabled again")

    r = admin.delete(f"/admin/keys/{kid}")
    assert r.status_code == 204, r.text
    refused_everywhere(relay, secret)
    for method, path in [("GET", f"/admin/keys/{kid}"), ("DELETE", f"/admin/keys/{kid}"),
                         ("POST", f"/admin/keys/{kid}/enable")]:
        r = admin.request(method, path)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["field"] == "id"
    assert kid not in [x["id"] for x in admin.get("/admin/keys").json()["keys"]]


def test_admin_key_limits_apply(relay, admin):
    k = create_key(relay, admin, rpm=1)
    assert chat(relay, "openai", k["key"], "to-openai", "one") == "echo: one"
    f = expect_error(relay, "openai", 429, lambda: chat(relay, "openai", k["key"], "to-openai"))
    assert k["name"] in f.message and "1 requests per minute" in f.message
    assert admin.delete(f"/admin/keys/{k['id']}").status_code == 204


BAD_KEYS = [
    ("missing models", {"name": "bad-a"}, 422, "models"),
    ("models not a list", {"name": "bad-b", "models": "*"}, 422, "models"),
    ("rpm of the wrong type", {"name": "bad-c", "models": ["*"], "rpm": "ten"}, 422, "rpm"),
    ("negative rpm", {"name": "bad-d", "models": ["*"], "rpm": -1}, 422, "rpm"),
    ("negative budget", {"name": "bad-e", "models": ["*"], "budget_usd": -1}, 422, "budget_usd"),
    ("missing name", {"models": ["*"]}, 422, "name"),
    ("empty name", {"name": "", "models": ["*"]}, 422, "name"),
    ("blank name", {"name": "   ", "models": ["*"]}, 422, "name"),
    ("name of a config key", {"name": "all", "models": ["*"]}, 409, "name"),
]


@pytest.mark.parametrize("body,status,field", [c[1:] for c in BAD_KEYS], ids=[c[0] for c in BAD_KEYS])
def test_admin_create_key_bad_input(relay, admin, body, status, field):
    r = admin.post("/admin/keys", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"], r.text
    assert err.get("field") == field, f"the error should name `{field}`: {r.text}"
    names = [k["name"] for k in admin.get("/admin/keys").json()["keys"]]
    assert names.count(body.get("name", "")) == (1 if status == 409 else 0)


def test_admin_create_key_malformed(relay, admin):
    r = admin.post("/admin/keys", content=b'{"name": "bad-json", "models": [', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"], r.text
    r = admin.post("/admin/keys", json={"name": "bad-unknown", "models": ["*"], "rmp": 5})
    assert r.status_code in (400, 422) and "rmp" in r.json()["error"]["message"], r.text
    names = [k["name"] for k in admin.get("/admin/keys").json()["keys"]]
    assert "bad-json" not in names and "bad-unknown" not in names


def test_admin_create_key_duplicate_runtime_name(relay, admin):
    k = create_key(relay, admin)
    r = admin.post("/admin/keys", json={"name": k["name"], "models": ["*"]})
    assert r.status_code == 409 and r.json()["error"]["field"] == "name", r.text
    assert admin.delete(f"/admin/keys/{k['id']}").status_code == 204


# --- admin API: usage -------------------------------------------------------------------------

def test_admin_usage_by_key(relay, admin):
    k = create_key(relay, admin)
    works_everywhere(relay, k["key"], "counted")
    u = wait_counted(admin, k["name"], len(PROTOCOLS))
    assert u["total"]["requests"] == len(PROTOCOLS), u
    assert re.fullmatch(r"\d{4}-\d{2}", u["period"]), u
    [row] = u["rows"]
    assert (row["key"], row["provider"], row["model"]) == (k["name"], "oa", "gpt-4o-mini")
    assert row["requests"] == 3 and row["input_tokens"] > 0 and row["output_tokens"] > 0, row
    assert row["cost_usd"] == 0  # `oa` has no prices
    # Unfiltered, the key is one of the rows; a filter on another key leaves it out.
    assert k["name"] in {r["key"] for r in usage(admin)["rows"]}
    assert usage(admin, key="no-such-key")["rows"] == []
    r = admin.get("/admin/usage", params={"period": "last month"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "period", r.text
    r = admin.get("/admin/usage", params={"user": "x"})
    assert r.status_code == 400 and r.json()["error"]["message"], r.text
    assert admin.delete(f"/admin/keys/{k['id']}").status_code == 204


# --- admin API: providers and their upstream keys ---------------------------------------------

def check_providers_shape(body: dict) -> dict[str, dict]:
    providers = body["providers"]
    for p in providers:
        assert {"name", "type", "region", "healthy", "breaker", "latency_ms", "keys"} <= p.keys(), p
        assert isinstance(p["healthy"], bool), p
        assert p["breaker"] in ("closed", "open", "half_open"), p
        assert p["latency_ms"] is None or isinstance(p["latency_ms"], (int, float)), p
        assert p["region"] is None or isinstance(p["region"], str), p
        for k in p["keys"]:
            assert {"id", "state", "until"} <= k.keys(), k
            assert KEY_ID.fullmatch(k["id"]), k
            assert k["state"] in ("ok", "cooling", "invalid"), k
            assert k["until"] is None or isinstance(k["until"], str), k
    return {p["name"]: p for p in providers}


def test_admin_providers(relay, admin):
    r = admin.get("/admin/providers")
    assert r.status_code == 200
    by_name = check_providers_shape(r.json())
    assert {"oa", "an", "ol", "priced"} <= by_name.keys()
    assert (by_name["oa"]["type"], by_name["an"]["type"], by_name["ol"]["type"]) == ("openai", "anthropic", "ollama")
    assert [k["id"] for k in by_name["oa"]["keys"]] == [upstream_key_id(UPSTREAM_KEY)]
    assert by_name["ol"]["keys"] == []
    assert UPSTREAM_KEY not in r.text


def test_admin_rotate(relay, admin):
    r = admin.post("/admin/keys/rotate", json={"provider": "oa"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provider"] == "oa"
    assert [k["id"] for k in body["keys"]] == [upstream_key_id(UPSTREAM_KEY)]
    for k in body["keys"]:
        assert k["state"] in ("ok", "cooling", "invalid") and "until" in k, k
    assert body["keys"][0]["state"] == "ok"  # rotation clears the marks
    assert UPSTREAM_KEY not in r.text
    r = admin.post("/admin/keys/rotate", json={"provider": "nope"})
    assert r.status_code == 404 and r.json()["error"]["field"] == "provider", r.text
    r = admin.post("/admin/keys/rotate", json={"provider": 5})
    assert r.status_code == 422 and r.json()["error"]["field"] == "provider", r.text
    # Still served afterwards.
    assert chat(relay, "openai", relay.keys["all"], "to-openai", "rotated") == "echo: rotated"


def test_admin_rotate_without_provider(relay, admin):
    r = admin.post("/admin/keys/rotate", json={})
    assert r.status_code in (400, 422) and r.json()["error"]["message"], r.text
    assert r.json()["error"].get("field") == "provider", f"the error should name `provider`: {r.text}"


def test_admin_upstream_key_add_list_remove(relay, admin):
    config_id, extra_id = upstream_key_id(UPSTREAM_KEY), upstream_key_id(EXTRA_UPSTREAM_KEY)
    r = admin.post("/admin/providers/oa/keys", json={"key": EXTRA_UPSTREAM_KEY})
    assert r.status_code == 201, r.text
    try:
        assert r.json() == {"provider": "oa", "id": extra_id}  # the id, never the key
        r = admin.get("/admin/providers")
        oa = check_providers_shape(r.json())["oa"]
        assert [k["id"] for k in oa["keys"]] == [config_id, extra_id]
        [extra] = [k for k in oa["keys"] if k["id"] == extra_id]
        assert (extra["state"], extra["until"]) == ("ok", None)
        assert EXTRA_UPSTREAM_KEY not in r.text
        r = admin.post("/admin/providers/oa/keys", json={"key": EXTRA_UPSTREAM_KEY})
        assert r.status_code == 409 and r.json()["error"]["field"] == "key", r.text
        r = admin.post("/admin/keys/rotate", json={"provider": "oa"})
        assert r.status_code == 200 and [k["id"] for k in r.json()["keys"]] == [config_id, extra_id], r.text
        r = admin.delete(f"/admin/providers/oa/keys/{config_id}")
        assert r.status_code == 409 and r.json()["error"]["field"] == "id", r.text
    finally:
        r = admin.delete(f"/admin/providers/oa/keys/{extra_id}")
    assert r.status_code == 204, r.text
    oa = check_providers_shape(admin.get("/admin/providers").json())["oa"]
    assert [k["id"] for k in oa["keys"]] == [config_id]
    r = admin.delete(f"/admin/providers/oa/keys/{extra_id}")
    assert r.status_code == 404 and r.json()["error"]["field"] == "id", r.text


@pytest.mark.parametrize("path,body,status,field", [
    ("/admin/providers/nope/keys", {"key": "sk-x"}, 404, "provider"),
    ("/admin/providers/oa/keys", {"key": ""}, 422, "key"),
    ("/admin/providers/oa/keys", {"key": "sk with space"}, 422, "key"),
    ("/admin/providers/oa/keys", {"key": 7}, 422, "key"),
], ids=["unknown provider", "empty key", "key with space", "key not a string"])
def test_admin_upstream_key_bad_input(relay, admin, path, body, status, field):
    r = admin.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field, r.text
    oa = check_providers_shape(admin.get("/admin/providers").json())["oa"]
    assert [k["id"] for k in oa["keys"]] == [upstream_key_id(UPSTREAM_KEY)]


# --- no secret anywhere (keep last: pytest runs a file's tests in order) -----------------------

def test_no_secret_in_logs_answers_or_upstream_requests(relay, stack):
    seen = [s for s in relay.rec.seen if not s.is_key_creation()]
    if len(seen) < 20:
        pytest.skip("run the whole module: this test checks what the module's other tests collected")
    named = {
        "upstream key": UPSTREAM_KEY,
        "added upstream key": EXTRA_UPSTREAM_KEY,
        "admin token": relay.admin_token,
        "encryption key": relay.encryption_key,
        **{f"gateway key {n}": s for n, s in relay.keys.items()},
        **{f"runtime gateway key {i}": s for i, s in enumerate(relay.runtime_secrets)},
    }
    log = re.sub(r"\x1b\[[0-9;]*m", "", relay.log.read_text(errors="replace"))  # no colours
    assert "request finished" in log, "the gateway's debug log is not in the file"
    leaks = [f"{what} in the gateway log" for what, s in named.items() if s in log]
    for entry in seen:
        text = entry.text()
        leaks += [f"{what} in the answer to {entry.method} {entry.url} ({entry.status})"
                  for what, s in named.items() if s in text]
    # Each runtime key's secret was in its create answer (the collection works), and only there.
    created = [s for s in relay.rec.seen if s.is_key_creation()]
    for s in relay.runtime_secrets:
        assert sum(s in c.body for c in created) == 1
    # The upstreams saw the upstream key, never a gateway secret.
    gateway_secrets = {w: s for w, s in named.items() if w.startswith(("gateway", "runtime", "admin", "encryption"))}
    with httpx.Client(timeout=10) as c:
        for root in (stack.openai_upstream.removesuffix("/v1"), stack.anthropic_upstream, stack.ollama_upstream):
            r = c.get(root + "/mock/requests")
            r.raise_for_status()
            leaks += [f"{what} sent upstream to {root}" for what, s in gateway_secrets.items() if s in r.text]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)
