// Connect codes in Debian's Chromium: open the seeded agent "Assistant",
// follow "Integrations", generate a code for a Twilio channel (made here
// through the Channels form, with a number of this run) and see the code,
// the exact wa.me deep link and the QR code (inline <svg>, no script);
// generate one for the Sandbox channel and see the text to send; open the
// sandbox chat, send "connect <CODE>" and see "Connected to 'Assistant'.
// Send a message to start."; back on Integrations see the chat linked
// with that code, Unlink it and see it gone. Saves a screenshot of the
// Integrations page (tests/browser/artifacts/connect.png).
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL and the server and sets PARLEY_TEST_URL, PARLEY_TEST_EMAIL
// and PARLEY_TEST_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { artifacts, env, openBrowser, pathOf, go, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const WAIT_MS = 20_000;
const CODE = /^PRL-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}$/;
const CONNECTED = "Connected to 'Assistant'. Send a message to start.";
// A number of this run: numbers are unique across organisations.
const DIGITS = `1555${String(randomInt(0, 10_000_000)).padStart(7, '0')}`;

async function signIn(page) {
  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');
}

// Channels → New → Twilio: a channel with DIGITS as its number.
async function addTwilioChannel(page) {
  await page.goto(`${BASE}/channels/new?kind=twilio`);
  await page.fill('#name', `Connect line ${DIGITS}`);
  await page.fill('#phone_number', `+${DIGITS}`);
  await page.fill('#twilio_account_sid', 'AC0123456789abcdef0123456789abcdef');
  await page.fill('#twilio_auth_token', '0123456789abcdef0123456789abcdef');
  await go(page, page.locator('#channel-form button[type="submit"]'));
  assert.match(pathOf(page.url()), /^\/channels\/\d+$/, 'the channel was not created');
}

// Agents → Assistant → Integrations.
async function openIntegrations(page) {
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Agents' }));
  await go(page, page.getByRole('link', { name: 'Assistant', exact: true }));
  assert.match(pathOf(page.url()), /^\/agents\/\d+$/, 'not on the agent page');
  await go(page, page.getByRole('link', { name: 'Integrations', exact: true }));
  assert.match(pathOf(page.url()), /^\/agents\/\d+\/integrations$/,
    'not on the Integrations page');
}

// Chooses the channel whose label contains `label` and generates a code;
// returns the new code's card.
async function generate(page, label) {
  const option = page.locator('#channel_id option', { hasText: label });
  await page.selectOption('#channel_id', await option.getAttribute('value'));
  await go(page, page.getByRole('button', { name: 'Generate a connect code' }));
  assert.match(pathOf(page.url()), /\/integrations$/, 'did not come back to Integrations');
  const flash = await page.locator('.flash').textContent();
  const code = flash.match(/PRL-[A-Z0-9]{4}/)?.[0];
  assert.match(code ?? '', CODE, `no code in the flash: ${flash}`);
  const card = page.locator(`li.connect-code[data-code="${code}"]`);
  await card.waitFor();
  assert.equal((await card.locator('.code-big').textContent()).trim(), code);
  return { code, card };
}

test('connect code: generate, QR and deep link, redeem in the sandbox, unlink', async () => {
  const { context, close } = await openBrowser({});
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const problems = watchProblems(page);
    await signIn(page);
    await addTwilioChannel(page);
    await openIntegrations(page);
    const integrations = page.url();

    // A real number: the deep link and its QR code.
    const tw = await generate(page, `+${DIGITS}`);
    const link = tw.card.getByRole('link', { name: 'Open in WhatsApp' });
    assert.equal(await link.getAttribute('href'),
      `https://wa.me/${DIGITS}?text=connect%20${tw.code}`);
    const svg = tw.card.locator('svg.qr');
    await svg.waitFor();
    assert.match(await svg.getAttribute('viewBox'), /^0 0 \d+ \d+$/);
    assert.ok(await svg.locator('path').count() >= 1, 'the QR code has no modules');
    const box = await svg.boundingBox();
    assert.ok(box && box.width >= 150 && box.height >= 150, 'the QR code is not shown');
    assert.equal(await page.locator('script:not([src])').count(), 0, 'inline script');
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'connect.png'), fullPage: true });

    // The sandbox: no number, the text to send, a link to the chat.
    const sb = await generate(page, 'sandbox');
    assert.equal((await sb.card.locator('.sandbox-text').textContent()).trim(),
      `connect ${sb.code}`);
    assert.equal(await sb.card.locator('svg').count(), 0);

    await go(page, sb.card.getByRole('link', { name: 'Open the sandbox chat' }));
    assert.match(pathOf(page.url()), /^\/agents\/\d+\/sandbox$/, 'not on the sandbox page');
    await page.fill('#message', `connect ${sb.code}`);
    await go(page, page.locator('#sandbox-form button[type="submit"]'));
    await page.locator('#sandbox-chat .bubble.agent', { hasText: CONNECTED })
      .last().waitFor({ timeout: WAIT_MS });

    // Linked, with that code; then unlinked.
    await page.goto(integrations);
    const row = page.locator('#linked-chats tbody tr', { hasText: sb.code });
    await row.waitFor();
    assert.equal(await page.locator(`li.connect-code[data-code="${sb.code}"]`).count(), 0,
      'a used code is still shown as active');
    await go(page, row.getByRole('button', { name: /^Unlink/ }));
    assert.match(await page.locator('.flash').textContent(), /Chat unlinked/);
    assert.equal(await page.locator('#linked-chats tbody tr', { hasText: sb.code }).count(), 0,
      'the chat is still listed');
    assert.deepEqual(problems, [], 'errors in the page');
  } finally {
    await close();
  }
});
