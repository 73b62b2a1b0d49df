// Screenshots of each main page, at 1280×800 and 360 px wide, for docs/screenshots/.
// Run by .ci/screenshots, which starts a server on a fresh data folder; this seeds a little
// data through the API (members, groups, tokens, and so audit entries), signs in as the
// superadmin and writes <page>-desktop.png and <page>-360.png for each page. Viewport
// screenshots only (the top of a long page), to keep the files small.
//
//   WMILL_URL=… WMILL_ADMIN_EMAIL=… WMILL_ADMIN_PASSWORD=… \
//   node .ci/browser/screenshots.mjs [output folder, default docs/screenshots]

import fs from 'node:fs';
import nodePath from 'node:path';
import { Api, assert, closeBrowser, env, fill, launch, signIn } from './lib.mjs';

const BASE = env('WMILL_URL').replace(/\/$/, '');
const ADMIN_EMAIL = env('WMILL_ADMIN_EMAIL');
const ADMIN_PASSWORD = env('WMILL_ADMIN_PASSWORD');
const WS = 'admins';
const OUT = process.argv[2] || 'docs/screenshots';
const VIEWPORTS = [
  ['desktop', { width: 1280, height: 800, deviceScaleFactor: 1 }],
  ['360', { width: 360, height: 740, deviceScaleFactor: 1, isMobile: true, hasTouch: true }],
];

const api = new Api(BASE);
const admin = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD);

async function must(method, path, body, ok = [200, 201]) {
  const r = await api.call(method, path, { token: admin, body });
  assert(ok.includes(r.status), `${method} ${path}: ${r.status} ${r.text}`);
  return r;
}

// --- seed ---------------------------------------------------------------------------------
const people = [
  ['alice@example.com', 'Alice Martin', 'alice', { is_admin: true, operator: false }],
  ['bob@example.com', 'Bob Nguyen', 'bob', { is_admin: false, operator: false }],
  ['carol@example.com', 'Carol Dubois', 'carol', { is_admin: false, operator: false }],
  ['dan@example.com', 'Dan Okafor', 'dan', { is_admin: false, operator: true }],
];
for (const [email, name, username, role] of people) {
  await must('POST', '/api/users/create', { email, password: `seed-${username}-password`, super_admin: false, name });
  await must('POST', `/api/w/${WS}/workspaces/add_user`, { email, username, ...role });
}
const groups = [
  ['data-team', 'Data engineering: pipelines and the warehouse', ['alice', 'bob']],
  ['ops', 'On-call and deployments', ['carol', 'dan']],
  ['reviewers', 'Approve flows before they reach production', ['alice', 'carol']],
];
for (const [name, summary, members] of groups) {
  await must('POST', `/api/w/${WS}/groups/create`, { name, summary });
  for (const username of members) await must('POST', `/api/w/${WS}/groups/adduser/${name}`, { username });
}
await must('POST', '/api/workspaces/create', { id: 'analytics', name: 'Analytics' });
const inMonth = new Date(Date.now() + 30 * 86400e3).toISOString();
await must('POST', '/api/users/tokens/create', { label: 'ci', expiration: inMonth });
await must('POST', '/api/users/tokens/create', { label: 'deploy', workspace_id: WS });
await must('POST', '/api/users/tokens/create', { label: 'laptop' });
const entry = (await must('GET', `/api/w/${WS}/audit/list?operation=group.create&resource=data-team`)).json()[0];

// --- pages --------------------------------------------------------------------------------
const pages = [
  ['profile', '/user/profile'],
  ['tokens', '/user/tokens'],
  ['members', `/w/${WS}/members`],
  ['groups', `/w/${WS}/groups`],
  ['group', `/w/${WS}/groups/data-team`],
  ['audit', `/w/${WS}/audit`],
  ['audit-entry', `/w/${WS}/audit/${entry.id}`],
  ['admin-users', '/admin/users'],
  ['admin-workspaces', '/admin/workspaces'],
  ['cli-consent', '/user/cli?port=8765'],
  ['cli-success', '/user/cli-success'],
];

fs.mkdirSync(OUT, { recursive: true });
const written = [];
const problems = [];
const browser = await launch();
try {
  for (const [tag, viewport] of VIEWPORTS) {
    const ctx = await browser.createBrowserContext();
    const page = await ctx.newPage();
    await page.setViewport(viewport);
    page.setDefaultTimeout(15_000);
    const shot = async (name) => {
      const file = nodePath.join(OUT, `${name}-${tag}.png`);
      await page.screenshot({ path: file, fullPage: false });
      written.push(file);
    };

    await page.goto(`${BASE}/user/login`, { waitUntil: 'load' });
    await shot('login');
    await signIn(page, BASE, ADMIN_EMAIL, ADMIN_PASSWORD);
    for (const [name, path] of pages) {
      const r = await page.goto(BASE + path, { waitUntil: 'load' });
      if (!r || r.status() !== 200) {
        problems.push(`${path}: ${r ? r.status() : 'no answer'}`);
        continue;
      }
      await shot(name);
    }
    // A new token, shown once.
    await page.goto(`${BASE}/user/tokens`, { waitUntil: 'load' });
    try {
      await fill(page, 'form#new-token', { label: `screenshot ${tag}`, expires_in_days: '7' });
      // The form's own submit (not a click): a picture, not a test of the button.
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.$eval('form#new-token', (f) => f.requestSubmit()),
      ]);
      await page.$eval('code#new-token-value', (el) => el.scrollIntoView({ block: 'center' }));
      await shot('token-created');
    } catch (e) {
      problems.push(`token-created: ${e.message}`);
    }
    await ctx.close();
  }
} finally {
  await closeBrowser(browser);
}

for (const f of written) console.log(`${f} ${fs.statSync(f).size} B`);
if (problems.length) {
  console.log(`not taken: ${[...new Set(problems)].join('; ')}`);
  process.exit(1);
}
