// Shared by the browser scripts (test.mjs, official-login.mjs, screenshots.mjs): Debian's
// chromium through puppeteer-core (no browser is ever downloaded), checks that print one line
// each, and helpers for the pages' forms.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
export const AXE_PATH = require.resolve('axe-core/axe.min.js');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** The longest one check may take. */
export const CHECK_TIMEOUT_MS = 45_000;
/** The longest one HTTP request from node may take. */
export const FETCH_TIMEOUT_MS = 15_000;

export function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`error: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM} (apt-get install chromium chromium-driver)`);
  }
  return puppeteer.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage',
      '--no-first-run', '--no-default-browser-check', '--disable-extensions'],
    defaultViewport: { width: 1280, height: 800 },
    protocolTimeout: 60_000,
  });
}

/** Closes the browser; kills it if it has not gone within 10 s. */
export async function closeBrowser(browser) {
  const closed = await Promise.race([
    browser.close().then(() => true, () => false),
    new Promise((r) => setTimeout(() => r(false), 10_000)),
  ]);
  if (!closed) browser.process()?.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------
// Checks: one line each, a summary at the end.
// ---------------------------------------------------------------------------------------

export class Checks {
  constructor() {
    this.passed = 0;
    this.failed = 0;
    this.failures = [];
  }

  ok(name, detail) {
    this.passed++;
    console.log(`ok   ${name}${detail ? ` (${detail})` : ''}`);
  }

  fail(name, why) {
    this.failed++;
    this.failures.push(name);
    console.log(`FAIL ${name}: ${why}`);
  }

  /**
   * Runs `fn`; it passes unless it throws or takes longer than `CHECK_TIMEOUT_MS`. What it
   * returns (a string) is printed.
   */
  async check(name, fn) {
    this.current = name;
    let timer;
    try {
      const detail = await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
        }),
      ]);
      this.ok(name, typeof detail === 'string' ? detail : undefined);
      return true;
    } catch (e) {
      this.fail(name, oneLine(e));
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends the run, failed, if it is still going after `ms`: says which check it was stuck in
   * and prints the summary (a hung browser or server must not hang the suite).
   */
  watchdog(ms, cleanup) {
    const t = setTimeout(async () => {
      this.fail('the run finished in time', `still running after ${ms / 1000} s, in "${this.current}"`);
      this.summary();
      try {
        await Promise.race([cleanup?.(), new Promise((r) => setTimeout(r, 3000))]);
      } finally {
        process.exit(1);
      }
    }, ms);
    t.unref();
  }

  summary() {
    if (this.failures.length) {
      console.log(`failed: ${this.failures.join('; ')}`);
    }
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0;
  }
}

