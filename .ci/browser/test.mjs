// The pages of wmill-server in a real headless browser (Debian's chromium, driven by
// puppeteer-core): what a workspace admin and a superadmin do, the official client's consent
// page, and the promises of the pages: CSRF and Origin checks, escaping, security headers,
// cookies, accessibility (axe-core: no serious or critical violation on any page), weight
// (< 100 KB per page) and a 360 px wide screen.
//
//   WMILL_URL=http://127.0.0.1:8000 WMILL_ADMIN_EMAIL=admin@windmill.dev \
//   WMILL_ADMIN_PASSWORD=... node .ci/browser/test.mjs
//
// Optional: WMILL_WORKSPACE (default admins; the admin must be its admin), CHROMIUM.
// Prints one line per check and `N passed, N failed`; exits 1 when a check failed.
// Every name it creates carries a suffix of its own, so it may run twice on one server.

import http from 'node:http';
import {
  Api, Checks, FETCH_TIMEOUT_MS, PageWatch, assert, axe, cookieHeader, describeViolations, env, fill,
  closeBrowser, launch, oneLine, signIn, submit,
} from './lib.mjs';

const BASE = env('WMILL_URL').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const ADMIN_EMAIL = env('WMILL_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('WMILL_ADMIN_PASSWORD');
const WS = process.env.WMILL_WORKSPACE || 'admins';
const SFX = Date.now().toString(36).slice(-5) + Math.floor(Math.random() * 1e4).toString(36);
const XSS = '<script>alert(1)</script>';
const MAX_PAGE_BYTES = 100 * 1024;
const EVIL = 'https://evil.example';

const c = new Checks();
const api = new Api(BASE);
/** label → URL of every page the admin's browser saw, for the 360 px pass. */
const visited = new Map();

const member = {
  email: `member-${SFX}@example.com`, username: `member_${SFX}`, name: XSS, password: `pw-${SFX}-long-enough`,
};
const group = `team-${SFX}`;

// ---------------------------------------------------------------------------------------
// What every page visited must do
// ---------------------------------------------------------------------------------------

async function pageChecks(page, watch, label) {
  const url = page.url();
  visited.set(label, url);
  await c.check(`${label}: under 100 KB transferred`, async () => {
    const { total, top } = await watch.transferred();
    assert(total > 0, 'nothing was transferred');
    assert(total < MAX_PAGE_BYTES, `${total} bytes: ${top}`);
    return `${total} B`;
  });
  await c.check(`${label}: axe, no serious or critical violation`, async () => {
    const vs = await axe(page);
    assert(vs.length === 0, describeViolations(vs));
  });
  await c.check(`${label}: every POST form carries a csrf field`, async () => {
    const bad = await page.$$eval('form', (forms) => forms
      .filter((f) => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
      .filter((f) => {
        const i = f.querySelector('input[name="csrf"]');
        return !i || !i.value;
      })
      .map((f) => f.id || f.getAttribute('action') || '(a form)'));
    assert(bad.length === 0, `without csrf: ${bad.join(', ')}`);
  });
}

async function go(page, watch, path, label, { expectStatus = 200 } = {}) {
  watch.reset();
  const resp = await page.goto(BASE + path, { waitUntil: 'load' });
  const status = resp ? resp.status() : 0;
  if (status !== expectStatus) {
    throw new Error(`GET ${path}: ${status}, expected ${expectStatus} (at ${page.url()})`);
  }
  await pageChecks(page, watch, label);
  return resp;
}

const text = (page) => page.evaluate(() => document.body.innerText);
const path = (page) => new URL(page.url()).pathname;

/** A page fetched from node with the cookies of `page`: status, location, html. */
async function fetchAs(page, p, init = {}) {
  const r = await fetch(BASE + p, {
    redirect: 'manual',
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    ...init,
    headers: { cookie: await cookieHeader(page), ...(init.headers || {}) },
  });
  return { status: r.status, location: r.headers.get('location'), html: await r.text(), headers: r.headers };
}

/**
 * The form `formId` in `html`: its action (resolved against `pageUrl`) and its hidden fields
 * (csrf among them), as a browser would post them.
 */
function formOf(html, formId, pageUrl) {
  const start = html.search(new RegExp(`<form[^>]*\\bid=["']?${formId}\\b`, 'i'));
  assert(start >= 0, `no form#${formId} in the page`);
  const body = html.slice(start, html.indexOf('</form>', start));
  const tag = body.match(/^<form[^>]*>/i)[0];
  const a = tag.match(/\baction=["']([^"']*)["']/i);
  const action = new URL(a ? a[1].replace(/&amp;/g, '&') : '', pageUrl).toString();
  const fields = {};
  for (const input of body.match(/<input[^>]*>/gi) || []) {
    if (!/\btype=["']?hidden/i.test(input)) continue;
    const n = input.match(/\bname=["']([^"']*)["']/i);
    const v = input.match(/\bvalue=["']([^"']*)["']/i);
    if (n) fields[n[1]] = v ? v[1].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : '';
  }
  return { action, fields };
}

function postForm(page, url, fields, headers) {
  return fetchAs(page, url.replace(BASE, ''), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

async function groupExists(token, name) {
  const r = await api.call('GET', `/api/w/${WS}/groups/listnames`, { token });
  assert(r.status === 200, `groups/listnames: ${r.status} ${r.text}`);
  return r.json().includes(name);
}

function checkSecurityHeaders(h, where) {
  const csp = h.get('content-security-policy') || '';
  assert(csp, `${where}: no content-security-policy`);
  assert(!/unsafe-inline/.test(csp), `${where}: CSP allows unsafe-inline: ${csp}`);
  assert(!/unsafe-eval/.test(csp), `${where}: CSP allows unsafe-eval: ${csp}`);
  assert(/frame-ancestors\s+'none'/.test(csp), `${where}: CSP without frame-ancestors 'none': ${csp}`);
  assert((h.get('x-frame-options') || '').toUpperCase() === 'DENY',
    `${where}: x-frame-options is ${h.get('x-frame-options')}`);
  assert(h.get('referrer-policy'), `${where}: no referrer-policy`);
  return `CSP: ${csp}; referrer-policy: ${h.get('referrer-policy')}`;
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

const started = Date.now();
const browser = await launch();
c.watchdog(Number(process.env.WMILL_BROWSER_DEADLINE_SECS || 130) * 1000, () => closeBrowser(browser));
let adminToken;
try {
  adminToken = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD);
} catch (e) {
  console.log(`FAIL API login of the admin: ${oneLine(e)}`);
  await closeBrowser(browser);
  process.exit(1);
}

const ctx = await browser.createBrowserContext();
const page = await ctx.newPage();
// The pages forbid inline scripts; axe is injected as a script tag, so this page bypasses
// the CSP (a second browser, below, keeps it and checks that nothing is blocked).
await page.setBypassCSP(true);
page.setDefaultTimeout(15_000);
const watch = new PageWatch(page, ORIGIN);

try {
  await adminStory();
} catch (e) {
  c.fail('the admin story stopped', oneLine(e));
}
try {
  await narrowScreenAndCsp();
} catch (e) {
  c.fail('the 360 px pass stopped', oneLine(e));
}
try {
  await loginRedirects();
} catch (e) {
  c.fail('the login redirect checks stopped', oneLine(e));
}
try {
  await signOut();
} catch (e) {
  c.fail('sign out stopped', oneLine(e));
}

await c.check('no dialog ever opened (no script of a user ran)', async () => {
  assert(watch.dialogs.length === 0, watch.dialogs.join('; '));
});
await c.check('no request left the server\'s origin', async () => {
  assert(watch.offOrigin.length === 0, [...new Set(watch.offOrigin)].join(', '));
});

await closeBrowser(browser);
console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(c.summary() ? 0 : 1);

// ---------------------------------------------------------------------------------------

/** The admin's story, section by section: a section that stops does not stop the next. */
async function adminStory() {
  for (const [name, fn] of [
    ['signed out', storySignedOut],
    ['members', storyMembers],
    ['the member\'s first sign-in', storyMemberFirstSignIn],
    ['groups', storyGroups],
    ['tokens', storyTokens],
    ['audit', storyAudit],
    ['superadmin', storySuperadmin],
    ['CSRF and Origin', storyCsrfAndOrigin],
    ['the CLI consent page', storyTheCliConsentPage],
  ]) {
    try {
      await fn();
    } catch (e) {
      c.fail(`${name}: stopped`, oneLine(e));
    }
  }
}

// signed out
async function storySignedOut() {
  await c.check('GET /user/login: security headers', async () => {
    const r = await fetch(`${BASE}/user/login`, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    assert(r.status === 200, `status ${r.status}`);
    assert((r.headers.get('content-type') || '').startsWith('text/html'),
      `content-type ${r.headers.get('content-type')}`);
    return checkSecurityHeaders(r.headers, '/user/login');
  });

  await c.check('signed out, /user/profile leads to /user/login', async () => {
    await page.goto(`${BASE}/user/profile`, { waitUntil: 'load' });
    assert(path(page) === '/user/login', `at ${page.url()}`);
  });

  await go(page, watch, '/user/login', 'login');

  await c.check('a refused sign-in says why, keeps the email, forgets the password', async () => {
    await fill(page, 'form#login', { email: ADMIN_EMAIL, password: 'not-the-password' });
    watch.reset();
    await submit(page, 'form#login', 'Sign in');
    const alert = await page.$eval('[role="alert"]', (el) => el.innerText.trim())
      .catch(() => null);
    assert(alert, 'no role="alert" element');
    const email = await page.$eval('form#login [name="email"]', (el) => el.value);
    assert(email === ADMIN_EMAIL, `email field holds "${email}"`);
    const pw = await page.$eval('form#login [name="password"]', (el) => el.value);
    assert(pw === '', 'the password was sent back');
    const html = await page.content();
    assert(!html.includes('not-the-password'), 'the page contains the password typed');
    return `"${alert}"`;
  });
  await pageChecks(page, watch, 'login (refused)');

  const before = new Map((await page.cookies()).map((k) => [k.name, k.value]));
  let first = false;
  await c.check('sign in lands on /user/profile', async () => {
    await fill(page, 'form#login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    watch.reset();
    await submit(page, 'form#login', 'Sign in');
    assert(path(page) === '/user/profile', `at ${page.url()}`);
    first = new URL(page.url()).searchParams.has('first');
    return first ? 'a first sign-in: asked to choose a password' : undefined;
  });
  if (first) {
    await pageChecks(page, watch, 'profile (first sign-in)');
    await go(page, watch, '/user/profile', 'profile');
  } else {
    await pageChecks(page, watch, 'profile');
  }

  await c.check('session cookie: HttpOnly, SameSite=Lax', async () => {
    const fresh = (await page.cookies()).filter((k) => before.get(k.name) !== k.value);
    assert(fresh.length > 0, 'signing in set no cookie');
    const bad = fresh.filter((k) => !k.httpOnly || k.sameSite !== 'Lax');
    assert(bad.length === 0, bad.map((k) => `${k.name}: httpOnly=${k.httpOnly} sameSite=${k.sameSite}`).join(', '));
    return fresh.map((k) => k.name).join(', ');
  });

  await c.check('GET /user/profile (signed in): security headers', async () => {
    const r = await fetchAs(page, '/user/profile');
    assert(r.status === 200, `status ${r.status}`);
    return checkSecurityHeaders(r.headers, '/user/profile');
  });

  await c.check('profile: email, workspaces, password form', async () => {
    const t = await text(page);
    assert(t.includes(ADMIN_EMAIL), 'the email is not shown');
    assert(t.includes(WS), `workspace ${WS} is not shown`);
    for (const f of ['current', 'password', 'confirm']) {
      assert(await page.$(`form#password [name="${f}"]`), `form#password has no field ${f}`);
    }
    const b = await page.$$eval('form#password button', (bs) => bs.map((x) => x.innerText.trim()));
    assert(b.includes('Change password'), `buttons: ${b}`);
  });

  await c.check('nav: Profile, Tokens, per workspace Members/Groups/Audit log, Users, Workspaces, Sign out', async () => {
    const links = await page.$$eval('nav a', (as) => as.map((a) => [a.innerText.trim(), a.getAttribute('href')]));
    const has = (t, h) => links.some(([x, y]) => x === t && y === h);
    const want = [['Profile', '/user/profile'], ['Tokens', '/user/tokens'],
      ['Members', `/w/${WS}/members`], ['Groups', `/w/${WS}/groups`], ['Audit log', `/w/${WS}/audit`],
      ['Users', '/admin/users'], ['Workspaces', '/admin/workspaces']];
    const missing = want.filter(([t, h]) => !has(t, h)).map(([t, h]) => `${t} → ${h}`);
    assert(missing.length === 0, `missing ${missing.join(', ')}; found ${JSON.stringify(links)}`);
    const logout = await page.$eval('form#logout', (f) => [f.getAttribute('method'), f.getAttribute('action'), f.innerText.trim()])
      .catch(() => null);
    assert(logout, 'no form#logout');
    assert(logout[0].toLowerCase() === 'post' && logout[1] === '/user/logout', `form#logout: ${logout}`);
    assert(logout[2].includes('Sign out'), `form#logout button: ${logout[2]}`);
  });
}

// members
async function storyMembers() {
  await c.check('API: the member\'s account is created (name is a <script>)', async () => {
    const r = await api.call('POST', '/api/users/create', {
      token: adminToken,
      body: { email: member.email, password: member.password, super_admin: false, name: member.name },
    });
    assert(r.status === 201, `${r.status} ${r.text}`);
  });

  await go(page, watch, `/w/${WS}/members`, 'members');
  await c.check('members: add a member with the form', async () => {
    await fill(page, 'form#add-member', { email: member.email, username: member.username, role: 'developer' });
    watch.reset();
    await submit(page, 'form#add-member', 'Add member');
    assert(await page.$(`tr[data-username="${member.username}"]`), `no tr[data-username="${member.username}"] (at ${page.url()})`);
    const r = await api.call('GET', `/api/w/${WS}/users/list`, { token: adminToken });
    const m = r.json().find((u) => u.username === member.username);
    assert(m, 'the API does not list the member');
    assert(!m.is_admin && !m.operator, `role: ${JSON.stringify(m)}`);
  });
  await pageChecks(page, watch, 'members (after add)');

  await c.check('members: a refused add says why and keeps what was typed', async () => {
    await fill(page, 'form#add-member', { email: member.email, username: '', role: 'developer' });
    await submit(page, 'form#add-member', 'Add member');
    const alert = await page.$eval('[role="alert"]', (el) => el.innerText.trim()).catch(() => null);
    assert(alert, 'no role="alert" element');
    const email = await page.$eval('form#add-member [name="email"]', (el) => el.value).catch(() => null);
    assert(email === member.email, `email field holds "${email}"`);
    return `"${alert}"`;
  });
}

// the member's first sign-in
async function storyMemberFirstSignIn() {
  const ctxm = await browser.createBrowserContext();
  try {
    const pm = await ctxm.newPage();
    await pm.setBypassCSP(true);
    pm.setDefaultTimeout(15_000);
    const wm = new PageWatch(pm, ORIGIN);
    await c.check('member: a first sign-in asks for a password of their own', async () => {
      await signIn(pm, BASE, member.email, member.password, undefined, { keepFirst: true });
      const u = new URL(pm.url());
      assert(u.pathname === '/user/profile' && u.searchParams.has('first'), `at ${pm.url()}`);
    });
    await c.check('member: the nav shows the workspace, no superadmin links', async () => {
      const hrefs = await pm.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href')));
      assert(hrefs.includes(`/w/${WS}/groups`), `nav: ${hrefs}`);
      assert(!hrefs.includes('/admin/users') && !hrefs.includes('/admin/workspaces'), `nav: ${hrefs}`);
    });
    await c.check('member: a mistyped confirmation is refused, nothing changes', async () => {
      await fill(pm, 'form#password', { current: member.password, password: `new-${member.password}`, confirm: 'something-else-entirely' });
      await submit(pm, 'form#password', 'Change password');
      const alert = await pm.$eval('[role="alert"]', (el) => el.innerText.trim()).catch(() => null);
      assert(alert, 'no role="alert" element');
      const r = await api.call('POST', '/api/auth/login', { body: { email: member.email, password: member.password } });
      assert(r.status === 200, `the old password: ${r.status}`);
      return `"${alert}"`;
    });
    await c.check('member: change the password with the form', async () => {
      const fresh = `new-${member.password}`;
      await pm.goto(`${BASE}/user/profile`, { waitUntil: 'load' });
      await fill(pm, 'form#password', { current: member.password, password: fresh, confirm: fresh });
      wm.reset();
      await submit(pm, 'form#password', 'Change password');
      const r = await api.call('POST', '/api/auth/login', { body: { email: member.email, password: fresh } });
      assert(r.status === 200, `login with the new password: ${r.status} ${r.text}`);
      const old = await api.call('POST', '/api/auth/login', { body: { email: member.email, password: member.password } });
      assert(old.status >= 400, `the old password still works: ${old.status}`);
      member.password = fresh;
      assert(!(await pm.content()).includes(fresh), 'the page holds the new password');
    });
    await pageChecks(pm, wm, 'profile (password changed)');
    await c.check('member: the next sign-in is not a first one', async () => {
      const ctxn = await browser.createBrowserContext();
      try {
        const pn = await ctxn.newPage();
        await signIn(pn, BASE, member.email, member.password, undefined, { keepFirst: true });
        const u = new URL(pn.url());
        assert(u.pathname === '/user/profile' && !u.searchParams.has('first'), `at ${pn.url()}`);
      } finally {
        await ctxn.close();
      }
    });
    await c.check('member: the audit page shows a member their own entries only', async () => {
      const r = await pm.goto(`${BASE}/w/${WS}/audit`, { waitUntil: 'load' });
      assert(r.status() === 200, `status ${r.status()}`);
      const users = await pm.$$eval('table#audit tr[data-id]', (trs) => trs.map((t) => t.innerText));
      assert(users.every((t) => t.includes(member.username)), `rows of others: ${users.filter((t) => !t.includes(member.username)).slice(0, 2)}`);
    });
    await c.check('member: /admin/users is refused', async () => {
      const r = await pm.goto(`${BASE}/admin/users`, { waitUntil: 'load' });
      assert(r.status() >= 400 && r.status() < 500, `status ${r.status()}`);
      assert(!(await pm.$('form#add-user')), 'the add-user form is shown');
    });
    await c.check('member: no dialog opened', async () => assert(wm.dialogs.length === 0, wm.dialogs.join('; ')));
  } finally {
    await ctxm.close();
  }
}

// groups
async function storyGroups() {
  await go(page, watch, `/w/${WS}/groups`, 'groups');
  await c.check('groups: create a group (summary is a <script>)', async () => {
    await fill(page, 'form#new-group', { name: group, summary: XSS });
    watch.reset();
    await submit(page, 'form#new-group', 'Create group');
    const link = await page.$(`a[href="/w/${WS}/groups/${group}"]`);
    assert(link, `no link to /w/${WS}/groups/${group} (at ${page.url()})`);
    assert(await groupExists(adminToken, group), 'the API does not list the group');
  });
  await pageChecks(page, watch, 'groups (after create)');
  await c.check('groups: the <script> summary shows as text', async () => {
    assert((await text(page)).includes(XSS), 'the summary text is not visible');
    const ran = await page.evaluate(() => [...document.scripts].some((s) => s.textContent.includes('alert(1)')));
    assert(!ran, 'a <script> element holds the summary');
  });

  await c.check('groups: the group\'s page opens from its link', async () => {
    watch.reset();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(`a[href="/w/${WS}/groups/${group}"]`)]);
    assert(path(page) === `/w/${WS}/groups/${group}`, `at ${page.url()}`);
  });
  await pageChecks(page, watch, 'group');
  await c.check('group: add the member with the form', async () => {
    await fill(page, 'form#add-group-member', { username: member.username });
    watch.reset();
    await submit(page, 'form#add-group-member', 'Add to group');
    assert(await page.$(`li[data-member="${member.username}"]`), `no li[data-member="${member.username}"]`);
    const r = await api.call('GET', `/api/w/${WS}/groups/get/${group}`, { token: adminToken });
    assert(r.json().members.includes(member.username), `API: ${r.text}`);
  });
  await pageChecks(page, watch, 'group (after add)');
}

// tokens
async function storyTokens() {
  await go(page, watch, '/user/tokens', 'tokens');
  let token;
  await c.check('tokens: create a token, shown once with a Copy button', async () => {
    await fill(page, 'form#new-token', { label: `browser-${SFX}`, expires_in_days: '1' });
    watch.reset();
    await submit(page, 'form#new-token', 'Create token');
    token = await page.$eval('code#new-token-value', (el) => el.innerText.trim()).catch(() => null);
    assert(token, 'no code#new-token-value');
    const copy = await page.$eval('#copy-token', (el) => el.innerText.trim()).catch(() => null);
    assert(copy === 'Copy', `#copy-token: ${copy}`);
    return `${token.slice(0, 10)}…`;
  });
  await pageChecks(page, watch, 'tokens (new token shown)');
  await c.check('tokens: the Copy button copies the token', async () => {
    assert(token, 'no token');
    await ctx.overridePermissions(ORIGIN, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
    await page.click('#copy-token');
    await new Promise((r) => setTimeout(r, 300));
    const copied = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `(${e})`);
    assert(copied.trim() === token, `clipboard holds ${copied.slice(0, 12)}…`);
  });
  await c.check('tokens: the new token works against /api/users/whoami', async () => {
    assert(token, 'no token');
    const r = await api.call('GET', '/api/users/whoami', { token });
    assert(r.status === 200, `${r.status} ${r.text}`);
    assert(r.json().email === ADMIN_EMAIL, r.text);
  });
  await c.check('tokens: listed by prefix, never shown again', async () => {
    assert(token, 'no token');
    await page.goto(`${BASE}/user/tokens`, { waitUntil: 'load' });
    const prefixes = await page.$$eval('table code', (cs) => cs.map((x) => x.innerText.trim()));
    assert(prefixes.some((p) => p.startsWith(token.slice(0, 10))), `prefixes: ${prefixes}`);
    assert(!(await page.$('code#new-token-value')), 'the token is shown again');
    assert(!(await page.content()).includes(token), 'the page holds the whole token');
  });
  let scoped;
  await c.check('tokens: a read-only groups:read token reads groups and cannot create one', async () => {
    await fill(page, 'form#new-token', { label: `scoped-${SFX}`, expires_in_days: '', scope: ['groups:read'], read_only: true });
    await submit(page, 'form#new-token', 'Create token');
    scoped = await page.$eval('code#new-token-value', (el) => el.innerText.trim()).catch(() => null);
    assert(scoped, 'no code#new-token-value');
    const list = await api.call('GET', `/api/w/${WS}/groups/listnames`, { token: scoped });
    assert(list.status === 200, `list: ${list.status} ${list.text}`);
    const create = await api.call('POST', `/api/w/${WS}/groups/create`, { token: scoped, body: { name: `scoped-${SFX}` } });
    assert(create.status >= 400 && create.status < 500, `create: ${create.status} ${create.text}`);
    assert(!(await groupExists(adminToken, `scoped-${SFX}`)), 'the group was created');
    const toks = await api.call('GET', '/api/users/tokens/list', { token: adminToken });
    const t = toks.json().find((x) => x.token_prefix === scoped.slice(0, 10));
    assert(t && t.expiration === null, `expiration: ${JSON.stringify(t)}`);
  });
  await c.check('tokens: Revoke ends the token', async () => {
    assert(token, 'no token');
    const prefix = token.slice(0, 10);
    const rows = await page.$$('table tr');
    let form;
    for (const row of rows) {
      const codes = await row.$$eval('code', (cs) => cs.map((x) => x.innerText.trim()));
      if (codes.some((p) => p.startsWith(prefix))) {
        form = row;
        break;
      }
    }
    assert(form, `no row for ${prefix}`);
    const btns = await form.$$('button');
    let revoke;
    for (const b of btns) if ((await b.evaluate((el) => el.innerText.trim())) === 'Revoke') revoke = b;
    assert(revoke, 'no Revoke button in the row');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), revoke.click()]);
    const codes = await page.$$eval('table code', (cs) => cs.map((x) => x.innerText.trim()));
    assert(!codes.some((p) => p.startsWith(prefix)), 'the row is still there');
    const r = await api.call('GET', '/api/users/whoami', { token });
    assert(r.status === 401, `whoami with the revoked token: ${r.status}`);
  });
}

// audit
async function storyAudit() {
  await go(page, watch, `/w/${WS}/audit`, 'audit');
  let entryId;
  await c.check('audit: filter on the group\'s creation', async () => {
    const r = await api.call('GET', `/api/w/${WS}/audit/list?operation=group.create&resource=${group}`, { token: adminToken });
    const rows = r.json();
    assert(rows.length === 1, `API: ${r.text}`);
    entryId = rows[0].id;
    await fill(page, 'form#audit-filters', { operation: 'group.create', resource: group });
    watch.reset();
    const btn = await page.$('form#audit-filters button, form#audit-filters input[type=submit]');
    assert(btn, 'form#audit-filters has no button');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), btn.click()]);
    const q = new URL(page.url()).searchParams;
    assert(q.get('operation') === 'group.create' && q.get('resource') === group, `at ${page.url()}`);
    const ids = await page.$$eval('table#audit tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
    assert(ids.length === 1 && ids[0] === String(entryId), `rows ${ids}, the API says ${entryId}`);
    const link = await page.$(`table#audit tr[data-id="${entryId}"] a[href="/w/${WS}/audit/${entryId}"]`);
    assert(link, `no link to /w/${WS}/audit/${entryId}`);
  });
  await pageChecks(page, watch, 'audit (filtered)');
  await c.check('audit: the entry\'s page shows operation, username, resource, parameters', async () => {
    assert(entryId !== undefined, 'no entry');
    watch.reset();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(`a[href="/w/${WS}/audit/${entryId}"]`)]);
    assert(path(page) === `/w/${WS}/audit/${entryId}`, `at ${page.url()}`);
    const t = await text(page);
    for (const want of ['group.create', 'admin', group]) assert(t.includes(want), `"${want}" is not shown`);
    assert(/parameters/i.test(t), 'no parameters');
  });
  await pageChecks(page, watch, 'audit entry');
  await c.check('audit: every filter of the form', async () => {
    await page.goto(`${BASE}/w/${WS}/audit`, { waitUntil: 'load' });
    const missing = [];
    for (const f of ['username', 'operation', 'action_kind', 'resource', 'before', 'after']) {
      if (!(await page.$(`form#audit-filters [name="${f}"]`))) missing.push(f);
    }
    assert(missing.length === 0, `missing ${missing}`);
    const m = (await page.$eval('form#audit-filters', (f) => f.getAttribute('method')) || '').toLowerCase();
    assert(m === 'get', `method ${m}`);
  });
}

