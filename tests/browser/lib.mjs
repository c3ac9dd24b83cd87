// What the browser specs share: their environment (set by
// tests/integration/browser.c), Debian's Chromium launched as the project
// requires (headless, no sandbox, a fresh profile removed afterwards) and
// the few page helpers every spec uses. Each spec runs as its own node
// process, so the after() hook below closes that spec's browsers.
import { after } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const artifacts = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');

// A PARLEY_TEST_* variable, or a clear error when a spec is run by hand.
export function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (!v) {
    throw new Error(`${name} is not set: run the browser tests through ` +
      'tests/integration/browser.c (make test)');
  }
  return v;
}

const CHROMIUM = env('PARLEY_CHROMIUM', '/usr/bin/chromium');
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const cleanups = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

// A browser context on a fresh profile; closed (and the profile removed)
// by close() or when the spec ends.
export async function openBrowser(options) {
  const profile = await mkdtemp(path.join(tmpdir(), 'parley-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: 60_000,
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const close = async () => {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  };
  cleanups.push(close);
  return { context, close };
}

export function pathOf(url) {
  return new URL(url).pathname;
}

// Clicks something that submits a form or follows a link, and waits for
// the page it leads to.
export async function go(page, locator) {
  await Promise.all([
    page.waitForEvent('framenavigated',
      { predicate: (f) => f === page.mainFrame() }),
    locator.click(),
  ]);
  await page.waitForLoadState('load');
}

export async function sleep(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

// Console errors, page errors and HTTP errors (but a missing favicon) the
// page has met: a spec asserts the list is empty at its end.
export function watchProblems(page) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && pathOf(r.url()) !== '/favicon.ico') {
      problems.push(`HTTP ${r.status()} for ${r.url()}`);
    }
  });
  return problems;
}
