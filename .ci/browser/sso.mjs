// Single sign-on in a real browser: headless chromium signs in to our pages through a real
// OpenID provider on loopback (.ci/oidc/provider.mjs: npm oidc-provider and its development
// login form), as a person would: our sign-in page, "Sign in with PROVIDER", the provider's
// login form (and its consent form), back on our pages, signed in.
//
//   WMILL_URL=… WMILL_ADMIN_EMAIL=… WMILL_ADMIN_PASSWORD=… WMILL_SSO_PROVIDER=idp \
//   WMILL_SSO_DOMAIN=example.com node .ci/browser/sso.mjs
//
// The server must run with `--oidc 'PROVIDER=…,allowed_domains=DOMAIN,scopes=openid email
// profile groups,groups_claim=groups'` (crates/wmill-server/tests/oidc.rs starts both). Checks:
// the first sign-in of an email of DOMAIN creates its account (login_type PROVIDER, in the
// workspace `admins` through the provider's group `eng`), a second one reaches the same
// account; an email of another domain and a disabled account are refused with a page that
// says why, and nothing is created; the audit log has both sign-ins and both refusals; axe
// on our pages of the flow.

import {
  Api, Checks, assert, axe, closeBrowser, describeViolations, env, launch,
  loopbackOnly, oneLine, ssoSignIn,
} from './lib.mjs';