// superadmin
async function storySuperadmin() {
  await go(page, watch, '/admin/users', 'admin users');
  await c.check('admin users: the member\'s <script> name shows as text', async () => {
    assert((await text(page)).includes(XSS), 'the name is not visible');
    const ran = await page.evaluate(() => [...document.scripts].some((s) => s.textContent.includes('alert(1)')));
    assert(!ran, 'a <script> element holds the name');
  });
  await c.check('admin users: add a user, the generated password is shown once and works', async () => {
    const email = `added-${SFX}@example.com`;
    await fill(page, 'form#add-user', { email, name: 'Added Person', superadmin: false });
    watch.reset();
    await submit(page, 'form#add-user', 'Add user');
    const pw = await page.$eval('code#new-password', (el) => el.innerText.trim()).catch(() => null);
    assert(pw, 'no code#new-password');
    await pageChecks(page, watch, 'admin users (password shown)');
    const r = await api.call('POST', '/api/auth/login', { body: { email, password: pw } });
    assert(r.status === 200, `login with it: ${r.status} ${r.text}`);
    await page.goto(`${BASE}/admin/users`, { waitUntil: 'load' });
    assert(!(await page.content()).includes(pw), 'the password is shown again');
  });
  await go(page, watch, '/admin/workspaces', 'admin workspaces');
  await c.check('admin workspaces: create a workspace', async () => {
    const id = `ws-${SFX}`;
    await fill(page, 'form#new-workspace', { id, name: `Browser ${SFX}` });
    watch.reset();
    await submit(page, 'form#new-workspace', 'Create workspace');
    assert((await text(page)).includes(id), 'the new workspace is not listed');
    const r = await api.call('GET', '/api/workspaces/list_as_superadmin', { token: adminToken });
    assert(r.json().some((w) => w.id === id), `API: ${r.text}`);
  });
  await pageChecks(page, watch, 'admin workspaces (after create)');
}

