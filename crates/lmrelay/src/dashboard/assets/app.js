// lmrelay dashboard: plain JavaScript, no framework, nothing loaded from elsewhere.
// Signs in with the admin token (kept in sessionStorage, sent only as an Authorization
// header), reads live snapshots from /admin/events with fetch() and a stream reader (an
// EventSource cannot send headers), and calls the admin API for its actions. Every value
// from the server is written with textContent, never parsed as HTML.
'use strict';

const TOKEN_KEY = 'lmrelay.adminToken';
const SECONDS = 600; // the series' length, as the gateway keeps it
const STALL_MS = 5000; // no frame for this long: the stream is dropped and reopened
const KEYS_EVERY_MS = 15000; // keys and their usage are re-read this often

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let feed = null; // the AbortController of the open event stream
let feedGeneration = 0;
let keysTimer = 0;
const lastHealth = new Map(); // provider -> "healthy|breaker", to announce changes
const series = { end: 0, requests: [], errors: [], latency_ms: [], ttft_ms: [] };

// --- small helpers ----------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'type' || k === 'scope') e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function say(message, isError) {
  const s = $('status');
  s.classList.toggle('error', !!isError);
  // Re-set even when equal, so a repeated message is announced again.
  s.textContent = '';
  setTimeout(() => { s.textContent = message; }, 30);
}

function setConn(state, text) {
  const c = $('conn');
  c.dataset.state = state;
  c.textContent = text;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (v) => (v == null ? '–' : v >= 10000 ? (v / 1000).toFixed(1) + ' s' : Math.round(v) + ' ms');
const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
const usd = (v) => '$' + (v < 1 ? v.toFixed(4) : v.toFixed(2));

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const init = { method, cache: 'no-store', headers: { Authorization: 'Bearer ' + token } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), 15000);
  let r;
  try {
    r = await fetch(path, { ...init, signal: ctrl.signal });
  } catch (e) {
    throw new ApiError(0, 'The gateway did not answer (' + (e.name === 'AbortError' ? 'timeout' : e.message) + ').');
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (r.status !== 204) {
    try { data = await r.json(); } catch { data = null; }
  }
  if (!r.ok) {
    const msg = (data && data.error && data.error.message) || 'HTTP ' + r.status;
    throw new ApiError(r.status, msg);
  }
  return data;
}

/// Runs an action from a button: disabled while it runs, errors announced.
async function act(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } catch (e) {
    if (e.status === 401) return signOut('The admin token is no longer accepted: sign in again.');
    say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// --- signing in and out -----------------------------------------------------------------

async function signIn(candidate) {
  token = candidate;
  try {
    await api('GET', '/admin/providers');
  } catch (e) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (e.status === 401) say('The admin token was not accepted.', true);
    else if (e.status === 404) say('The admin API is disabled: the config has no [admin] token.', true);
    else say(e.message, true);
    $('token').focus();
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signin').hidden = true;
  $('dash').hidden = false;
  $('bar-actions').hidden = false;
  say('Signed in.');
  startFeed();
  loadKeys();
  keysTimer = setInterval(loadKeys, KEYS_EVERY_MS);
  return true;
}

function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  feedGeneration += 1;
  if (feed) feed.abort();
  feed = null;
  clearInterval(keysTimer);
  lastHealth.clear();
  $('dash').hidden = true;
  $('bar-actions').hidden = true;
  $('signin').hidden = false;
  $('token').value = '';
  setConn('off', 'Signed out');
  say(message || 'Signed out.', !!message);
  $('token').focus();
}

// --- the live feed ----------------------------------------------------------------------