export function oneLine(e) {
  const s = e && e.message ? e.message : String(e);
  return s.replace(/\s+/g, ' ').slice(0, 600);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---------------------------------------------------------------------------------------
// The API, from node
// ---------------------------------------------------------------------------------------

export class Api {
  constructor(base) {
    this.base = base.replace(/\/$/, '');
  }

  async call(method, path, { token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const r = await fetch(this.base + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    const text = await r.text();
    return { status: r.status, text, json: () => JSON.parse(text), headers: r.headers };
  }

  async login(email, password) {
    const r = await this.call('POST', '/api/auth/login', { body: { email, password } });
    assert(r.status === 200, `API login of ${email}: ${r.status} ${r.text}`);
    return r.text.trim();
  }
}

/** The `Cookie` header a browser page would send to `base`. */
export async function cookieHeader(page) {
  const cookies = await page.cookies();
  return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}

/** The value of the hidden `csrf` input of the form `formId` in `html`, if any. */
export function csrfOf(html, formId) {
  let scope = html;
  if (formId) {
    const start = html.search(new RegExp(`<form[^>]*\\bid=["']?${formId}\\b`, 'i'));
    if (start >= 0) scope = html.slice(start, html.indexOf('</form>', start) + 7);
  }
  const input = scope.match(/<input[^>]*\bname=["']?csrf\b[^>]*>/i);
  if (!input) return undefined;
  const v = input[0].match(/\bvalue=["']([^"']*)["']/i) || input[0].match(/\bvalue=([^\s>]+)/i);
  return v ? decodeEntities(v[1]) : undefined;
}

function decodeEntities(s) {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

/**
 * Tracks what a page transfers (the bodies of the responses of its origin and of any other,
 * per navigation), the requests that leave the origin, and dialogs.
 */
export class PageWatch {
  constructor(page, origin) {
    this.page = page;
    this.origin = origin;
    this.sizes = [];
    this.offOrigin = [];
    this.dialogs = [];
    page.on('response', (res) => {
      const status = res.status();
      if (status >= 300 && status < 400) return;
      const url = res.url();
      if (url.startsWith('data:')) return;
      // A body that never arrives (a navigation cut short) must not hang the count.
      this.sizes.push(Promise.race([
        res.buffer().then((b) => ({ url, bytes: b.length })).catch(() => ({ url, bytes: 0 })),
        new Promise((r) => setTimeout(() => r({ url, bytes: 0 }), 5_000)),
      ]));
    });
    page.on('request', (req) => {
      const url = req.url();
      if (url.startsWith('data:') || url.startsWith('about:')) return;
      if (!url.startsWith(origin) && !/^http:\/\/localhost:\d+\//.test(url)) {
        this.offOrigin.push(url);
      }
    });
    page.on('dialog', async (d) => {
      this.dialogs.push(`${d.type()}: ${d.message()}`);
      await d.dismiss().catch(() => {});
    });
  }

  reset() {
    this.sizes = [];
  }

  /** Bytes of every response body since the last reset, and the biggest ones. */
  async transferred() {
    const all = await Promise.all(this.sizes);
    const total = all.reduce((n, x) => n + x.bytes, 0);
    const top = all.sort((a, b) => b.bytes - a.bytes).slice(0, 3)
      .map((x) => `${new URL(x.url).pathname} ${x.bytes} B`).join(', ');
    return { total, top };
  }
}

/** Sets the value of the fields of the form `formSel` from `values` (name → value). */
export async function fill(page, formSel, values) {
  for (const [name, value] of Object.entries(values)) {
    const sel = `${formSel} [name="${name}"]`;
    const handles = await page.$$(sel);
    assert(handles.length > 0, `no field ${sel}`);
    const tag = await handles[0].evaluate((el) => [el.tagName.toLowerCase(), el.type]);
    if (tag[0] === 'select') {
      await page.select(sel, String(value));
    } else if (tag[1] === 'checkbox' || tag[1] === 'radio') {
      // value: true/false for a single box, or the list of values to check.
      for (const h of handles) {
        const v = await h.evaluate((el) => el.value);
        const want = Array.isArray(value) ? value.includes(v) : Boolean(value);
        const is = await h.evaluate((el) => el.checked);
        if (want !== is) await h.click();
      }
    } else {
      await handles[0].evaluate((el) => {
        el.value = '';
      });
      if (value !== '') await handles[0].type(String(value));
    }
  }
}

/** Clicks the button of `formSel` whose text is `text` and waits for the page that follows. */
export async function submit(page, formSel, text) {
  const buttons = await page.$$(`${formSel} button, ${formSel} input[type=submit]`);
  let target;
  for (const b of buttons) {
    const t = await b.evaluate((el) => (el.innerText || el.value || '').trim());
    if (t === text) {
      target = b;
      break;
    }
  }
  assert(target, `no button "${text}" in ${formSel}`);
  const [resp] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: 15_000 }),
    target.click(),
  ]);
  return resp;
}

/** axe-core on the page as it is now; the serious and critical violations, described. */
export async function axe(page) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) await page.addScriptTag({ path: AXE_PATH });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function describeViolations(vs) {
  return vs.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ');
}

/**
 * Signs in through the login form; the response of the page it lands on. A first sign-in
 * (an account whose password someone else chose) lands on /user/profile?first=1, which asks
 * for a new password; unless `keepFirst`, this follows its "Skip for now" link.
 */
export async function signIn(page, base, email, password, next, { keepFirst = false } = {}) {
  const url = `${base}/user/login${next ? `?next=${encodeURIComponent(next)}` : ''}`;
  await page.goto(url, { waitUntil: 'load' });
  await fill(page, 'form#login', { email, password });
  const resp = await submit(page, 'form#login', 'Sign in');
  if (keepFirst) return resp;
  return (await skipFirstSignIn(page)) || resp;
}

/** On the first sign-in's page, follows "Skip for now"; the response, or null elsewhere. */
export async function skipFirstSignIn(page) {
  const u = new URL(page.url());
  if (u.pathname !== '/user/profile' || !u.searchParams.has('first')) return null;
  const links = await page.$$('main a');
  for (const a of links) {
    if ((await a.evaluate((el) => el.innerText.trim())) === 'Skip for now') {
      const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), a.click()]);
      return resp;
    }
  }
  throw new Error(`a first sign-in page without a "Skip for now" link (at ${page.url()})`);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------
// Single sign-on through the test provider (.ci/oidc/provider.mjs: npm oidc-provider with
// its development login form, any login and password; the login is the email)
// ---------------------------------------------------------------------------------------

/**
 * Lets `page` reach loopback only: the provider's development pages import a web font,
 * and no test may wait on the internet.
 */
export async function loopbackOnly(page) {
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const u = req.url();
    if (/^(https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]|data:|about:)/.test(u)) {
      req.continue().catch(() => {});
    } else {
      req.abort('blockedbyclient').catch(() => {});
    }
  });
}

/**
 * On our sign-in page (already open in `page`), clicks "Sign in with PROVIDER", signs in on
 * the provider's login form as `email` (and consents when asked), until the browser is back
 * on `origin`. The response of the first page of ours it lands on (a refusal page, or the
 * page a successful sign-in was sent to), and which of the provider's forms it went through.
 */
export async function ssoSignIn(page, origin, provider, email) {
  const links = await page.$$('#sso a');
  let link;
  for (const a of links) {
    if ((await a.evaluate((el) => el.innerText.trim())) === `Sign in with ${provider}`) link = a;
  }
  assert(link, `no "Sign in with ${provider}" on ${page.url()}`);
  let [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), link.click()]);
  const seen = [];
  for (let i = 0; i < 6 && !page.url().startsWith(origin); i++) {
    if (await page.$('form input[name="login"]')) {
      seen.push('its login form');
      await fill(page, 'form', { login: email, password: 'any-password' });
    } else {
      seen.push('its consent form');
      const prompt = await page.$eval('form input[name="prompt"]', (el) => el.value).catch(() => null);
      assert(prompt === 'consent', `an unexpected provider page at ${page.url()}: ${
        (await page.evaluate(() => document.body.innerText)).slice(0, 300)}`);
    }
    [resp] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.click('form button[type="submit"]'),
    ]);
  }
  assert(page.url().startsWith(origin), `the sign-in did not come back to ${origin} (at ${page.url()})`);
  return { resp, seen };
}