// CSRF and Origin
/**
 * Forms posted from node with the admin's session cookie: without the csrf field, with a
 * wrong one, from another Origin, with no Origin and a foreign Referer: each refused (4xx)
 * and nothing changes; then the same post done right does change it (the control).
 */
async function storyCsrfAndOrigin() {
  const targets = [
    {
      what: 'a group',
      page: `/w/${WS}/groups`,
      form: 'new-group',
      fields: (tag) => ({ name: `${tag}-${SFX}`, summary: 'x' }),
      made: (tag) => groupExists(adminToken, `${tag}-${SFX}`),
    },
    {
      what: 'a token',
      page: '/user/tokens',
      form: 'new-token',
      fields: (tag) => ({ label: `${tag}-${SFX}`, expires_in_days: '' }),
      made: async (tag) => {
        const r = await api.call('GET', '/api/users/tokens/list', { token: adminToken });
        return r.json().some((t) => t.label === `${tag}-${SFX}`);
      },
    },
  ];
  const attempts = [
    ['no csrf field', (f) => { delete f.csrf; }, { origin: ORIGIN }],
    ['a wrong csrf field', (f) => { f.csrf = 'A'.repeat((f.csrf || '').length || 32); }, { origin: ORIGIN }],
    ['another Origin', () => {}, { origin: EVIL }],
    ['a null Origin', () => {}, { origin: 'null' }],
    ['no Origin, a foreign Referer', () => {}, { referer: `${EVIL}/page` }],
  ];
  for (const t of targets) {
    for (const [how, mangle, headers] of attempts) {
      const tag = `x${attempts.findIndex((x) => x[0] === how)}`;
      await c.check(`${t.what} posted with ${how} is refused (4xx), nothing made`, async () => {
        const g = await fetchAs(page, t.page);
        assert(g.status === 200, `GET ${t.page}: ${g.status}`);
        const { action, fields } = formOf(g.html, t.form, BASE + t.page);
        assert(fields.csrf, `form#${t.form} has no csrf field`);
        mangle(fields);
        const r = await postForm(page, action, { ...fields, ...t.fields(tag) }, headers);
        assert(r.status >= 400 && r.status < 500, `status ${r.status} (location ${r.location})`);
        assert(!/wm_[A-Za-z0-9]{20}/.test(r.html), 'the answer holds a token');
        assert(!(await t.made(tag)), `${t.what} was made`);
        return `${r.status}`;
      });
    }
    await c.check(`control: ${t.what} posted with its csrf field and Origin is made`, async () => {
      const g = await fetchAs(page, t.page);
      const { action, fields } = formOf(g.html, t.form, BASE + t.page);
      const r = await postForm(page, action, { ...fields, ...t.fields('ok') }, { origin: ORIGIN });
      assert(r.status < 400, `status ${r.status}: ${r.html.slice(0, 200)}`);
      assert(await t.made('ok'), `${t.what} was not made`);
      return `${r.status}`;
    });
  }
}

