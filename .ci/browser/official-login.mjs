// Windmill's official client (windmill-cli, pinned in .ci/official-client) signs in through
// the browser, end to end: `wmill workspace add` without a token, on a terminal (`script`
// gives it one), chooses "Browser", listens on localhost:$TOKEN_PORT and opens
// <remote>/user/cli?port=$TOKEN_PORT; headless chromium opens that page, signs in and clicks
// Allow; the page sends the browser to http://localhost:$TOKEN_PORT/?token=…, the client
// sends it on to <remote>/user/cli-success and saves the token in its profile file, which
// must then work against /api/users/whoami.
//
//   WMILL_URL=… WMILL_ADMIN_EMAIL=… WMILL_ADMIN_PASSWORD=… node .ci/browser/official-login.mjs
//
// Optional: WMILL_OFFICIAL_CLIENT (default .ci/official-client/node_modules/.bin/wmill),
// WMILL_WORKSPACE (default admins). The client runs with a HOME of its own and BROWSER=true;
// `xdg-open` (what it uses to open a browser on Linux) is replaced on its PATH by a script
// that only writes the URL down, so no real browser is ever started.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Api, Checks, assert, axe, closeBrowser, describeViolations, env, fill, launch, oneLine, skipFirstSignIn,
  submit,
} from './lib.mjs';

