// Human handoff in Debian's Chromium, as a member of the organisation. The
// spec makes a Twilio channel and an agent with the escalation keyword
// "human" through the REST API (PARLEY_TEST_TOKEN), then a contact writes
// "I need a human" through the signed Twilio webhook (HMAC-SHA1 over the
// URL and the sorted parameters, as src/crypto/hmac.c checks it). The
// member signs in, follows Conversations (its badge counts the chats
// waiting) → Inbox, opens the chat, claims it, types a reply and sends
// it; the reply shows in the timeline, and the fake WhatsApp API
// (PARLEY_TEST_FAKE_WA_URL) logged a Twilio send with that Body. Then the
// member attaches a photo to a reply: it shows in the timeline, and the
// fake fetched the exact bytes from the MediaUrl Parley gave Twilio. While
// the chat waits for a person, the contact also sends an 800×400 photo
// (served by the fake's Twilio media endpoints): the timeline shows it as
// a 320-pixel preview loaded through the signed-in route, linking to the
// full photo. Runs
// twice: with JavaScript on and with JavaScript off. Saves a screenshot
// (tests/browser/artifacts/handoff.png).
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL, the fake WhatsApp API and the server, creates the member and
// sets the PARLEY_TEST_* variables read below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifacts, env, openBrowser, pathOf, go, sleep } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const TOKEN = env('PARLEY_TEST_TOKEN');
const MEMBER_EMAIL = env('PARLEY_TEST_MEMBER_EMAIL');
const MEMBER_PASSWORD = env('PARLEY_TEST_MEMBER_PASSWORD');
const TW_SID = env('PARLEY_TEST_TWILIO_SID');
const TW_TOKEN = env('PARLEY_TEST_TWILIO_TOKEN');
const FAKE_WA = env('PARLEY_TEST_FAKE_WA_URL').replace(/\/$/, '');
const NUMBER = '+15550004444';
const WAIT_MS = 20_000;

async function api(method, p, body) {
  const res = await fetch(`${BASE}${p}`, {
    method,
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text);
}

// Twilio's X-Twilio-Signature: base64 HMAC-SHA1 with the auth token over
// the URL followed by each parameter's name and value, sorted by name.
function twilioSignature(url, params) {
  const names = Object.keys(params).sort();
  let data = url;
  for (const n of names) data += n + params[n];
  return createHmac('sha1', TW_TOKEN).update(data).digest('base64');
}

// A w×h RGB PNG (one colour), written by hand: node has deflate, not PNG.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
function png(w, h, [r, g, b]) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);	// 8-bit RGB
  const row = Buffer.alloc(1 + 3 * w);
  for (let x = 0; x < w; x++) row.set([r, g, b], 1 + 3 * x);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

let seq = 0;
async function inbound(from, profile, text, photo) {
  const sid = `SM${String(Date.now()).padStart(20, '0')}${String(++seq).padStart(12, '0')}`;
  const params = {
    MessageSid: sid,
    SmsMessageSid: sid,
    AccountSid: TW_SID,
    From: `whatsapp:${from}`,
    To: `whatsapp:${NUMBER}`,
    Body: text,
    NumMedia: '0',
    ProfileName: profile,
    WaId: from.slice(1),
    ApiVersion: '2010-04-01',
  };
  if (photo) {
    // Registered at the fake first; Parley fetches it with Basic auth.
    const me = `ME${sid.slice(2)}`;
    const reg = await fetch(`${FAKE_WA}/_fake/media`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: me, content_type: 'image/png', body_b64: photo.toString('base64') }),
    });
    assert.equal(reg.status, 200, `fake media: ${reg.status}`);
    params.NumMedia = '1';
    params.MediaUrl0 = `${FAKE_WA}/2010-04-01/Accounts/${TW_SID}/Messages/${sid}/Media/${me}`;
    params.MediaContentType0 = 'image/png';
  }
  const url = `${BASE}/webhooks/whatsapp/twilio`;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': twilioSignature(url, params),
    },
    body: new URLSearchParams(params).toString(),
  });
  assert.equal(res.status, 200, `twilio webhook: ${res.status} ${await res.text()}`);
}

async function fakeSends() {
  const res = await fetch(`${FAKE_WA}/_fake/requests`);
  assert.equal(res.status, 200);
  return (await res.json()).filter((e) => e.provider === 'twilio' && e.op === 'send');
}

// Until a Twilio send with exactly that Body appears in the fake's log.
async function waitForSend(body) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const hit = (await fakeSends()).find((e) => e.form?.Body === body);
    if (hit) return hit;
    assert.ok(Date.now() < deadline, `no Twilio send with Body "${body}"`);
    await sleep(100);
  }
}

// One channel and one agent for both runs, made once.
let world;
async function setUp() {
  if (world) return world;
  const agent = await api('POST', '/api/v1/agents', {
    name: 'Handoff desk',
    systemPrompt: 'You help customers.',
    escalationKeywords: ['human'],
  });
  const channel = await api('POST', '/api/v1/channels', {
    kind: 'twilio',
    name: 'Handoff line',
    status: 'connected',
    phoneNumber: NUMBER,
    defaultAgentId: agent.id,
    twilioAccountSid: TW_SID,
    twilioAuthToken: TW_TOKEN,
  });
  world = { agent, channel };
  return world;
}

