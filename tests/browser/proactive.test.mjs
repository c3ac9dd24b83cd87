// Proactive messages in Debian's Chromium, as the owner (issue 14): the hold
// of a closed 24-hour window and a schedule's history.
//
// Through the REST API (PARLEY_TEST_TOKEN) the spec makes an agent on the
// fake model (it echoes its input), a Twilio channel, a schedule that sends
// its result to one chat, and registers at the fake WhatsApp API
// (PARLEY_TEST_FAKE_WA_URL) a Twilio "session_followup" content with a
// Continue quick reply, which it syncs and names as the agent's follow-up.
// A contact writes (signed Twilio webhook); the fake is told to refuse the
// next Twilio text with 63016 (outside the window). In the browser the owner
// opens the agent's Schedules page and presses "Run now": the result is
// refused, held, and the follow-up template goes out instead. The
// conversation view shows "Waiting for Continue" with the held result and
// offers templates; the Schedules page's run history shows the delivery as
// held. The contact taps Continue: the held result reaches the provider
// once, the hold is gone from the conversation and the history says
// delivered. Saves a screenshot (tests/browser/artifacts/proactive.png).
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL, the fake LLM and WhatsApp API and the server, and sets the
// PARLEY_TEST_* variables read below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { artifacts, env, openBrowser, pathOf, go, sleep, watchProblems } from './lib.mjs';

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const TOKEN = env('PARLEY_TEST_TOKEN');
const EMAIL = env('PARLEY_TEST_EMAIL');
const PASSWORD = env('PARLEY_TEST_PASSWORD');
const TW_SID = env('PARLEY_TEST_TWILIO_SID');
const TW_TOKEN = env('PARLEY_TEST_TWILIO_TOKEN');
const FAKE_WA = env('PARLEY_TEST_FAKE_WA_URL').replace(/\/$/, '');
const NUMBER = '+15550006666';
const CONTACT = '+15558886601';
const FOLLOWUP_HX = 'HX' + 'f'.repeat(32);
const PROMPT = 'the weekly summary';
const RESULT = `Echo: ${PROMPT}`;
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
  return text === '' ? null : JSON.parse(text);
}

