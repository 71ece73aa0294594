// The /ui dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; nothing is downloaded): sign in (a wrong token first), see every
// provider healthy, send traffic and watch the charts and recent requests, fail a mock
// provider and watch it turn unhealthy with its breaker open, have a key rejected and rotate
// it, create a gateway key (its secret shown once), use it, disable it, reload, sign out.
// Screenshots go to $SCREENSHOT_DIR. Every wait is bounded, and the whole run is bounded by
// DEADLINE_MS.
//
// Environment: GATEWAY (http://127.0.0.1:PORT), ADMIN_TOKEN, MOCK_OPENAI, MOCK_ANTHROPIC,
// MOCK_OLLAMA (the mocks' roots, for /mock/faults), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium). Run by e2e/test_dashboard.py, or by hand: `node dashboard.test.mjs`.

import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};
const GATEWAY = env('GATEWAY');
const TOKEN = env('ADMIN_TOKEN');
const MOCK = { oa: env('MOCK_OPENAI'), an: env('MOCK_ANTHROPIC'), ol: env('MOCK_OLLAMA') };
const SHOTS = env('SCREENSHOT_DIR', 'target/screenshots');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const WAIT_MS = 15_000;
// Background traffic before the checks; longer (e.g. 120000) for a screenshot with history.
const WARM_UP_MS = Number(process.env.WARM_UP_MS ?? 8_000);
const DEADLINE_MS = 150_000 + WARM_UP_MS;

mkdirSync(SHOTS, { recursive: true });
rmSync(join(SHOTS, 'failure.png'), { force: true });
let browser = null;
const hardStop = setTimeout(() => {
  console.error(`FAIL: the test did not finish within ${DEADLINE_MS / 1000} s`);
  if (browser) browser.process()?.kill('SIGKILL');
  process.exit(2);
}, DEADLINE_MS);

// --- helpers ----------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/// Polls `probe` until `ok(value)`, at most `timeout` ms; the error names what was seen.
async function until(what, probe, ok = Boolean, timeout = WAIT_MS) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (e) {
      last = `(error: ${e.message})`;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function http(method, url, { body, headers = {}, timeout = 10_000 } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeout) };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, text };
}

/// One OpenAI-style chat request through the gateway; `key` is a gateway key.
async function chat(model, { stream = false, key } = {}) {
  const headers = key ? { authorization: `Bearer ${key}` } : {};
  const body = { model, messages: [{ role: 'user', content: 'hello from the dashboard test' }], stream };
  return http('POST', `${GATEWAY}/v1/chat/completions`, { body, headers });
}

async function fault(provider, failNext) {
  const r = await http('POST', `${MOCK[provider]}/mock/faults`, { body: { fail_next: failNext } });
  check(r.status === 200, `mock ${provider} refused the fault: ${r.status} ${r.text}`);
}

const text = (page, selector) => page.locator(selector).first().textContent({ timeout: 2000 }).then((t) => (t ?? '').trim());