async function startFeed() {
  const generation = ++feedGeneration; // a sign-out and sign-in starts a new loop; this one stops
  let backoff = 1000;
  while (token && generation === feedGeneration) {
    const ctrl = new AbortController();
    feed = ctrl;
    let ended = false; // the stream delivered and then closed (its lifetime is bounded): reopen at once
    let stall = setTimeout(() => ctrl.abort(), STALL_MS);
    try {
      const r = await fetch('/admin/events', {
        cache: 'no-store', signal: ctrl.signal, headers: { Authorization: 'Bearer ' + token },
      });
      if (r.status === 401) return signOut('The admin token is no longer accepted: sign in again.');
      if (r.status === 404) return signOut('The admin API is disabled: the config no longer has an [admin] token.');
      if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
      setConn('live', 'Live');
      backoff = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        ended = true; // data came: an end after it is the bounded lifetime, not a failure
        clearTimeout(stall);
        stall = setTimeout(() => ctrl.abort(), STALL_MS);
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          onFrame(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch (e) {
      ended = false; // dropped, stalled or refused: reopened below, with backoff
    } finally {
      clearTimeout(stall);
    }
    if (!token || feed !== ctrl || generation !== feedGeneration) return;
    if (ended) continue;
    setConn('retry', 'Reconnecting…');
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 10000);
  }
}

function onFrame(frame) {
  const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
  if (!data) return;
  let snap;
  try { snap = JSON.parse(data); } catch { return; }
  renderProviders(snap.providers || []);
  mergeSeries(snap.series);
  drawCharts();
  renderRecent(snap.recent || []);
  $('updated').textContent = '· updated ' + clock(Date.parse(snap.time) || Date.now());
}

// --- providers --------------------------------------------------------------------------

function renderProviders(providers) {
  const body = $('providers').tBodies[0];
  const seen = new Set();
  for (const p of providers) {
    seen.add(p.name);
    let row = body.querySelector(`tr[data-provider="${CSS.escape(p.name)}"]`);
    if (!row) {
      row = providerRow(p.name);
      body.append(row);
    }
    updateProviderRow(row, p);
    const state = (p.healthy ? 'healthy' : 'unhealthy') + '|' + p.breaker;
    const before = lastHealth.get(p.name);
    if (before && before !== state) {
      say(`Provider ${p.name} is ${p.healthy ? 'healthy' : 'unhealthy'}; breaker ${p.breaker.replace('_', '-')}.`, !p.healthy);
    }
    lastHealth.set(p.name, state);
  }
  for (const row of [...body.rows]) if (!seen.has(row.dataset.provider)) row.remove();
}

/// A provider's row; its cells are updated in place each second, so a focused button stays.
function providerRow(name) {
  const rotate = el('button', { type: 'button', class: 'quiet', text: 'Rotate keys', 'aria-label': `Rotate keys of ${name}` });
  rotate.addEventListener('click', () => act(rotate, async () => {
    const r = await api('POST', '/admin/keys/rotate', { provider: name });
    const states = r.keys.map((k) => `${k.id} ${k.state}`).join(', ') || 'no keys';
    say(`Keys of ${name} rotated: ${states}.`);
  }));
  return el('tr', { 'data-provider': name },
    el('th', { scope: 'row' }, el('span', { class: 'name', text: name }), el('br'), el('span', { class: 'hint type' })),
    el('td', { class: 'health' }), el('td', { class: 'breaker' }),
    el('td', { class: 'num latency' }), el('td', { class: 'num ttft' }), el('td', { class: 'num counts' }),
    el('td', { class: 'keys' }), el('td', {}, rotate));
}

function badge(text, kind) {
  return el('span', { class: 'badge ' + kind, text });
}

function updateProviderRow(row, p) {
  const q = (c) => row.querySelector('.' + c);
  q('type').textContent = p.type + (p.region ? ' · ' + p.region : '');
  q('health').replaceChildren(badge(p.healthy ? 'healthy' : 'unhealthy', p.healthy ? 'good' : 'bad'));
  const b = p.breaker.replace('_', '-');
  q('breaker').replaceChildren(badge(b, p.breaker === 'closed' ? 'good' : p.breaker === 'open' ? 'bad' : 'warn'));
  q('latency').textContent = ms(p.latency_ms);
  q('ttft').textContent = ms(p.ttft_ms);
  q('counts').textContent = `${p.successes} / ${p.failures}`;
  const keys = p.keys.length
    ? el('ul', { class: 'keys-list' }, ...p.keys.map((k) => el('li', { 'data-key': k.id },
      el('code', { text: k.id }),
      badge(k.state + (k.until ? ' until ' + clock(Date.parse(k.until)) : ''), k.state === 'ok' ? 'good' : k.state === 'invalid' ? 'bad' : 'warn'),
      k.source === 'runtime' ? el('span', { class: 'hint', text: ' added at runtime' }) : null)))
    : el('span', { class: 'hint', text: 'no key' });
  q('keys').replaceChildren(keys);
}

// --- charts -----------------------------------------------------------------------------

/// Puts a snapshot's seconds into the 600-second window (a first snapshot has them all,
/// later ones the last few).
function mergeSeries(s) {
  if (!s || !s.requests) return;
  const n = s.requests.length;
  const first = s.end - n + 1;
  const end = Math.max(series.end, s.end);
  const shift = series.end ? Math.min(end - series.end, SECONDS) : SECONDS;
  for (const k of ['requests', 'errors', 'latency_ms', 'ttft_ms']) {
    let a = series[k];
    if (a.length !== SECONDS) a = new Array(SECONDS).fill(null);
    if (shift > 0) a = a.slice(shift).concat(new Array(shift).fill(null));
    for (let i = 0; i < n; i++) {
      const idx = SECONDS - 1 - (end - (first + i));
      if (idx >= 0) a[idx] = s[k][i];
    }
    series[k] = a;
  }
  series.end = end;
}

const CHARTS = [
  { id: 'chart-requests', key: 'requests', unit: '/s', what: 'Requests per second', zero: true },
  { id: 'chart-errors', key: 'errors', unit: '/s', what: 'Errors per second', zero: true },
  { id: 'chart-latency', key: 'latency_ms', unit: 'ms', what: 'Mean latency', zero: false },
  { id: 'chart-ttft', key: 'ttft_ms', unit: 'ms', what: 'Mean time to first token', zero: false },
];

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawCharts() {
  for (const c of CHARTS) {
    const fig = $(c.id);
    const svg = fig.querySelector('svg');
    // Counts: an empty second is a zero. Averages: it is a gap.
    const values = series[c.key].map((v) => (v == null && c.zero ? 0 : v));
    const present = values.filter((v) => v != null);
    const max = niceMax(Math.max(0, ...present));
    // Averages are joined across seconds without requests; a lone point gets a short dash.
    const pts = [];
    values.forEach((v, i) => { if (v != null) pts.push([i, (100 - (v / max) * 96).toFixed(1)]); });
    if (pts.length === 1) pts.push([pts[0][0] + 4, pts[0][1]]);
    const line = pts.map(([x, y], i) => (i ? 'L' : 'M') + x + ' ' + y).join('');
    const area = c.zero && line ? line + `L${SECONDS - 1} 100L0 100Z` : '';
    svg.replaceChildren(
      ...(area ? [svgEl('path', { class: 'area', d: area })] : []),
      ...(line ? [svgEl('path', { class: 'line', d: line })] : []));
    const last = [...values].reverse().find((v) => v != null);
    const fmt = (v) => (v == null ? '–' : c.unit === 'ms' ? ms(v) : String(v));
    const lastMin = values.slice(-60).reduce((a, b) => a + (b || 0), 0);
    fig.querySelector('.now').textContent = c.zero ? `${lastMin} in the last minute` : fmt(last);
    fig.querySelector('.max').textContent = 'max ' + (c.unit === 'ms' ? ms(max) : max + c.unit);
    svg.setAttribute('aria-label', summary(c, values, present, fmt));
  }
}

function summary(c, values, present, fmt) {
  if (c.zero) {
    const total = present.reduce((a, b) => a + b, 0);
    const lastMin = values.slice(-60).reduce((a, b) => a + (b || 0), 0);
    return `${c.what} over the last 10 minutes: ${total} in all, ${lastMin} in the last minute, peak ${Math.max(0, ...present)} in one second.`;
  }
  if (!present.length) return `${c.what} over the last 10 minutes: no data.`;
  const avg = present.reduce((a, b) => a + b, 0) / present.length;
  return `${c.what} over the last 10 minutes: latest ${fmt([...present].pop())}, average ${fmt(avg)}, highest ${fmt(Math.max(...present))}.`;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// --- recent requests --------------------------------------------------------------------

function renderRecent(recent) {
  const body = $('recent').tBodies[0];
  $('recent-empty').hidden = recent.length > 0;
  body.replaceChildren(...recent.map((r) => el('tr', { 'data-request': r.request_id },
    el('td', { class: 'num', text: clock(r.time_ms) }),
    el('td', {}, el('code', { text: r.request_id })),
    el('td', { text: r.key || '–' }),
    el('td', { text: r.model || '–' }),
    el('td', { text: r.provider || '–' }),
    el('td', { class: 'num' }, badge(String(r.status), r.status >= 400 ? 'bad' : 'good')),
    el('td', { text: r.result }),
    el('td', { class: 'num', text: ms(r.latency_ms) }),
    el('td', { class: 'num', text: ms(r.ttft_ms) }),
    el('td', { class: 'num', text: `${r.input_tokens} / ${r.output_tokens}` }))));
}

// --- gateway keys -----------------------------------------------------------------------

async function loadKeys() {
  if (!token) return;
  let keys, usage;
  try {
    [keys, usage] = await Promise.all([api('GET', '/admin/keys'), api('GET', '/admin/usage')]);
  } catch (e) {
    if (e.status === 401) return signOut('The admin token is no longer accepted: sign in again.');
    return say('Gateway keys could not be read: ' + e.message, true);
  }
  const byKey = new Map();
  for (const row of usage.rows || []) {
    const u = byKey.get(row.key) || { requests: 0, tokens: 0, cost: 0 };
    u.requests += row.requests;
    u.tokens += row.input_tokens + row.output_tokens;
    u.cost += row.cost_usd;
    byKey.set(row.key, u);
  }
  renderKeys(keys.keys || [], byKey);
}

function renderKeys(keys, usage) {
  const body = $('keys').tBodies[0];
  const focused = document.activeElement && document.activeElement.dataset.focusId;
  $('keys-empty').hidden = keys.length > 0;
  body.replaceChildren(...keys.map((k) => {
    const u = usage.get(k.name) || { requests: 0, tokens: 0, cost: 0 };
    const limits = [k.rpm && `${k.rpm} rpm`, k.tpm && `${k.tpm} tpm`, k.budget_usd != null && `${usd(k.budget_usd)}/month`]
      .filter(Boolean).join(', ') || 'none';
    let action;
    if (k.source === 'config') {
      action = el('span', { class: 'hint', text: 'config file' });
    } else {
      const verb = k.disabled ? 'Enable' : 'Disable';
      action = el('button', { type: 'button', class: 'quiet', text: verb, 'aria-label': `${verb} key ${k.name}`, 'data-focus-id': 'key-' + k.id });
      action.addEventListener('click', () => act(action, async () => {
        await api('POST', `/admin/keys/${encodeURIComponent(k.id)}/${verb.toLowerCase()}`);
        say(`Key ${k.name} ${k.disabled ? 'enabled' : 'disabled'}.`);
        await loadKeys();
      }));
    }
    return el('tr', { 'data-key': k.name },
      el('th', { scope: 'row', text: k.name }),
      el('td', {}, el('code', { text: k.id })),
      el('td', { text: (k.models || []).join(', ') || 'none' }),
      el('td', { text: limits }),
      el('td', { class: 'num', text: `${u.requests} req · ${u.tokens} tok · ${usd(u.cost)}` }),
      el('td', { class: 'state' }, badge(k.disabled ? 'disabled' : 'active', k.disabled ? 'bad' : 'good')),
      el('td', {}, action));
  }));
  if (focused) {
    const again = body.querySelector(`[data-focus-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

async function createKey(form) {
  const num = (id) => ($(id).value.trim() === '' ? undefined : Number($(id).value));
  const body = {
    name: $('nk-name').value.trim(),
    models: $('nk-models').value.split(',').map((m) => m.trim()).filter(Boolean),
    rpm: num('nk-rpm'),
    tpm: num('nk-tpm'),
    budget_usd: num('nk-budget'),
  };
  const created = await api('POST', '/admin/keys', body);
  form.reset();
  $('secret-name').textContent = created.name;
  $('secret-value').textContent = created.key;
  $('secret').hidden = false;
  $('secret').focus();
  say(`Key ${created.name} created. Copy its secret now: it is shown only once.`);
  await loadKeys();
}

function hideSecret() {
  $('secret-value').textContent = '';
  $('secret').hidden = true;
  $('nk-name').focus();
}

// --- wiring -----------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const button = ev.submitter || $('signin-form').querySelector('button');
    act(button, () => signIn($('token').value.trim()));
  });
  $('signout').addEventListener('click', () => signOut());
  $('reload').addEventListener('click', (ev) => act(ev.currentTarget, async () => {
    try {
      const r = await api('POST', '/admin/reload');
      say(`Config reloaded from ${r.source}: ${r.providers} providers, ${r.routes} routes, ${r.keys} keys.`
        + (r.needs_restart.length ? ` Needs a restart: ${r.needs_restart.join(', ')}.` : ''));
    } catch (e) {
      if (e.status === 422) throw new Error(e.message + ' See the gateway log for each error.');
      throw e;
    }
    await loadKeys();
  }));
  $('newkey').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const button = ev.submitter || $('newkey').querySelector('button[type=submit]');
    act(button, () => createKey(ev.currentTarget));
  });
  $('secret-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('secret-value').textContent);
      say('Copied.');
    } catch {
      say('The browser refused the clipboard: select the key and copy it.', true);
    }
  });
  $('secret-done').addEventListener('click', hideSecret);
  if (token) signIn(token);
  else $('token').focus();
});
