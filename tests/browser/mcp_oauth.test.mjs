// An MCP server behind OAuth 2.1 (authorization code + PKCE), connected
// from the panel in Debian's Chromium, as an admin would: Plugins → Add
// MCP server → Connect → the authorization server's consent page →
// Approve → back in the panel, connected → Test connection lists the
// tools (Parley refreshes the short-lived access token on the way).
//
// Run through tests/integration/browser.c (make test), which starts the
// MCP test servers made with the official SDKs (tests/mcp/server.mjs:
// PARLEY_TEST_MCP_URL; its /code/mcp endpoint is protected by the
// authorization server at the same origin, with dynamic client
// registration, a consent page and `iss` in its redirects) and sets
// PARLEY_TEST_URL, PARLEY_TEST_EMAIL and PARLEY_TEST_PASSWORD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, openBrowser, pathOf, go, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const MCP = env('PARLEY_TEST_MCP_URL').replace(/\/$/, '');

async function signIn(page) {
  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');
}

test('an admin connects an OAuth MCP server from the panel', async () => {
  const { context } = await openBrowser();
  const page = await context.newPage();
  const problems = watchProblems(page);
  const name = `OAuth CRM ${Date.now().toString(36)}`;

  await signIn(page);
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Plugins' }));
  await go(page, page.getByRole('link', { name: 'Add MCP server' }));
  await page.fill('#name', name);
  await page.fill('#slug', 'oauthcrm');
  await page.fill('#url', `${MCP}/code/mcp`);
  await page.selectOption('#auth', 'oauth_code');
  await go(page, page.locator('#mcp-form button[type="submit"]'));
  assert.match(pathOf(page.url()), /^\/plugins\/mcp\/\d+$/);
  const serverPath = pathOf(page.url());
  assert.match(await page.locator('#oauth').innerText(), /Not connected/);

  // Connect: Parley discovers the authorization server, registers
  // itself, and hands over a link with PKCE, state and resource.
  await go(page, page.locator('#oauth').getByRole('button', { name: 'Connect' }));
  const href = await page.locator('#oauth-continue').getAttribute('href');
  const authorize = new URL(href);
  assert.equal(authorize.origin, MCP);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authorize.searchParams.get('resource'), `${MCP}/code/mcp`);
  assert.ok(authorize.searchParams.get('state'));
  assert.ok(authorize.searchParams.get('client_id'));
  assert.equal(authorize.searchParams.get('redirect_uri'),
    `${BASE}/plugins/mcp/oauth/callback`);

  // The authorization server's consent page, then back to the panel.
  await go(page, page.locator('#oauth-continue'));
  assert.equal(new URL(page.url()).origin, MCP);
  await page.waitForSelector('#approve');
  await Promise.all([
    page.waitForURL(`${BASE}${serverPath}`),
    page.click('#approve'),
  ]);
  await page.waitForLoadState('load');
  const flash = await page.locator('.flash').first().innerText();
  assert.match(flash, /Connected/);
  assert.match(await page.locator('#oauth').innerText(), /Connected to/);

  // The tokens live 30 s: the test refreshes before it calls.
  await go(page, page.getByRole('button', { name: 'Test connection' }));
  const result = await page.locator('.test-result').innerText();
  assert.match(result, /Connected \(protocol 2025-11-25/, result);
  const tools = await page.locator('#tools').innerText();
  assert.match(tools, /lookup_account/);
  const log = await (await fetch(`${MCP}/_ctl/log`)).json();
  const refresh = log.filter((e) => e.rpc === 'refresh_token');
  assert.ok(refresh.length >= 1, 'Parley did not refresh the 30-second token');
  assert.equal(refresh[0].resource, `${MCP}/code/mcp`);

  // A replayed callback (the same state) is refused: one use.
  await page.goto(`${BASE}/plugins/mcp/oauth/callback?state=${authorize.searchParams.get('state')}&code=x&iss=${encodeURIComponent(`${MCP}/`)}`);
  assert.match(await page.content(), /already used|unknown/);

  // No token on any page.
  for (const p of [serverPath, '/plugins']) {
    await page.goto(`${BASE}${p}`);
    const html = await page.content();
    assert.ok(!/\bat-[0-9a-f]{8}-/.test(html), `${p} shows an access token`);
    assert.ok(!/\brt-[0-9a-f]{8}-/.test(html), `${p} shows a refresh token`);
  }
  const unexpected = problems.filter((p) => !p.includes('/plugins/mcp/oauth/callback'));
  assert.deepEqual(unexpected, []);
});