async function run(javaScriptEnabled) {
  await setUp();
  const label = javaScriptEnabled ? 'js' : 'nojs';
  const contact = javaScriptEnabled ? '+15558884401' : '+15558884402';
  const reply = `Hi, this is a person from the team (${label}).`;

  await inbound(contact, `Tess ${label}`, 'I need a human, please');
  const photo = png(800, 400, [30, 120, 200]);
  await inbound(contact, `Tess ${label}`, 'Here is the box', photo);

  const { context } = await openBrowser({ javaScriptEnabled });
  const page = context.pages()[0] ?? await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && pathOf(r.url()) !== '/favicon.ico') {
      problems.push(`HTTP ${r.status()} for ${r.url()}`);
    }
  });

  await page.goto(`${BASE}/login`);
  await page.fill('#email', MEMBER_EMAIL);
  await page.fill('#password', MEMBER_PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');

  // The reply job moves the chat to needs_human: reload until the nav
  // counts it (bounded).
  const nav = page.locator('nav.sidenav');
  const conversations = nav.getByRole('link', { name: /^Conversations/ });
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const badge = await conversations.locator('.badge').textContent().catch(() => null);
    if (badge !== null && /^\s*[1-9]\d*/.test(badge)) break;
    assert.ok(Date.now() < deadline, 'the Conversations link never showed a waiting count');
    await sleep(200);
    await page.reload();
  }
  // A member sees conversations, not the admin areas.
  assert.equal(await nav.getByRole('link', { name: 'Agents' }).count(), 0);

  await go(page, conversations);
  assert.equal(pathOf(page.url()), '/conversations');
  await go(page, page.getByRole('link', { name: 'Inbox: needs a human' }));
  assert.equal(new URL(page.url()).searchParams.get('status'), 'needs_human');
  const row = page.locator('tbody tr').filter({ hasText: contact });
  await row.waitFor();
  assert.match(await row.locator('[data-status]').textContent(), /Needs a human/);
  await go(page, row.getByRole('link'));
  assert.match(pathOf(page.url()), /^\/conversations\/\d+$/);
  const chatPath = pathOf(page.url());
  await page.getByText('I need a human, please', { exact: true }).waitFor();

  // The photo: a preview (longer side 320) through the signed-in route,
  // linking to the full 800×400 image.
  const thumb = page.locator('img.media-thumb');
  await thumb.waitFor();
  const src = await thumb.getAttribute('src');
  assert.match(src, /^\/conversations\/\d+\/media\/\d+\/0\/thumb$/);
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0,
    await thumb.elementHandle());
  assert.deepEqual(await thumb.evaluate((el) => [el.naturalWidth, el.naturalHeight]), [320, 160]);
  const full = await context.request.get(BASE + src.replace(/\/thumb$/, ''));
  assert.equal(full.status(), 200);
  assert.equal(full.headers()['content-type'], 'image/png');
  assert.ok(Buffer.from(await full.body()).equals(photo), 'the full photo is not the one sent');
  const preview = await context.request.get(BASE + src);
  assert.equal(preview.headers()['content-type'], 'image/jpeg');

  await go(page, page.getByRole('button', { name: 'Claim' }));
  assert.equal(pathOf(page.url()), chatPath, 'claim did not come back to the chat');
  assert.match(await page.locator('dl [data-status]').textContent(), /Human/);
  await page.locator('dl').getByText(MEMBER_EMAIL).waitFor();

  await page.getByLabel('Reply').fill(reply);
  await go(page, page.getByRole('button', { name: 'Send reply' }));
  assert.equal(pathOf(page.url()), chatPath, 'the reply did not come back to the chat');
  const bubble = page.locator('.bubble[data-direction="out"]').filter({ hasText: reply });
  await bubble.waitFor();
  assert.match(await bubble.locator('.who').first().textContent(), new RegExp(MEMBER_EMAIL.replace('.', '\\.')));

  // The reply reached the provider: a Twilio send to the contact with that Body.
  const sent = await waitForSend(reply);
  assert.equal(sent.form.To, `whatsapp:${contact}`);
  assert.equal(sent.form.From, `whatsapp:${NUMBER}`);

  // A file attached to a reply (issue 15, media out): a photo with a
  // caption goes to Twilio as a MediaUrl on Parley's signed route, which
  // the fake fetches (HEAD and GET) as Twilio does: the exact bytes.
  const chart = png(640, 320, [200, 80, 40]);
  const caption = `The chart you asked for (${label}).`;
  await page.getByLabel('Reply').fill(caption);
  await page.setInputFiles('#reply-file', { name: 'chart.png', mimeType: 'image/png', buffer: chart });
  await go(page, page.getByRole('button', { name: 'Send reply' }));
  assert.equal(pathOf(page.url()), chatPath, 'the file reply did not come back to the chat');
  await page.getByText('File sent.').waitFor();
  const fileBubble = page.locator('.bubble[data-direction="out"]').filter({ hasText: caption });
  await fileBubble.locator('img.media-thumb').waitFor();
  const media = await waitForSend(caption);
  assert.equal(media.form.To, `whatsapp:${contact}`);
  assert.ok(media.form.MediaUrl.startsWith(`${BASE}/m/`), `MediaUrl ${media.form.MediaUrl}`);
  const fetched = media.fetched?.[0];
  assert.ok(fetched, 'the fake did not fetch the MediaUrl');
  assert.equal(fetched.head, 200);
  assert.equal(fetched.status, 200);
  assert.equal(fetched.content_type, 'image/png');
  assert.equal(fetched.sha256, createHash('sha256').update(chart).digest('hex'));

  if (javaScriptEnabled) {
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'handoff.png'), fullPage: true });
  }
  assert.deepEqual(problems, []);
}

test('a member claims a waiting chat and replies (JavaScript on)', async () => {
  await run(true);
});

test('a member claims a waiting chat and replies (JavaScript off)', async () => {
  await run(false);
});
