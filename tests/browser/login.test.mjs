// Sign in and out of the panel in Debian's Chromium, with and without
// JavaScript (the panel is progressive enhancement only: every flow must
// work with scripts off).
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL and the server and sets:
//   PARLEY_TEST_URL       e.g. http://127.0.0.1:43127
//   PARLEY_TEST_EMAIL     an owner's email
//   PARLEY_TEST_PASSWORD  and password
//   PARLEY_TEST_ORG       the owner's organization (default "My Organization")
// A missing variable, browser or module is a failure, never a skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifacts, env, openBrowser, pathOf, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const ORG = env('PARLEY_TEST_ORG', 'My Organization');

async function signInAndOut(page, label, { js }) {
  // Console errors include CSP violations: a blocked inline script or
  // style is a bug, not noise.
  // Failed subresources are reported through 'response' with their URL;
  // the browser's own /favicon.ico probe is not the page's doing.
  const problems = watchProblems(page);

  // Not signed in: / sends us to the login page.
  await page.goto(`${BASE}/`);
  assert.equal(pathOf(page.url()), '/login', `${label}: / did not redirect to /login`);
  await page.locator('#login-form').waitFor({ state: 'visible' });

  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await Promise.all([
    page.waitForURL((u) => pathOf(u.toString()) === '/', { waitUntil: 'load' }),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);

  const h1 = (await page.locator('h1').first().textContent()) ?? '';
  assert.equal(h1.trim(), 'Dashboard', `${label}: dashboard h1`);
  await page.getByText(ORG).first().waitFor({ state: 'visible' });

  if (js) {
    // The session cookie is HttpOnly: scripts never see it.
    const cookies = await page.evaluate(() => document.cookie);
    assert.ok(!cookies.includes('parley_session'),
      `${label}: parley_session is readable from JavaScript`);
  }
  const session = (await page.context().cookies(BASE))
    .find((c) => c.name === 'parley_session');
  assert.ok(session, `${label}: no parley_session cookie after sign-in`);
  assert.equal(session.httpOnly, true, `${label}: parley_session not HttpOnly`);
  assert.equal(session.sameSite, 'Lax', `${label}: parley_session SameSite`);

  await mkdir(artifacts, { recursive: true });
  await page.screenshot({
    path: path.join(artifacts, `dashboard-${js ? 'js' : 'nojs'}.png`),
    fullPage: true,
  });

  // "Log out" may sit in a closed menu (<details>): open it as a user would.
  const logout = page.getByRole('button', { name: 'Log out' });
  if (!(await logout.isVisible())) {
    await page.locator('details:has(form[action="/logout"]) > summary').first().click();
  }
  await Promise.all([
    page.waitForURL((u) => pathOf(u.toString()) === '/login', { waitUntil: 'load' }),
    logout.click(),
  ]);
  await page.locator('#login-form').waitFor({ state: 'visible' });

  // Signed out for real: / goes back to the login page.
  await page.goto(`${BASE}/`);
  assert.equal(pathOf(page.url()), '/login', `${label}: still signed in after Log out`);

  assert.deepEqual(problems, [], `${label}: errors in the page`);
}

test('sign in and out with JavaScript', async () => {
  const { context, close } = await openBrowser({});
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await signInAndOut(page, 'with JavaScript', { js: true });
  } finally {
    await close();
  }
});

test('sign in and out without JavaScript', async () => {
  const { context, close } = await openBrowser({ javaScriptEnabled: false });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await signInAndOut(page, 'without JavaScript', { js: false });
  } finally {
    await close();
  }
});