// the CLI consent page
async function storyTheCliConsentPage() {
  for (const bad of ['abc', '0', '70000', '65536', '-1', '', '80@evil.example', '8080/evil', '%2F%2Fevil.example', '1e3']) {
    await c.check(`/user/cli?port=${bad} is refused (4xx)`, async () => {
      const r = await fetchAs(page, `/user/cli?port=${bad}`);
      assert(r.status >= 400 && r.status < 500, `status ${r.status}, location ${r.location}`);
    });
  }
  await c.check('/user/cli without port is refused (4xx)', async () => {
    const r = await fetchAs(page, '/user/cli');
    assert(r.status >= 400 && r.status < 500, `status ${r.status}`);
  });

  const hits = [];
  const listener = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(302, { location: `${BASE}/user/cli-success` });
    res.end();
  });
  await new Promise((r) => listener.listen(0, r));
  const port = listener.address().port;
  try {
    await go(page, watch, `/user/cli?port=${port}`, 'cli consent');
    await c.check('cli consent: names the port, Allow and Deny', async () => {
      assert((await text(page)).includes(String(port)), `port ${port} is not named`);
      const bs = await page.$$eval('form#cli-consent button', (b) => b.map((x) => [x.innerText.trim(), x.name, x.value]));
      assert(bs.some(([t, n, v]) => t === 'Allow' && n === 'decision' && v === 'allow'), JSON.stringify(bs));
      assert(bs.some(([t, n, v]) => t === 'Deny' && n === 'decision' && v === 'deny'), JSON.stringify(bs));
    });
    await c.check('cli consent: Deny sends no token anywhere', async () => {
      watch.reset();
      await submit(page, 'form#cli-consent', 'Deny');
      assert(hits.length === 0, `the listener got ${hits}`);
      assert(page.url().startsWith(ORIGIN), `at ${page.url()}`);
    });
    await c.check('cli consent: Allow sends a working token to http://localhost:<port>/ only', async () => {
      const consent = await fetchAs(page, `/user/cli?port=${port}&redirect=${encodeURIComponent(EVIL)}&host=evil.example&next=${encodeURIComponent(EVIL)}`);
      if (consent.status === 200) {
        const { action, fields } = formOf(consent.html, 'cli-consent', `${BASE}/user/cli?port=${port}`);
        const r = await postForm(page, action, { ...fields, decision: 'allow' }, { origin: ORIGIN });
        assert(r.status === 303, `with extra parameters: status ${r.status}`);
        assert(new RegExp(`^http://localhost:${port}/\\?token=wm_[A-Za-z0-9]+$`).test(r.location), `with extra parameters: location ${r.location}`);
        const leftover = r.location.split('token=')[1];
        await api.call('DELETE', `/api/users/tokens/delete/${leftover}`, { token: adminToken });
      } else {
        assert(consent.status >= 400 && consent.status < 500, `with extra parameters: ${consent.status}`);
      }
      await page.goto(`${BASE}/user/cli?port=${port}`, { waitUntil: 'load' });
      watch.reset();
      await submit(page, 'form#cli-consent', 'Allow');
      assert(hits.length === 1, `the listener got ${JSON.stringify(hits)}`);
      const got = new URL(hits[0], 'http://localhost').searchParams.get('token');
      assert(got, `no token in ${hits[0]}`);
      const r = await api.call('GET', '/api/users/whoami', { token: got });
      assert(r.status === 200 && r.json().email === ADMIN_EMAIL, `whoami: ${r.status} ${r.text}`);
      assert(path(page) === '/user/cli-success', `at ${page.url()}`);
    });
    await pageChecks(page, watch, 'cli success');
    await c.check('cli success: says it worked', async () => {
      const t = (await text(page)).toLowerCase();
      assert(/success|signed in|logged in|you can close|done|worked/.test(t), `text: ${t.slice(0, 200)}`);
    });
  } finally {
    listener.close();
  }
}