let step = 0;
async function shot(page, name) {
  step += 1;
  const file = join(SHOTS, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

// --- the run ----------------------------------------------------------------------------

async function main() {
  // The static shell: no token needed, strict CSP, right types.
  const shell = await http('GET', `${GATEWAY}/ui`);
  check(shell.status === 200, `/ui answered ${shell.status}`);
  check(shell.headers.get('content-type').startsWith('text/html'), 'the page is HTML');
  check(shell.headers.get('content-security-policy').includes("default-src 'self'"), 'the page has a CSP');
  const js = await http('GET', `${GATEWAY}/ui/app.js`);
  check(js.status === 200 && js.headers.get('content-type').startsWith('text/javascript'), 'app.js is JavaScript');
  check(!shell.text.includes(TOKEN) && !js.text.includes(TOKEN), 'the shell holds no token');

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    timeout: 30_000,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems = [];
  let refusalExpected = false; // the browser logs the 401 of the wrong token as a console error
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || (refusalExpected && m.text().includes('status of 401'))) return;
    problems.push(`console error: ${m.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(GATEWAY)) problems.push(`request outside the gateway: ${r.url()}`);
    if (r.url().includes(TOKEN)) problems.push(`the token is in a URL: ${r.url()}`);
  });

  console.log('sign in');
  await page.goto(`${GATEWAY}/ui`, { waitUntil: 'load' });
  await until('the token field to have focus', () => page.evaluate(() => document.activeElement?.id), (id) => id === 'token');
  await shot(page, 'signin');
  refusalExpected = true;
  await page.keyboard.type('not-the-token');
  await page.keyboard.press('Enter');
  await until('the refusal to be announced', () => text(page, '#status'), (t) => t.includes('not accepted'));
  refusalExpected = false;
  check(await page.locator('#dash').isHidden(), 'a wrong token shows no data');
  await page.fill('#token', TOKEN);
  await page.keyboard.press('Enter');
  await page.locator('#dash').waitFor({ state: 'visible' });
  await until('the live feed', () => text(page, '#conn'), (t) => t === 'Live');
  check(await page.evaluate(() => sessionStorage.getItem('lmrelay.adminToken')) === TOKEN, 'the token is in sessionStorage');
  check(await page.evaluate(() => localStorage.length) === 0, 'nothing is in localStorage');

  console.log('every provider healthy');
  for (const p of ['oa', 'an', 'ol']) {
    await until(`${p} healthy`, () => text(page, `tr[data-provider="${p}"] td.health`), (t) => t === 'healthy');
    await until(`${p} breaker closed`, () => text(page, `tr[data-provider="${p}"] td.breaker`), (t) => t === 'closed');
  }
  check((await text(page, 'tr[data-provider="oa"] td.keys')).includes('ok'), 'the key of oa is ok');

  console.log('live updates: background traffic moves the charts');
  const total = (label) => Number(((label ?? '').match(/: (\d+) in all/) ?? [])[1] ?? NaN);
  const reqLabel = () => page.locator('#chart-requests svg').getAttribute('aria-label');
  let trickling = true;
  const trickle = (async () => {
    for (let i = 0; trickling; i++) {
      await chat(i % 2 ? 'to-ollama' : 'to-openai', { stream: i % 3 === 0 }).catch(() => {});
      await sleep(120 + ((i * 53) % 300));
    }
  })();
  const before = total(await until('a requests chart', reqLabel, (l) => !Number.isNaN(total(l))));
  await sleep(WARM_UP_MS);
  await until('the requests chart to grow', reqLabel, (l) => total(l) >= before + 10);

  console.log('traffic shows in the charts and the recent requests');
  for (const model of ['to-openai', 'to-anthropic', 'to-ollama']) {
    for (const stream of [false, true]) {
      const r = await chat(model, { stream });
      check(r.status === 200, `${model} stream=${stream}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  }
  await until('six more requests in the chart', reqLabel, (l) => total(l) >= before + 16);
  await until('a first-token time', () => page.locator('#chart-ttft svg').getAttribute('aria-label'), (l) => (l ?? '').includes('latest'));
  await until('recent requests listed', () => page.locator('#recent tbody tr').count(), (n) => n >= 6);
  await until('recent requests of every route', () => page.locator('#recent tbody tr td:nth-child(4)').allTextContents(),
    (ms) => ['to-openai', 'to-anthropic', 'to-ollama'].every((m) => ms.includes(m)));
  await shot(page, 'traffic');

  console.log('a failing provider turns unhealthy, its breaker opens');
  await fault('an', { status: 500, count: 50 });
  for (let i = 0; i < 3; i++) {
    const r = await chat('to-anthropic');
    check(r.status >= 500, `to-anthropic should fail now, got ${r.status}`);
  }
  await until('an unhealthy', () => text(page, 'tr[data-provider="an"] td.health'), (t) => t === 'unhealthy');
  await until('an breaker open', () => text(page, 'tr[data-provider="an"] td.breaker'), (t) => t === 'open');
  await until('the change to be announced', () => text(page, '#status'), (t) => t.includes('an is unhealthy'));
  await until('errors in the chart', () => page.locator('#chart-errors svg').getAttribute('aria-label'), (l) => /: ([1-9]\d*) in all/.test(l ?? ''));
  check(await text(page, 'tr[data-provider="oa"] td.health') === 'healthy', 'oa stays healthy');
  const statuses = await page.locator('#recent tbody tr td:nth-child(6)').allTextContents();
  check(statuses.some((s) => Number(s) >= 500), `recent requests show the failures: ${statuses}`);
  await shot(page, 'provider-down');

  console.log('a rejected key shows invalid; rotating brings it back');
  await fault('oa', { status: 401, count: 1 });
  const rejected = await chat('to-openai');
  check(rejected.status >= 400, `to-openai with a rejected key: ${rejected.status}`);
  const oaKey = 'tr[data-provider="oa"] td.keys li';
  await until('the key of oa invalid', () => text(page, oaKey), (t) => t.includes('invalid'));
  await shot(page, 'key-invalid');
  const rotate = page.getByRole('button', { name: 'Rotate keys of oa', exact: true });
  await rotate.focus();
  await page.keyboard.press('Enter');
  await until('the rotation to be announced', () => text(page, '#status'), (t) => t.startsWith('Keys of oa rotated') && t.includes(' ok'));
  await until('the key of oa ok', () => text(page, oaKey), (t) => t.includes('ok') && !t.includes('invalid'));
  check((await chat('to-openai')).status === 200, 'to-openai serves again after the rotation');
  await shot(page, 'key-rotated');

  // Callers need a key once one exists: the anonymous background traffic ends here.
  trickling = false;
  await trickle;

  console.log('create a gateway key; its secret is shown once');
  await page.fill('#nk-name', 'dash-e2e');
  await page.fill('#nk-models', 'to-*');
  await page.fill('#nk-rpm', '60');
  await page.fill('#nk-budget', '5');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('#secret').waitFor({ state: 'visible' });
  const secret = await text(page, '#secret-value');
  check(/^lmr_[0-9a-f]{40}$/.test(secret), `the new secret is shown: ${secret}`);
  check(await page.evaluate(() => document.activeElement?.id) === 'secret', 'focus moves to the new secret');
  const row = 'tr[data-key="dash-e2e"]';
  await until('the new key in the table', () => text(page, `${row} td:nth-child(4)`), (t) => t.includes('60 rpm') && t.includes('$5.00/month'));
  check(await text(page, `${row} td.state`) === 'active', 'the new key is active');
  await shot(page, 'key-created');
  const keysJson = await http('GET', `${GATEWAY}/admin/keys`, { headers: { authorization: `Bearer ${TOKEN}` } });
  check(!keysJson.text.includes(secret), 'the admin API never shows the secret again');

  console.log('the new key serves, shows in recent requests, and can be disabled');
  const withKey = await chat('to-ollama', { key: secret });
  check(withKey.status === 200, `a request with the new key: ${withKey.status} ${withKey.text.slice(0, 200)}`);
  check((await chat('to-ollama')).status === 401, 'with a key created, callers without one are refused');
  await until('the key in recent requests', () => page.locator('#recent tbody tr td:nth-child(3)').allTextContents(), (ks) => ks.includes('dash-e2e'));
  await page.getByRole('button', { name: 'Done' }).click();
  check(await page.locator('#secret').isHidden() && (await text(page, '#secret-value')) === '', 'the secret is gone after Done');
  await page.getByRole('button', { name: 'Disable key dash-e2e' }).click();
  await until('the key disabled', () => text(page, `${row} td.state`), (t) => t === 'disabled');
  check((await chat('to-ollama', { key: secret })).status === 401, 'a disabled key is refused');

  console.log('reload');
  await page.getByRole('button', { name: 'Reload config' }).click();
  await until('the reload to be announced', () => text(page, '#status'), (t) => t.startsWith('Config reloaded'));
  await until('the feed still live', () => text(page, '#conn'), (t) => t === 'Live');

  console.log('full page and narrow screen');
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });
  console.log(`  screenshot ${join(SHOTS, 'dashboard.png')}`);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the page fits a narrow screen (overflows by ${overflow}px)`);
  await shot(page, 'narrow');

  console.log('accessibility basics');
  const a11y = await page.evaluate(() => ({
    main: document.querySelectorAll('main').length,
    banner: document.querySelectorAll('body > header').length,
    unlabelledButtons: [...document.querySelectorAll('button')].filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).length,
    unlabelledInputs: [...document.querySelectorAll('input')].filter((i) => !i.labels || i.labels.length === 0).length,
    chartsWithoutText: [...document.querySelectorAll('.chart svg')].filter((s) => !s.getAttribute('aria-label')).length,
    liveRegion: document.querySelector('[role=status][aria-live=polite]') !== null,
  }));
  check(a11y.main === 1 && a11y.banner === 1 && a11y.liveRegion, `landmarks and a live region: ${JSON.stringify(a11y)}`);
  check(a11y.unlabelledButtons === 0 && a11y.unlabelledInputs === 0 && a11y.chartsWithoutText === 0, `labels: ${JSON.stringify(a11y)}`);

  console.log('sign out');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#signin').waitFor({ state: 'visible' });
  check(await page.evaluate(() => sessionStorage.getItem('lmrelay.adminToken')) === null, 'signing out forgets the token');
  await page.fill('#token', TOKEN);
  await page.keyboard.press('Enter');
  await until('live again after signing in again', () => text(page, '#conn'), (t) => t === 'Live');
  await until('providers again', () => page.locator('#providers tbody tr').count(), (n) => n === 3);

  check(problems.length === 0, `problems in the page:\n  ${problems.join('\n  ')}`);
  await browser.close();
  console.log('PASS');
}

main().then(
  () => { clearTimeout(hardStop); process.exit(0); },
  async (e) => {
    console.error(`FAIL: ${e.stack || e}`);
    try {
      const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
      if (pages[0]) await pages[0].screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true, timeout: 5000 });
      await browser?.close();
    } catch { /* the failure is already reported */ }
    clearTimeout(hardStop);
    process.exit(1);
  },
);
