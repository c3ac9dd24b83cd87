// The sandbox chat in Debian's Chromium: open the seeded agent
// "Assistant" (on the built-in offline model), follow "Open the sandbox
// chat", ask "How do I connect a model provider?" and see the answer from
// its knowledge base. With JavaScript on, the answer is appended by
// static/sandbox.js's polling (a message sent from another tab shows up
// without reloading); with JavaScript off, the form posts and "Refresh"
// reloads until the answer is there. Saves a screenshot
// (tests/browser/artifacts/sandbox.png).
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL and the server and sets PARLEY_TEST_URL, PARLEY_TEST_EMAIL
// and PARLEY_TEST_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifacts, env, openBrowser, pathOf, go, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const QUESTION = 'How do I connect a model provider?';
// From the seeded knowledge entry "Connecting a model provider".
const ANSWER = /provider/i;
const WAIT_MS = 20_000;

async function signIn(page) {
  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');
}

// Agents → Assistant → Open the sandbox chat.
async function openSandbox(page) {
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Agents' }));
  await go(page, page.getByRole('link', { name: 'Assistant', exact: true }));
  assert.match(pathOf(page.url()), /^\/agents\/\d+$/, 'not on the agent page');
  await go(page, page.getByRole('link', { name: 'Open the sandbox chat' }));
  assert.match(pathOf(page.url()), /^\/agents\/\d+\/sandbox$/, 'not on the sandbox page');
}

const agentBubbles = (page) => page.locator('#sandbox-chat .bubble.agent');

async function send(page, text) {
  await page.fill('#message', text);
  await go(page, page.locator('#sandbox-form button[type="submit"]'));
  assert.match(pathOf(page.url()), /\/sandbox$/, 'the form did not come back to the chat');
}

test('sandbox chat with JavaScript: the answer is appended by polling', async () => {
  const { context, close } = await openBrowser({});
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const problems = watchProblems(page);
    await signIn(page);
    await openSandbox(page);
    const before = await agentBubbles(page).count();
    await send(page, QUESTION);
    await page.locator('#sandbox-chat .bubble.user', { hasText: QUESTION }).last().waitFor();
    await agentBubbles(page).nth(before).waitFor({ timeout: WAIT_MS });
    const answer = await agentBubbles(page).nth(before).locator('p').first().textContent();
    assert.match(answer, ANSWER, `unexpected answer: ${answer}`);

    // A message sent from another tab reaches this one without a reload:
    // only polling can bring it.
    const url = page.url();
    const navigations = [];
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
    const count = await agentBubbles(page).count();
    const other = await context.newPage();
    await other.goto(url);
    await send(other, QUESTION);
    await other.close();
    await page.locator('#sandbox-chat .bubble.user', { hasText: QUESTION }).nth(1)
      .waitFor({ timeout: WAIT_MS });
    await agentBubbles(page).nth(count).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(navigations, [], 'the page reloaded instead of polling');
    assert.match(await agentBubbles(page).nth(count).textContent(), ANSWER);

    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'sandbox.png'), fullPage: true });
    assert.deepEqual(problems, [], 'errors in the page');
  } finally {
    await close();
  }
});

test('sandbox chat without JavaScript: the form posts and Refresh shows the answer', async () => {
  const { context, close } = await openBrowser({ javaScriptEnabled: false });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const problems = watchProblems(page);
    await signIn(page);
    await openSandbox(page);
    const before = await agentBubbles(page).count();
    await send(page, QUESTION);
    await page.locator('#sandbox-chat .bubble.user', { hasText: QUESTION }).last().waitFor();
    const deadline = Date.now() + WAIT_MS;
    while (await agentBubbles(page).count() <= before) {
      assert.ok(Date.now() < deadline, 'no answer after refreshing for 20 s');
      await page.waitForTimeout(300);
      await go(page, page.getByRole('link', { name: 'Refresh' }));
    }
    const answer = await agentBubbles(page).nth(before).textContent();
    assert.match(answer, ANSWER, `unexpected answer: ${answer}`);
    assert.deepEqual(problems, [], 'errors in the page');
  } finally {
    await close();
  }
});