async function narrowScreenAndCsp() {
  // A browser that keeps the CSP: nothing the pages need may be blocked by it. At 360 px.
  const ctx2 = await browser.createBrowserContext();
  const p2 = await ctx2.newPage();
  p2.setDefaultTimeout(15_000);
  const w2 = new PageWatch(p2, ORIGIN);
  await p2.setViewport({ width: 360, height: 740, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  await p2.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const problems = [];
  p2.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  await c.check('360 px: sign in', async () => {
    await signIn(p2, BASE, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert(path(p2) === '/user/profile', `at ${p2.url()}`);
  });
  const urls = [`${BASE}/user/login`, ...new Set(visited.values())]
    .filter((u) => !u.includes('/user/cli?'));
  for (const url of new Set(urls)) {
    const label = new URL(url).pathname + new URL(url).search;
    await p2.goto(url, { waitUntil: 'load' });
    await c.check(`360 px: ${label} has no horizontal scroll`, async () => {
      const w = await p2.evaluate(() => document.documentElement.scrollWidth);
      assert(w <= 360, `scrollWidth ${w}`);
    });
    await c.check(`CSP kept: ${label} breaks no rule of its own policy`, async () => {
      const v = await p2.evaluate(() => window.__csp || []);
      assert(v.length === 0 && problems.length === 0, [...v, ...problems].join('; '));
      problems.length = 0;
    });
  }
  await c.check('a csrf field of another session is refused (4xx, no token made)', async () => {
    const other = formOf((await fetchAs(p2, '/user/tokens')).html, 'new-token', `${BASE}/user/tokens`);
    const mine = formOf((await fetchAs(page, '/user/tokens')).html, 'new-token', `${BASE}/user/tokens`);
    assert(other.fields.csrf && mine.fields.csrf, 'no csrf field');
    assert(mine.fields.csrf !== other.fields.csrf, 'two sessions have the same csrf value');
    const label = `crossed-${SFX}`;
    const r = await postForm(page, mine.action, { ...mine.fields, csrf: other.fields.csrf, label, expires_in_days: '' }, { origin: ORIGIN });
    assert(r.status >= 400 && r.status < 500, `status ${r.status}`);
    const toks = (await api.call('GET', '/api/users/tokens/list', { token: adminToken })).json();
    assert(!toks.some((t) => t.label === label), 'the token was made');
  });
  await c.check('360 px browser: no dialog, no request off the origin', async () => {
    assert(w2.dialogs.length === 0 && w2.offOrigin.length === 0, [...w2.dialogs, ...w2.offOrigin].join('; '));
  });
  await ctx2.close();
}

async function loginRedirects() {
  const attempt = async (next) => {
    const ctx3 = await browser.createBrowserContext();
    try {
      const p3 = await ctx3.newPage();
      p3.setDefaultTimeout(15_000);
      const resp = await signIn(p3, BASE, ADMIN_EMAIL, ADMIN_PASSWORD, next);
      return [p3.url(), resp ? resp.status() : 0];
    } finally {
      await ctx3.close();
    }
  };
  for (const next of [`${EVIL}/`, '//evil.example/', '/\\evil.example/', 'javascript:alert(1)']) {
    await c.check(`sign in with next=${next} stays on the server`, async () => {
      const [at, status] = await attempt(next);
      assert(at.startsWith(`${ORIGIN}/`), `at ${at}`);
      assert(status === 200, `${at}: status ${status}`);
    });
  }
  await c.check('sign in with the keyboard alone (Tab, type, Enter)', async () => {
    const ctxk = await browser.createBrowserContext();
    try {
      const pk = await ctxk.newPage();
      await pk.goto(`${BASE}/user/login`, { waitUntil: 'load' });
      const focused = () => pk.evaluate(() => {
        const el = document.activeElement;
        return el ? `${el.tagName.toLowerCase()}:${el.getAttribute('name') || el.innerText || ''}` : '';
      });
      const tabTo = async (want) => {
        const seen = [];
        for (let i = 0; i < 12; i++) {
          await pk.keyboard.press('Tab');
          const f = await focused();
          seen.push(f);
          if (f === want) return;
        }
        throw new Error(`Tab never reached ${want}: ${seen.join(', ')}`);
      };
      await tabTo('input:email');
      await pk.keyboard.type(ADMIN_EMAIL);
      await tabTo('input:password');
      await pk.keyboard.type(ADMIN_PASSWORD);
      const outline = await pk.evaluate(() => {
        const st = getComputedStyle(document.activeElement);
        return `${st.outlineStyle} ${st.outlineWidth} ${st.boxShadow}`;
      });
      assert(!/^none 0px none$/.test(outline), `no visible focus on the password field: ${outline}`);
      await Promise.all([pk.waitForNavigation({ waitUntil: 'load' }), pk.keyboard.press('Enter')]);
      assert(new URL(pk.url()).pathname === '/user/profile', `at ${pk.url()}`);
    } finally {
      await ctxk.close();
    }
  });
  await c.check(`sign in with next=/w/${WS}/groups goes there`, async () => {
    const [at, status] = await attempt(`/w/${WS}/groups`);
    assert(new URL(at).pathname === `/w/${WS}/groups` && status === 200, `at ${at}, status ${status}`);
  });
}

async function signOut() {
  await page.goto(`${BASE}/user/profile`, { waitUntil: 'load' });
  const cookie = await cookieHeader(page);
  await c.check('Sign out, then /user/profile leads to /user/login', async () => {
    await submit(page, 'form#logout', 'Sign out');
    await page.goto(`${BASE}/user/profile`, { waitUntil: 'load' });
    assert(path(page) === '/user/login', `at ${page.url()}`);
  });
  await c.check('the signed-out session cookie no longer works', async () => {
    const r = await fetch(`${BASE}/user/profile`, { redirect: 'manual', headers: { cookie }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    assert(r.status >= 300 && r.status < 400 && (r.headers.get('location') || '').replace(ORIGIN, '').startsWith('/user/login'),
      `status ${r.status}, location ${r.headers.get('location')}`);
  });
}