async function fake(p, body) {
  const res = await fetch(`${FAKE_WA}${p}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `fake ${p}: ${res.status}`);
}

// Twilio's X-Twilio-Signature: base64 HMAC-SHA1 with the auth token over
// the URL followed by each parameter's name and value, sorted by name.
function twilioSignature(url, params) {
  let data = url;
  for (const n of Object.keys(params).sort()) data += n + params[n];
  return createHmac('sha1', TW_TOKEN).update(data).digest('base64');
}

let seq = 0;
async function inbound(text, extra = {}) {
  const sid = `SM${String(Date.now()).padStart(20, '0')}${String(++seq).padStart(12, '0')}`;
  const params = {
    MessageSid: sid,
    AccountSid: TW_SID,
    From: `whatsapp:${CONTACT}`,
    To: `whatsapp:${NUMBER}`,
    Body: text,
    NumMedia: '0',
    ProfileName: 'Pat',
    WaId: CONTACT.slice(1),
    ...extra,
  };
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

// The fake's Twilio sends to the contact, answered 2xx.
async function sendsToContact() {
  const res = await fetch(`${FAKE_WA}/_fake/requests`);
  assert.equal(res.status, 200);
  return (await res.json()).filter((e) => e.provider === 'twilio' && e.op === 'send' &&
    e.form?.To === `whatsapp:${CONTACT}` && e.answered >= 200 && e.answered < 300);
}

async function waitFor(what, fn) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(150);
  }
}

test('a scheduled result held by a closed window, Continue, and the history', async () => {
  // The world, through the API.
  const models = await api('GET', '/api/v1/models');
  const model = models.data.find((m) => m.name === 'fake-model');
  assert.ok(model, 'the browser suite\'s fake model is missing');
  const agent = await api('POST', '/api/v1/agents', {
    name: 'Weekly desk',
    systemPrompt: 'You write summaries.',
    modelId: model.id,
  });
  const channel = await api('POST', '/api/v1/channels', {
    kind: 'twilio',
    name: 'Proactive line',
    status: 'connected',
    phoneNumber: NUMBER,
    defaultAgentId: agent.id,
    twilioAccountSid: TW_SID,
    twilioAuthToken: TW_TOKEN,
  });
  await fake('/_fake/templates', {
    provider: 'twilio',
    templates: [{
      sid: FOLLOWUP_HX,
      account_sid: TW_SID,
      friendly_name: 'session_followup',
      language: 'en',
      variables: { 1: 'Weekly desk' },
      types: {
        'twilio/quick-reply': {
          body: '{{1}} has something for you.',
          actions: [{ title: 'Continue', id: 'parley_continue' }],
        },
      },
      approval_requests: {
        name: 'session_followup', category: 'UTILITY', status: 'approved',
        rejection_reason: '', content_type: 'twilio/quick-reply',
      },
    }],
  });
  await api('POST', `/api/v1/channels/${channel.id}/templates/sync`);
  const listed = await api('GET', `/api/v1/channels/${channel.id}/templates`);
  assert.ok(listed.data.some((t) => t.name === 'session_followup'), 'the template was not synced');
  await api('PUT', `/api/v1/agents/${agent.id}/followup`, {
    template: 'session_followup', continue: 'latest',
  });

  // The contact writes; the agent answers (the window is open).
  await inbound('hello there');
  await waitFor('the answer to "hello there"', async () =>
    (await sendsToContact()).some((e) => e.form.Body === 'Echo: hello there'));
  const convs = await api('GET', '/api/v1/conversations');
  const chat = convs.data.find((c) => c.contactNumber === CONTACT);
  assert.ok(chat, 'the conversation is not listed');
  const schedule = await api('POST', `/api/v1/agents/${agent.id}/schedules`, {
    name: 'Weekly summary',
    cron: '0 9 * * 1',
    timeZone: 'Europe/Berlin',
    prompt: PROMPT,
    target: 'chats',
    chatIds: [chat.id],
  });

  // WhatsApp will refuse the next free text: the window closed meanwhile.
  await fake('/_fake/queue', {
    provider: 'twilio', op: 'send', status: 400, code: 63016,
    message: 'Failed to send freeform message because you are outside the allowed window.',
  });

  const { context, close } = await openBrowser({ javaScriptEnabled: true });
  const page = context.pages()[0] ?? await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${BASE}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await go(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(pathOf(page.url()), '/', 'sign-in did not land on the dashboard');

  // Run now, from the agent's Schedules page.
  const schedulesPath = `/agents/${agent.id}/schedules`;
  await page.goto(`${BASE}${schedulesPath}`);
  const row = page.locator(`tr.schedule-row[data-id="${schedule.id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /Weekly summary/);
  await go(page, row.getByRole('button', { name: 'Run now' }));
  assert.equal(pathOf(page.url()), schedulesPath);

  // Refused for the window: held, and the follow-up template sent instead.
  const tpl = await waitFor('the follow-up template', async () =>
    (await sendsToContact()).find((e) => e.form.ContentSid === FOLLOWUP_HX));
  assert.equal(tpl.form.From, `whatsapp:${NUMBER}`);
  assert.equal((await sendsToContact()).filter((e) => e.form.Body === RESULT).length, 0,
    'the refused result was counted as sent');

  // The run history: the chat's delivery is held.
  const delivery = page.locator('#runs-table tr.run-row').first().locator('a.delivery');
  await waitFor('the held delivery in the history', async () => {
    await page.reload();
    return (await delivery.count()) === 1 && await delivery.getAttribute('data-status') === 'held';
  });
  assert.match(await page.locator('#runs-table tr.run-row').first().textContent(), new RegExp(RESULT));

  // The conversation shows the hold and offers templates.
  await go(page, delivery);
  assert.equal(pathOf(page.url()), `/conversations/${chat.id}`);
  const hold = page.locator('#hold');
  await hold.waitFor();
  assert.match(await hold.getByRole('heading').textContent(), /Waiting for Continue/);
  assert.match(await hold.locator('.held-message').first().textContent(), new RegExp(`scheduled result[\\s\\S]*${RESULT}`));
  assert.match(await page.locator('dd.window').textContent(), /closed: waiting for Continue/);
  const compose = page.locator('#compose-template');
  await compose.waitFor();
  assert.equal(await compose.locator('details.compose-template[data-name="session_followup"]').count(), 1);
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, 'proactive.png'), fullPage: true });

  // The contact taps Continue: the held result goes, once.
  await inbound('Continue', {
    MessageType: 'button', ButtonText: 'Continue', ButtonPayload: 'parley_continue',
  });
  await waitFor('the held result delivered', async () =>
    (await sendsToContact()).some((e) => e.form.Body === RESULT));
  await sleep(500);
  assert.equal((await sendsToContact()).filter((e) => e.form.Body === RESULT).length, 1);
  await waitFor('the hold gone from the conversation', async () => {
    await page.reload();
    return (await page.locator('#hold').count()) === 0;
  });

  // The history says delivered (the provider accepted it).
  await page.goto(`${BASE}${schedulesPath}`);
  const status = await page.locator('#runs-table tr.run-row').first().locator('a.delivery').getAttribute('data-status');
  assert.match(status, /^(sent|delivered)$/);
  assert.deepEqual(problems, []);
  await close();
});