const BASE = env('WMILL_URL').replace(/\/$/, '');
const ORIGIN = new URL(BASE).origin;
const ADMIN_EMAIL = env('WMILL_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('WMILL_ADMIN_PASSWORD');
const WS = process.env.WMILL_WORKSPACE || 'admins';
const here = nodePath.dirname(fileURLToPath(import.meta.url));
const CLIENT = process.env.WMILL_OFFICIAL_CLIENT
  || nodePath.join(here, '..', 'official-client', 'node_modules', '.bin', 'wmill');
const PROFILE = 'browser-login';

const c = new Checks();
const api = new Api(BASE);
const started = Date.now();

if (!fs.existsSync(CLIENT)) {
  console.log(`FAIL the official client is not installed at ${CLIENT} (npm ci in .ci/official-client)`);
  process.exit(1);
}

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'wmill-official-login-'));
const home = nodePath.join(dir, 'home');
const cwd = nodePath.join(dir, 'cwd');
const bin = nodePath.join(dir, 'bin');
const opened = nodePath.join(dir, 'opened-url');
for (const d of [home, cwd, bin]) fs.mkdirSync(d, { recursive: true });
fs.writeFileSync(nodePath.join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`, { mode: 0o755 });

const port = await freePort();
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const command = [CLIENT, 'workspace', 'add', PROFILE, WS, `${BASE}/`].map(shq).join(' ');
const childEnv = { ...process.env };
for (const k of ['WMILL_CONFIG_DIR', 'XDG_CONFIG_HOME', 'XDG_RUNTIME_DIR', 'DISPLAY', 'WAYLAND_DISPLAY']) delete childEnv[k];
Object.assign(childEnv, {
  HOME: home,
  BROWSER: 'true',
  TOKEN_PORT: String(port),
  PATH: `${bin}:${process.env.PATH}`,
  TERM: 'xterm',
  NO_COLOR: '1',
  COLUMNS: '120',
  LINES: '40',
});

// `script` runs the client on a pseudo-terminal: its stdin and stdout are a TTY, as they must
// be for the client to offer the browser login at all.
const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
let out = '';
let exited = null;
child.stdout.on('data', (d) => { out += d.toString(); });
child.stderr.on('data', (d) => { out += d.toString(); });
const exit = new Promise((r) => child.on('exit', (code, signal) => { exited = { code, signal }; r(exited); }));
const plain = () => out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

const browser = await launch();
c.watchdog(Number(process.env.WMILL_BROWSER_DEADLINE_SECS || 130) * 1000, async () => {
  child.kill('SIGKILL');
  await closeBrowser(browser);
});
try {
  await c.check('the client asks how to log in, on its terminal', async () => {
    await waitFor(() => /How do you want to login/i.test(plain()), 30_000, 'the login prompt');
    return 'Browser is its first choice';
  });
  child.stdin.write('\r'); // Browser

  let url;
  await c.check('the client opens <remote>/user/cli?port=$TOKEN_PORT and listens there', async () => {
    await waitFor(() => /Listening on port \d+/.test(plain()), 30_000, '"Listening on port"');
    const m = plain().match(/Login by going to (\S+)/);
    assert(m, 'no "Login by going to" line');
    url = m[1];
    assert(url === `${BASE}/user/cli?port=${port}`, `it opened ${url}, expected port ${port} (TOKEN_PORT)`);
    await waitFor(() => fs.existsSync(opened), 5_000, 'xdg-open to be called');
    const o = fs.readFileSync(opened, 'utf8').trim();
    assert(o === url, `xdg-open got ${o}`);
    return url;
  });

  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.setBypassCSP(true);
  page.setDefaultTimeout(15_000);
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  await c.check('the browser, signed out, is sent to sign in first', async () => {
    assert(url, 'no URL');
    await page.goto(url, { waitUntil: 'load' });
    assert(new URL(page.url()).pathname === '/user/login', `at ${page.url()}`);
  });
  await c.check('after sign-in the browser is back on the consent page, which names the port', async () => {
    await fill(page, 'form#login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    await submit(page, 'form#login', 'Sign in');
    await skipFirstSignIn(page);
    if (new URL(page.url()).pathname !== '/user/cli') {
      // A login page that ignores `next` would be a bug; report it, then go on.
      const at = page.url();
      await page.goto(url, { waitUntil: 'load' });
      throw new Error(`sign-in landed at ${at}, not back on ${url}`);
    }
    const t = await page.evaluate(() => document.body.innerText);
    assert(t.includes(String(port)), `port ${port} is not named`);
  });
  await c.check('consent page: axe, no serious or critical violation', async () => {
    const vs = await axe(page);
    assert(vs.length === 0, describeViolations(vs));
  });
  await c.check('Allow: the browser goes through the client to /user/cli-success', async () => {
    await submit(page, 'form#cli-consent', 'Allow');
    // localhost:<port> answers 302 to <remote>/user/cli-success.
    await waitFor(() => page.url().startsWith(`${ORIGIN}/user/cli-success`), 10_000, '/user/cli-success');
    await page.waitForFunction(() => document.readyState === 'complete');
    const t = await page.evaluate(() => document.body.innerText);
    assert(t.trim().length > 0, 'an empty page');
  });
  await c.check('the client exits 0 and says the workspace was added', async () => {
    const r = await Promise.race([exit, sleep(30_000).then(() => null)]);
    assert(r, 'the client is still running after 30 s');
    assert(r.code === 0, `exit ${JSON.stringify(r)}`);
    assert(/Added workspace/.test(plain()), 'no "Added workspace" line');
  });
  await c.check('the client\'s profile ends with a working token', async () => {
    const file = nodePath.join(home, '.config', 'windmill', 'remotes.ndjson');
    assert(fs.existsSync(file), `no ${file}`);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    const last = JSON.parse(lines[lines.length - 1]);
    assert(last.name === PROFILE && last.workspaceId === WS, JSON.stringify({ ...last, token: '…' }));
    assert(last.remote === `${BASE}/`, `remote ${last.remote}`);
    assert(/^wm_/.test(last.token || ''), 'no token in the profile');
    const r = await api.call('GET', '/api/users/whoami', { token: last.token });
    assert(r.status === 200, `whoami: ${r.status} ${r.text}`);
    assert(r.json().email === ADMIN_EMAIL, r.text);
    const w = await api.call('GET', `/api/w/${WS}/users/whoami`, { token: last.token });
    assert(w.status === 200, `workspace whoami: ${w.status} ${w.text}`);
    return `${last.token.slice(0, 10)}…`;
  });
  await c.check('no dialog opened', async () => assert(dialogs.length === 0, dialogs.join('; ')));
  await ctx.close();
} catch (e) {
  c.fail('the official login stopped', oneLine(e));
} finally {
  await closeBrowser(browser);
  if (exited === null) child.kill('SIGKILL');
}

if (c.failed) {
  console.log('--- the client\'s terminal ---');
  console.log(plain().split('\n').map((l) => `| ${l}`).join('\n'));
}
fs.rmSync(dir, { recursive: true, force: true });
console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
process.exit(c.summary() ? 0 : 1);

// ---------------------------------------------------------------------------------------

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

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
