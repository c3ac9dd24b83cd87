// The OpenAI-compatible gateway through the official `openai` SDK: what a
// developer pointing an existing OpenAI client at Parley would do.
//
// Run through tests/integration/browser.c (make test), which starts
// PostgreSQL, the fake LLM and the server, creates a provider, a model, an
// agent with the time.now plugin and an API token, queues a tool call and
// an answer in the fake for each completion below, and sets:
//   PARLEY_TEST_URL           e.g. http://127.0.0.1:43127
//   PARLEY_TEST_TOKEN         an API token ("prl_…")
//   PARLEY_TEST_AGENT         the agent's model id ("agent:<slug>")
//   PARLEY_TEST_EXPECT_PLAIN  the answer queued for the plain completion
//   PARLEY_TEST_EXPECT_STREAM the answer queued for the streamed one
// A missing variable or module is a failure, never a skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the browser tests through ` +
      'tests/integration/browser.c (make test)');
  }
  return v;
}

const BASE = env('PARLEY_TEST_URL').replace(/\/$/, '');
const TOKEN = env('PARLEY_TEST_TOKEN');
const AGENT = env('PARLEY_TEST_AGENT');
const EXPECT_PLAIN = env('PARLEY_TEST_EXPECT_PLAIN');
const EXPECT_STREAM = env('PARLEY_TEST_EXPECT_STREAM');

// No SDK retries: a failure must show, not be papered over.
const client = new OpenAI({
  apiKey: TOKEN,
  baseURL: `${BASE}/v1`,
  maxRetries: 0,
  timeout: 60_000,
});

test('models.list() includes the agent', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
    assert.ok(m.owned_by, `model ${m.id} has no owned_by`);
    ids.push(m.id);
  }
  assert.ok(ids.includes(AGENT), `${AGENT} not in ${ids.join(', ')}`);
});

test('a plain completion from the agent', async () => {
  const c = await client.chat.completions.create({
    model: AGENT,
    messages: [{ role: 'user', content: 'What time is it?' }],
    temperature: 0.2,
    max_tokens: 200,
  });
  assert.equal(c.object, 'chat.completion');
  assert.match(c.id, /^chatcmpl-/);
  assert.equal(c.model, AGENT);
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(c.choices[0].message.content, EXPECT_PLAIN);
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(typeof c.usage.total_tokens, 'number');
});

test('a streamed completion from an agent that uses a tool', async () => {
  const stream = await client.chat.completions.create({
    model: AGENT,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Tell me the time, slowly.' }],
  });
  const ids = new Set();
  let text = '';
  let pieces = 0;
  let role = null;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    ids.add(chunk.id);
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.role) role = choice.delta.role;
    if (choice.delta.content) {
      text += choice.delta.content;
      pieces++;
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(ids.size, 1, 'every chunk must carry the same id');
  assert.equal(role, 'assistant');
  assert.ok(pieces >= 2, `want several content chunks, got ${pieces}`);
  assert.equal(text, EXPECT_STREAM);
  assert.equal(finish, 'stop');
  assert.ok(usage && typeof usage.total_tokens === 'number',
    'no usage chunk although include_usage was asked for');
});

test('a wrong token is an AuthenticationError', async () => {
  const bad = new OpenAI({
    apiKey: 'prl_' + 'x'.repeat(43),
    baseURL: `${BASE}/v1`,
    maxRetries: 0,
  });
  await assert.rejects(() => bad.models.list(), (err) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(err.status, 401);
    return true;
  });
});

test('an unknown model is a NotFoundError', async () => {
  await assert.rejects(() => client.chat.completions.create({
    model: 'agent:no-such-agent',
    messages: [{ role: 'user', content: 'hi' }],
  }), (err) => {
    assert.ok(err instanceof OpenAI.NotFoundError, String(err));
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    return true;
  });
});
