// A command-line client's browser login through single sign-on, end to end: the client runs
// `workspace add` without a token on a terminal (`script` gives it one) with TOKEN_PORT
// fixed; it listens on localhost:$TOKEN_PORT and opens <remote>/user/cli?port=$TOKEN_PORT;
// headless chromium opens that page, is sent to our sign-in page, signs in with the
// provider (.ci/oidc/provider.mjs: its development login form) as a person who has no
// account yet, comes back to /user/cli and clicks Allow; the client's profile must then hold
// a token that works as that person.
//
//   WMILL_URL=… WMILL_ADMIN_EMAIL=… WMILL_ADMIN_PASSWORD=… WMILL_SSO_PROVIDER=idp \
//   WMILL_SSO_DOMAIN=example.com WMILL_SSO_CLIENT=official|wmill WMILL_CLI=<its binary> \
//   node .ci/browser/sso-cli.mjs
//
// `official` is Windmill's client (windmill-cli, .ci/official-client): it asks how to log in
// (Browser is its first choice) and opens the page with `xdg-open`, replaced on its PATH by a
// script that only writes the URL down. `wmill` is ours: it goes to the browser at once and
// opens the page with $BROWSER, a script that only writes the URL down. No real browser is
// started by either; the client runs with a HOME of its own.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import nodePath from 'node:path';
import {
  Api, Checks, assert, axe, closeBrowser, describeViolations, env, launch, loopbackOnly, oneLine,
  sleep, ssoSignIn, submit,
} from './lib.mjs';