const BASE = env('WMILL_URL').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const ADMIN_EMAIL = env('WMILL_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('WMILL_ADMIN_PASSWORD');
const PROVIDER = process.env.WMILL_SSO_PROVIDER || 'idp';
const DOMAIN = process.env.WMILL_SSO_DOMAIN || 'example.com';

const c = new Checks();
const api = new Api(BASE);
const started = Date.now();
const PERSON = `sso-person@${DOMAIN}`;
const STRANGER = 'stranger@other-domain.test';
const DISABLED = `sso-disabled@${DOMAIN}`;

const browser = await launch();
c.watchdog(Number(process.env.WMILL_BROWSER_DEADLINE_SECS || 100) * 1000, () => closeBrowser(browser));

/** A fresh browser profile (no cookies of ours or of the provider), on loopback only. */
async function freshPage() {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  // axe-core is injected as a script of its own, which our pages' CSP would refuse.
  await page.setBypassCSP(true);
  await loopbackOnly(page);
  return { ctx, page };
}

async function sessionToken(page) {
  const cookies = await page.cookies(ORIGIN);
  return cookies.find((k) => k.name === 'token')?.value;
}

async function axeClean(page) {
  const vs = await axe(page);
  assert(vs.length === 0, describeViolations(vs));
}

async function exists(admin, email) {
  const r = await api.call('GET', `/api/users/exists/${encodeURIComponent(email)}`, { token: admin });
  assert(r.status === 200, `exists: ${r.status} ${r.text}`);
  return r.text.trim() === 'true';
}

async function accounts(admin, email) {
  const r = await api.call('GET', '/api/users/list_as_super_admin?per_page=1000', { token: admin });
  assert(r.status === 200, `list_as_super_admin: ${r.status} ${r.text}`);
  return r.json().filter((u) => u.email === email);
}

async function audit(admin, operation) {
  const r = await api.call('GET',
    `/api/w/admins/audit/list?all_workspaces=true&operation=${operation}&per_page=1000`, { token: admin });
  assert(r.status === 200, `audit: ${r.status} ${r.text}`);
  return r.json().filter((e) => e.parameters?.provider === PROVIDER);
}

try {
  let admin;
  await c.check('setup: the provider\'s group eng brings people into the workspace admins', async () => {
    admin = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    let r = await api.call('POST', '/api/groups/create', { token: admin, body: { name: 'eng' } });
    assert(r.status === 200 || r.status === 201, `group: ${r.status} ${r.text}`);
    r = await api.call('POST', '/api/w/admins/workspaces/edit_instance_groups', {
      token: admin, body: { groups: ['eng'], roles: { eng: 'developer' } },
    });
    assert(r.status === 200, `edit_instance_groups: ${r.status} ${r.text}`);
  });

  let firstToken;
  {
    const { ctx, page } = await freshPage();
    await c.check(`the sign-in page offers "Sign in with ${PROVIDER}"; axe`, async () => {
      await page.goto(`${BASE}/user/login?next=${encodeURIComponent('/user/profile')}`, { waitUntil: 'load' });
      const t = await page.evaluate(() => document.body.innerText);
      assert(t.includes(`Sign in with ${PROVIDER}`), 'no single sign-on button');
      await axeClean(page);
    });
    await c.check('first sign-in through the provider creates the account and lands signed in', async () => {
      assert(!(await exists(admin, PERSON)), `${PERSON} exists before the test`);
      const { resp, seen } = await ssoSignIn(page, ORIGIN, PROVIDER, PERSON);
      assert(resp && resp.status() === 200, `status ${resp?.status()} at ${page.url()}`);
      assert(new URL(page.url()).pathname === '/user/profile', `landed at ${page.url()}`);
      const t = await page.evaluate(() => document.body.innerText);
      assert(t.includes(PERSON), `the page does not name ${PERSON}`);
      firstToken = await sessionToken(page);
      assert(firstToken, 'no session cookie');
      const me = await api.call('GET', '/api/users/whoami', { token: firstToken });
      assert(me.status === 200 && me.json().email === PERSON, `whoami: ${me.status} ${me.text}`);
      const made = await accounts(admin, PERSON);
      assert(made.length === 1, `${made.length} accounts`);
      assert(made[0].login_type === PROVIDER, `login_type ${made[0].login_type}`);
      return `through ${seen.join(', ')}`;
    });
    await c.check('the page it lands on: axe', () => axeClean(page));
    await c.check('the groups claim put the account in the workspace admins', async () => {
      const r = await api.call('GET', '/api/w/admins/users/whoami', { token: firstToken });
      assert(r.status === 200, `workspace whoami: ${r.status} ${r.text}`);
    });
    await c.check('signed in, our pages work with the session (HttpOnly, SameSite=Lax)', async () => {
      const resp = await page.goto(`${BASE}/user/tokens`, { waitUntil: 'load' });
      assert(resp.status() === 200, `status ${resp.status()}`);
      assert(new URL(page.url()).pathname === '/user/tokens', `at ${page.url()}`);
      const session = (await page.cookies(ORIGIN)).find((k) => k.name === 'token');
      assert(session && session.httpOnly && session.sameSite === 'Lax' && session.path === '/',
        `the session cookie: ${JSON.stringify({ ...session, value: '…' })}`);
    });
    await ctx.close();
  }

  {
    const { ctx, page } = await freshPage();
    await c.check('a second sign-in (another browser) reaches the same account', async () => {
      await page.goto(`${BASE}/user/login`, { waitUntil: 'load' });
      const { resp } = await ssoSignIn(page, ORIGIN, PROVIDER, PERSON);
      assert(resp && resp.status() === 200, `status ${resp?.status()} at ${page.url()}`);
      const token = await sessionToken(page);
      assert(token && token !== firstToken, 'no new session');
      const me = await api.call('GET', '/api/users/whoami', { token });
      assert(me.status === 200 && me.json().email === PERSON, `whoami: ${me.status} ${me.text}`);
      const all = await accounts(admin, PERSON);
      assert(all.length === 1, `${all.length} accounts for ${PERSON}`);
      const logins = await audit(admin, 'users.login');
      assert(logins.length === 2, `${logins.length} audited sign-ins with ${PROVIDER}`);
    });
    await ctx.close();
  }

  {
    const { ctx, page } = await freshPage();
    await c.check('an email of another domain is refused with a clear page; nothing is created', async () => {
      await page.goto(`${BASE}/user/login`, { waitUntil: 'load' });
      const { resp } = await ssoSignIn(page, ORIGIN, PROVIDER, STRANGER);
      assert(resp && resp.status() === 403, `status ${resp?.status()} at ${page.url()}`);
      const t = await page.evaluate(() => document.body.innerText);
      assert(t.includes('Sign-in refused'), `the page says: ${t.slice(0, 300)}`);
      assert(t.includes('accounts are not created for other-domain.test'), `the page says: ${t.slice(0, 300)}`);
      assert(!(await sessionToken(page)), 'a session cookie was set');
      assert(!(await exists(admin, STRANGER)), 'an account was created');
    });
    await c.check('the refusal page: axe, and a way back to the sign-in page', async () => {
      await axeClean(page);
      const back = await page.$$eval('main a, body a', (as) => as.map((a) => a.getAttribute('href')));
      assert(back.includes('/user/login'), `links: ${back.join(', ')}`);
    });
    await ctx.close();
  }

  {
    const { ctx, page } = await freshPage();
    await c.check('a disabled account is refused with a clear page, and stays as it was', async () => {
      let r = await api.call('POST', '/api/users/create', {
        token: admin, body: { email: DISABLED, password: 'a-password-of-theirs', super_admin: false },
      });
      assert(r.status === 200 || r.status === 201, `create: ${r.status} ${r.text}`);
      r = await api.call('POST', `/api/users/update/${encodeURIComponent(DISABLED)}`, {
        token: admin, body: { disabled: true },
      });
      assert(r.status === 200, `disable: ${r.status} ${r.text}`);
      await page.goto(`${BASE}/user/login`, { waitUntil: 'load' });
      const { resp } = await ssoSignIn(page, ORIGIN, PROVIDER, DISABLED);
      assert(resp && resp.status() === 403, `status ${resp?.status()} at ${page.url()}`);
      const t = await page.evaluate(() => document.body.innerText);
      assert(t.includes(`The account ${DISABLED} is disabled`), `the page says: ${t.slice(0, 300)}`);
      assert(!(await sessionToken(page)), 'a session cookie was set');
      const all = await accounts(admin, DISABLED);
      assert(all.length === 1 && all[0].disabled === true, JSON.stringify(all));
      assert(all[0].login_type !== PROVIDER, `login_type became ${all[0].login_type}`);
    });
    await c.check('the refusals are audited with their reasons, without a token', async () => {
      const failures = await audit(admin, 'users.login_failure');
      const reasons = failures.map((e) => String(e.parameters.reason));
      for (const want of ['not an allowed domain', 'account disabled']) {
        assert(reasons.some((r) => r.includes(want)), `no "${want}" in ${reasons.join('; ')}`);
      }
      const text = JSON.stringify(failures);
      assert(!/wm_[A-Za-z0-9]{8}|eyJ/.test(text), 'a token in the audit log');
      return `${failures.length} refusals`;
    });
    await ctx.close();
  }
} catch (e) {
  c.fail('the single sign-on run stopped', oneLine(e));
} finally {
  await closeBrowser(browser);
}

console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(c.summary() ? 0 : 1);
