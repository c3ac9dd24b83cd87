// The sandbox shows where the chat stands (issue 12), in Debian's Chromium:
// the seeded agent "Assistant" runs on the built-in offline model, which
// hands a question it has no answer for to a person. The page then says
// the chat needs a person — no "Assistant is answering…" that cannot end —
// and offers Return to AI and Reset; Return to AI gives the chat back,
// Reset starts afresh, and a typed /reset is answered again.
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL and the server and sets PARLEY_TEST_URL, PARLEY_TEST_EMAIL
// and PARLEY_TEST_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, openBrowser, pathOf, go, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const WAIT_MS = 20_000;
// A chat of its own, apart from sandbox.test.mjs's.
const SENDER = '+15550009911';
const UNKNOWN = 'Qwxz blorft zyzzyva frobnicate?';

async function signIn(page) {
  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');
}

async function openSandbox(page) {
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Agents' }));
  await go(page, page.getByRole('link', { name: 'Assistant', exact: true }));
  await go(page, page.getByRole('link', { name: 'Open the sandbox chat' }));
  assert.match(pathOf(page.url()), /^\/agents\/\d+\/sandbox$/, 'not on the sandbox page');
}

async function send(page, text) {
  if (!(await page.locator('details.sandbox-as').evaluate((d) => d.open)))
    await page.locator('details.sandbox-as summary').click();
  await page.fill('#sender', SENDER);
  await page.fill('#message', text);
  await go(page, page.locator('#sandbox-form button[type="submit"]'));
}

const state = (page) => page.locator('#sandbox-state');

test('sandbox: needs a person, Return to AI, Reset', async () => {
  const { context, close } = await openBrowser({});
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const problems = watchProblems(page);
    await signIn(page);
    await openSandbox(page);
    await send(page, UNKNOWN);

    // Handed to a person: the page says so, by polling, and the
    // "answering" line is gone.
    await page.locator('#sandbox-state[data-state="needs_human"]')
      .waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.match(await state(page).textContent(), /\S/, 'the state says nothing');
    assert.equal(await page.locator('#sandbox-pending').isVisible(), false,
      'still "answering" after the handoff');
    await page.locator('#sandbox-return').waitFor({ state: 'visible', timeout: WAIT_MS });

    // Return to AI: the chat is the agent's again.
    await go(page, page.locator('#sandbox-return button'));
    assert.match(pathOf(page.url()), /\/sandbox$/);
    assert.notEqual(await state(page).getAttribute('data-state'), 'needs_human');
    assert.equal(await page.locator('#sandbox-return').isVisible(), false,
      'Return to AI offered for a chat the agent has');

    // Reset: a fresh start, and a typed /reset is answered.
    await go(page, page.locator('#sandbox-reset button'));
    assert.match(pathOf(page.url()), /\/sandbox$/);
    await send(page, '/reset');
    await page.locator('#sandbox-chat .bubble.agent', { hasText: /Session reset/ })
      .last().waitFor({ timeout: WAIT_MS });
    assert.deepEqual(problems, [], 'errors in the page');
  } finally {
    await close();
  }
});