const BASE = env('WMILL_URL').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const ADMIN_EMAIL = env('WMILL_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('WMILL_ADMIN_PASSWORD');
const PROVIDER = process.env.WMILL_SSO_PROVIDER || 'idp';
const DOMAIN = process.env.WMILL_SSO_DOMAIN || 'example.com';
const KIND = env('WMILL_SSO_CLIENT');
const CLIENT = env('WMILL_CLI');
const WS = 'admins';
const PROFILE = 'sso-login';
const PERSON = `${KIND}-cli-person@${DOMAIN}`;

if (KIND !== 'official' && KIND !== 'wmill') {
  console.error(`error: WMILL_SSO_CLIENT must be official or wmill, not ${KIND}`);
  process.exit(2);
}
if (!fs.existsSync(CLIENT)) {
  console.log(`FAIL the client is not at ${CLIENT}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const c = new Checks();
const api = new Api(BASE);
const started = Date.now();

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'wmill-sso-cli-'));
const home = nodePath.join(dir, 'home');
const cwd = nodePath.join(dir, 'cwd');
const bin = nodePath.join(dir, 'bin');
const opened = nodePath.join(dir, 'opened-url');
for (const d of [home, cwd, bin]) fs.mkdirSync(d, { recursive: true });
const recorder = nodePath.join(bin, 'record-url');
fs.writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`, { mode: 0o755 });
fs.copyFileSync(recorder, nodePath.join(bin, 'xdg-open'));
fs.chmodSync(nodePath.join(bin, 'xdg-open'), 0o755);

const port = await freePort();
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const command = [CLIENT, 'workspace', 'add', PROFILE, WS, `${BASE}/`].map(shq).join(' ');
const childEnv = { ...process.env };
for (const k of ['WMILL_CONFIG_DIR', 'XDG_CONFIG_HOME', 'XDG_RUNTIME_DIR', 'DISPLAY', 'WAYLAND_DISPLAY',
  'WMILL_TOKEN', 'WMILL_BASE_URL', 'WMILL_WORKSPACE', 'WMILL_PROFILE']) delete childEnv[k];
Object.assign(childEnv, {
  HOME: home,
  // Windmill's client only needs a BROWSER that exists; ours runs it with the URL.
  BROWSER: KIND === 'wmill' ? recorder : 'true',
  TOKEN_PORT: String(port),
  PATH: `${bin}:${process.env.PATH}`,
  TERM: 'xterm',
  NO_COLOR: '1',
  COLUMNS: '120',
  LINES: '40',
});

let child;
let out = '';
let exited = null;
let exit;
const plain = () => out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

const browser = await launch();
c.watchdog(Number(process.env.WMILL_BROWSER_DEADLINE_SECS || 100) * 1000, async () => {
  child?.kill('SIGKILL');
  await closeBrowser(browser);
});
try {
  await c.check('setup: the provider\'s group eng brings people into the workspace admins', async () => {
    const admin = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    let r = await api.call('POST', '/api/groups/create', { token: admin, body: { name: 'eng' } });
    assert(r.status === 200 || r.status === 201, `group: ${r.status} ${r.text}`);
    r = await api.call('POST', '/api/w/admins/workspaces/edit_instance_groups', {
      token: admin, body: { groups: ['eng'], roles: { eng: 'developer' } },
    });
    assert(r.status === 200, `edit_instance_groups: ${r.status} ${r.text}`);
    r = await api.call('GET', `/api/users/exists/${encodeURIComponent(PERSON)}`, { token: admin });
    assert(r.status === 200 && r.text.trim() === 'false', `${PERSON} exists already: ${r.text}`);
  });

  // `script` runs the client on a pseudo-terminal: its stdin and stdout are a TTY, as they
  // must be for a client to offer the browser login at all.
  child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { out += d.toString(); });
  child.stderr.on('data', (d) => { out += d.toString(); });
  exit = new Promise((r) => child.on('exit', (code, signal) => { exited = { code, signal }; r(exited); }));

  if (KIND === 'official') {
    await c.check('the client asks how to log in, on its terminal', async () => {
      await waitFor(() => /How do you want to login/i.test(plain()), 30_000, 'the login prompt');
    });
    child.stdin.write('\r'); // Browser
  }

  let url;
  await c.check('the client opens <remote>/user/cli?port=$TOKEN_PORT', async () => {
    const printed = KIND === 'official' ? /Login by going to (\S+)/ : /in your browser: (\S+)/;
    await waitFor(() => printed.test(plain()), 30_000, 'the address on the terminal');
    url = plain().match(printed)[1];
    assert(url === `${BASE}/user/cli?port=${port}`, `it printed ${url}, expected port ${port} (TOKEN_PORT)`);
    await waitFor(() => fs.existsSync(opened), 10_000, 'the browser to be started');
    const o = fs.readFileSync(opened, 'utf8').trim();
    assert(o === url, `the browser was given ${o}`);
    return url;
  });

  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  await page.setBypassCSP(true);
  await loopbackOnly(page);
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  await c.check('the browser, signed out, is sent to our sign-in page, which offers the provider', async () => {
    assert(url, 'no URL');
    await page.goto(url, { waitUntil: 'load' });
    assert(new URL(page.url()).pathname === '/user/login', `at ${page.url()}`);
    const t = await page.evaluate(() => document.body.innerText);
    assert(t.includes(`Sign in with ${PROVIDER}`), 'no single sign-on button');
  });
  await c.check('signed in with the provider, the browser is back on the consent page', async () => {
    const { resp, seen } = await ssoSignIn(page, ORIGIN, PROVIDER, PERSON);
    assert(resp && resp.status() === 200, `status ${resp?.status()} at ${page.url()}`);
    assert(page.url() === url, `landed at ${page.url()}, not back on ${url}`);
    const t = await page.evaluate(() => document.body.innerText);
    assert(t.includes(String(port)), `port ${port} is not named`);
    assert(t.includes(PERSON), `${PERSON} is not named`);
    return `through ${seen.join(', ')}`;
  });
  await c.check('consent page: axe, no serious or critical violation', async () => {
    const vs = await axe(page);
    assert(vs.length === 0, describeViolations(vs));
  });
  await c.check('Allow: the browser goes through the client to /user/cli-success', async () => {
    await submit(page, 'form#cli-consent', 'Allow');
    await waitFor(() => page.url().startsWith(`${ORIGIN}/user/cli-success`), 10_000, '/user/cli-success');
    await page.waitForFunction(() => document.readyState === 'complete');
  });
  await c.check('the client exits 0 and says the workspace was added', async () => {
    const r = await Promise.race([exit, sleep(30_000).then(() => null)]);
    assert(r, 'the client is still running after 30 s');
    assert(r.code === 0, `exit ${JSON.stringify(r)}`);
    const said = KIND === 'official' ? /Added workspace/ : new RegExp(`Added profile ${PROFILE}\\b.*as ${PERSON.replace(/\./g, '\\.')}`);
    assert(said.test(plain()), `no ${said} line`);
  });
  await c.check('the client\'s profile holds a working token of the single sign-on account', async () => {
    const file = nodePath.join(home, '.config', 'windmill', 'remotes.ndjson');
    assert(fs.existsSync(file), `no ${file}`);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    const last = JSON.parse(lines[lines.length - 1]);
    assert(last.name === PROFILE && last.workspaceId === WS, JSON.stringify({ ...last, token: '…' }));
    assert(last.remote === `${BASE}/`, `remote ${last.remote}`);
    assert(/^wm_/.test(last.token || ''), 'no token in the profile');
    const r = await api.call('GET', '/api/users/whoami', { token: last.token });
    assert(r.status === 200, `whoami: ${r.status} ${r.text}`);
    assert(r.json().email === PERSON, r.text);
    const w = await api.call('GET', `/api/w/${WS}/users/whoami`, { token: last.token });
    assert(w.status === 200, `workspace whoami: ${w.status} ${w.text}`);
    return `${last.token.slice(0, 10)}…`;
  });
  await c.check('no dialog opened', async () => assert(dialogs.length === 0, dialogs.join('; ')));
  await ctx.close();
} catch (e) {
  c.fail('the single sign-on login of the client stopped', oneLine(e));
} finally {
  await closeBrowser(browser);
  if (child && exited === null) child.kill('SIGKILL');
}

if (c.failed) {
  console.log('--- the client\'s terminal ---');
  console.log(plain().split('\n').map((l) => `| ${l}`).join('\n'));
}
fs.rmSync(dir, { recursive: true, force: true });
console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(c.summary() ? 0 : 1);

// ---------------------------------------------------------------------------------------

async function waitFor(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (exited) throw new Error(`the client exited (${JSON.stringify(exited)}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms / 1000} s`);
    await sleep(50);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => resolve(p));
    });
  });
}
