// Agents in Debian's Chromium, with and without JavaScript: add an LLM
// provider (its key must only ever come back masked), add a model on it,
// create an agent on that model, enable the time.now plugin, and find the
// agent in the list with its plugin. Also saves screenshots of the agent
// page at laptop and phone widths (tests/browser/artifacts/).
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL and the server and sets PARLEY_TEST_URL, PARLEY_TEST_EMAIL
// and PARLEY_TEST_PASSWORD. Other spec files share the server, so every
// name made here is unique.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifacts, env, openBrowser, pathOf, go, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');

async function signIn(page) {
  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');
}

async function selectByText(page, select, text) {
  const value = await page.locator(`${select} option`, { hasText: text })
    .first().getAttribute('value');
  assert.ok(value, `no option "${text}" in ${select}`);
  await page.selectOption(select, value);
}

async function agentFlow(page, label, { js }) {
  const problems = watchProblems(page);
  const tag = `${js ? 'js' : 'nojs'}-${Date.now().toString(36)}`;
  const provider = `Browser provider ${tag}`;
  const key = `sk-browser-${tag}-0123456789abcdefSECRET`;
  const modelName = `gpt-browser-${tag}`;
  const modelLabel = `Browser model ${tag}`;
  const agentName = `Browser agent ${tag}`;

  await signIn(page);

  // Settings → LLM providers → Add a provider.
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Settings' }));
  await go(page, page.getByRole('link', { name: 'LLM providers' }));
  await go(page, page.getByRole('link', { name: 'Add a provider' }));
  await page.fill('input[name="name"]', provider);
  await page.fill('input[name="base_url"]', 'http://127.0.0.1:9/v1');
  await page.fill('input[name="api_key"]', key);
  await go(page, page.locator('#provider-form button[type="submit"]'));
  let html = await page.content();
  assert.ok(!html.includes(key), `${label}: the full API key came back after saving`);

  await page.goto(`${BASE}/settings/providers`);
  html = await page.content();
  assert.ok(!html.includes(key), `${label}: the provider list shows the full key`);
  const row = page.locator('tr', { hasText: provider });
  const hint = ((await row.locator('.key-hint').textContent()) ?? '').trim();
  assert.ok(hint.length > 0, `${label}: no masked key on the list`);
  assert.notEqual(hint, key, `${label}: the "masked" key is the key`);
  assert.ok(hint.includes('…') && hint.length < key.length &&
    key.endsWith(hint.split('…').pop()),
    `${label}: the hint ${hint} is not a masked form of the key`);
  await go(page, row.getByRole('link', { name: provider }));
  html = await page.content();
  assert.ok(!html.includes(key), `${label}: the provider page shows the full key`);
  await page.locator('.key-hint').first().waitFor({ state: 'visible' });

  // Settings → Models → Add a model on that provider.
  await page.goto(`${BASE}/settings`);
  await go(page, page.getByRole('link', { name: 'Models' }));
  await go(page, page.getByRole('link', { name: 'Add a model' }));
  await selectByText(page, '#provider_id', provider);
  await page.fill('#name', modelName);
  await page.fill('#display_name', modelLabel);
  await go(page, page.locator('#model-form button[type="submit"]'));
  await page.goto(`${BASE}/settings/models`);
  await page.locator('tr', { hasText: modelLabel }).first().waitFor();

  // Agents → New agent on that model.
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Agents' }));
  await go(page, page.getByRole('link', { name: 'New agent' }).first());
  await page.fill('#name', agentName);
  await page.fill('#system_prompt', 'You are {{agentName}}. Answer briefly.');
  await selectByText(page, '#model_id', modelLabel);
  await go(page, page.getByRole('button', { name: 'Create agent' }));
  assert.match(pathOf(page.url()), /^\/agents\/\d+$/, `${label}: not on the agent page`);
  await page.getByText('Agent created.').waitFor();
  const agentPath = pathOf(page.url());

  // Enable time.now and save the plugins.
  const box = page.locator('input[name="plugins"][value="time.now"]');
  await box.check();
  await go(page, page.getByRole('button', { name: 'Save plugins' }));
  await page.getByText('Plugins saved.').waitFor();
  assert.equal(await page.locator('input[name="plugins"][value="time.now"]').isChecked(),
    true, `${label}: time.now not enabled after saving`);
  assert.equal(await page.locator('#model_id option:checked').textContent().then((t) => t.includes(modelLabel)),
    true, `${label}: the agent's model is not selected`);

  await mkdir(artifacts, { recursive: true });
  if (js) {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(artifacts, 'agent-edit-laptop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(artifacts, 'agent-edit-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  // Listed, with its model and one plugin.
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Agents' }));
  const agentRow = page.locator('tr', { hasText: agentName });
  await agentRow.waitFor();
  const cells = (await agentRow.locator('td').allTextContents()).map((s) => s.trim());
  assert.ok(cells.includes(modelLabel), `${label}: list row ${cells} lacks the model`);
  assert.equal(cells[cells.length - 1], '1', `${label}: list row ${cells} lacks the plugin`);
  if (js) {
    await page.screenshot({ path: path.join(artifacts, 'agents-list.png'), fullPage: true });
  }

  // The Plugins page names the agent under time.now.
  await go(page, page.locator('nav.sidenav').getByRole('link', { name: 'Plugins' }));
  const card = page.locator('section.plugin-card', { hasText: 'time.now' });
  await card.getByRole('link', { name: agentName }).waitFor();
  assert.equal(pathOf(await card.getByRole('link', { name: agentName })
    .getAttribute('href').then((h) => new URL(h, BASE).toString())), agentPath);

  assert.deepEqual(problems, [], `${label}: errors in the page`);
}

test('provider, model and agent with a plugin, with JavaScript', async () => {
  const { context, close } = await openBrowser({});
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await agentFlow(page, 'with JavaScript', { js: true });
  } finally {
    await close();
  }
});

test('provider, model and agent with a plugin, without JavaScript', async () => {
  const { context, close } = await openBrowser({ javaScriptEnabled: false });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await agentFlow(page, 'without JavaScript', { js: false });
  } finally {
    await close();
  }
});
