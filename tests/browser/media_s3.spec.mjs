// A photo preview loaded from the S3-compatible store in Debian's
// Chromium. Not one of the NAME.test.mjs specs tests/integration/
// browser.c runs against its own server: this one needs media in a store,
// so tests/integration/media_store.c runs it against its server (media
// in @20minutes/s3rver on loopback) after a contact sent a photo, with
// PARLEY_TEST_URL, PARLEY_TEST_EMAIL / _PASSWORD, PARLEY_TEST_CONVERSATION
// (the chat's path) and PARLEY_TEST_S3_ORIGIN (the store's origin).
//
// Checked: the timeline's preview answers 302 from Parley to a presigned
// URL on the store's origin, Chromium follows it (the page's CSP allows
// that origin), gets the JPEG from the store and shows it (a decoded
// image 320 pixels wide); the link to the full photo opens it from the
// store too. Saves a screenshot (tests/browser/artifacts/media_s3.png).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifacts, env, openBrowser } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const CONVERSATION = env('PARLEY_TEST_CONVERSATION');
const S3 = env('PARLEY_TEST_S3_ORIGIN').replace(/\/$/, '');

test('the photo preview loads from the S3 store', async () => {
  const { context, close } = await openBrowser();
  const page = await context.newPage();
  const seen = [];
  const blocked = [];
  page.on('response', (res) => {
    seen.push({ url: res.url(), status: res.status(),
      type: res.headers()['content-type'] ?? '' });
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') blocked.push(msg.text());
  });

  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/login')),
    page.click('button[type=submit]'),
  ]);

  await page.goto(`${BASE}${CONVERSATION}`);
  const img = page.locator('img.media-thumb').last();
  await img.scrollIntoViewIfNeeded();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0,
    await img.elementHandle(), { timeout: 15_000 });
  const width = await img.evaluate((el) => el.naturalWidth);
  assert.equal(width, 320, 'the preview is the 320-pixel JPEG');

  const src = await img.getAttribute('src');
  const redirect = seen.find((r) => r.url === `${BASE}${src}`);
  assert.ok(redirect, `no response for ${src}: ${JSON.stringify(seen)}`);
  assert.equal(redirect.status, 302, 'Parley redirects to the store');
  const fromStore = seen.find((r) => r.url.startsWith(`${S3}/`) &&
    r.url.includes('.thumb?X-Amz-Algorithm=AWS4-HMAC-SHA256'));
  assert.ok(fromStore, `nothing came from ${S3}: ${JSON.stringify(seen)}`);
  assert.equal(fromStore.status, 200);
  assert.equal(fromStore.type, 'image/jpeg');
  assert.deepEqual(blocked.filter((t) => /Content Security Policy/.test(t)),
    [], 'the CSP blocked something');

  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, 'media_s3.png'),
    fullPage: true });

  // The full photo, opened from the link: from the store as well.
  const href = await page.locator('a.media-thumb-link').last()
    .getAttribute('href');
  const res = await page.goto(`${BASE}${href}`);
  assert.ok(res.url().startsWith(`${S3}/`), `landed on ${res.url()}`);
  assert.equal(res.status(), 200);
  assert.equal(res.headers()['content-type'], 'image/png');
  await close();
});
