// MCP servers for Parley's integration tests, made with the official SDKs:
// @modelcontextprotocol/sdk 1.x (the 2025-era Streamable HTTP transport,
// sessions, the OAuth server helpers) and @modelcontextprotocol/server 2.x
// (the 2026-07-28 revision). tests/integration/mcp.c starts it on loopback:
//
//   node tests/mcp/server.mjs --port N      prints "ready" once listening
//
// Endpoints (all Streamable HTTP, on 127.0.0.1:N):
//   /stateful/mcp   sessions (Mcp-Session-Id), SSE answers
//   /stateless/mcp  no sessions, JSON answers
//   /bearer/mcp     needs "Authorization: Bearer static-token-0123456789"
//   /headers/mcp    needs "X-Api-Key: header-key-0123456789"
//   /cc/mcp         OAuth client credentials (client cc-client / cc-secret)
//   /code/mcp       OAuth authorization code + PKCE, dynamic registration,
//                   a consent page, `iss` in the redirect, refresh tokens
//                   (rotated; access tokens live 30 s so Parley refreshes)
//   /modern/mcp     the 2026-07-28 revision (and the legacy fallback)
//   /modern-only/mcp  2026-07-28 only
//   /hang/mcp       accepts and never answers
//   /broken/mcp     answers 500 to everything
//   /redirect/mcp   a 307 to /stateless/mcp
// The authorization server is the origin itself (issuer http://127.0.0.1:N/).
//
// Every endpoint has the same tools: lookup_account {account} (text),
// weather {city} (structured content), chart (an image), fail (isError),
// slow {ms} (waits), huge {kb} (a large text), add_tool (registers
// "late_tool" and announces tools/list_changed; stateful only).
//
// Control (no auth): GET /_ctl/log (what each MCP endpoint received:
// path, method, JSON-RPC method, params, and the headers Parley sets),
// POST /_ctl/reset, POST /_ctl/expire-tokens (access tokens die now).
import express from 'express';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthRouter, mcpAuthMetadataRouter, createOAuthMetadata } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidGrantError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import * as modern from '@modelcontextprotocol/server';

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs --port N');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const BEARER = 'static-token-0123456789';
const API_KEY = 'header-key-0123456789';
const CC_CLIENT = 'cc-client';
const CC_SECRET = 'cc-secret-0123456789';
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

let log = [];
const ACCESS_TTL_S = 30;

// --- tools -------------------------------------------------------------

function addTools(server, z4, opts = {}) {
  const shape = (o) => (opts.objectSchemas ? z4.object(o) : o);
  server.registerTool('lookup_account', {
    title: 'Look up an account',
    description: 'Finds a customer account by its id and tells its status.',
    inputSchema: shape({ account: z4.string().describe('The account id, e.g. ACME-42') }),
  }, async ({ account }) => ({
    content: [{ type: 'text', text: `Account ${account}: status active, plan gold, balance 42.50 EUR.` }],
  }));
  server.registerTool('weather', {
    description: 'The weather in a city, as structured data.',
    inputSchema: shape({ city: z4.string() }),
    outputSchema: shape({ city: z4.string(), celsius: z4.number(), sky: z4.string() }),
  }, async ({ city }) => {
    const data = { city, celsius: 21.5, sky: 'clear' };
    return { content: [{ type: 'text', text: JSON.stringify(data) }], structuredContent: data };
  });
  server.registerTool('chart', {
    description: 'A tiny chart, as an image.',
    inputSchema: shape({}),
  }, async () => ({ content: [{ type: 'image', data: PNG_1PX, mimeType: 'image/png' }] }));
  server.registerTool('fail', {
    description: 'Always fails, as a tool error.',
    inputSchema: shape({}),
  }, async () => ({ isError: true, content: [{ type: 'text', text: 'The CRM is down for maintenance.' }] }));
  server.registerTool('slow', {
    description: 'Waits before answering.',
    inputSchema: shape({ ms: z4.number() }),
  }, async ({ ms }) => {
    await new Promise((r) => setTimeout(r, Math.min(ms, 120000)));
    return { content: [{ type: 'text', text: `waited ${ms} ms` }] };
  });
  server.registerTool('huge', {
    description: 'Answers a large text.',
    inputSchema: shape({ kb: z4.number() }),
  }, async ({ kb }) => ({ content: [{ type: 'text', text: 'x'.repeat(Math.min(kb, 8192) * 1024) }] }));
  if (opts.canAdd) {
    server.registerTool('add_tool', {
      description: 'Adds the tool late_tool to this server.',
      inputSchema: shape({}),
    }, async (_args, extra) => {
      if (!server.__late) {
        server.__late = true;
        server.registerTool('late_tool', {
          description: 'A tool added while the session ran.',
          inputSchema: shape({}),
        }, async () => ({ content: [{ type: 'text', text: 'late tool ran' }] }));
      }
      // On this request's own stream, so a client without the GET
      // stream hears it too.
      await extra.sendNotification({ method: 'notifications/tools/list_changed' });
      return { content: [{ type: 'text', text: 'added late_tool' }] };
    });
  }
}

function legacyServer(opts) {
  const s = new McpServer({ name: `parley-test-${opts.name}`, version: '1.0.0' },
    { capabilities: { tools: { listChanged: true } } });
  addTools(s, z, opts);
  return s;
}

// --- OAuth: an authorization server at the origin ----------------------

const clients = new Map();
const codes = new Map();
const tokens = new Map();
const refreshes = new Map();

const clientsStore = {
  async getClient(id) {
    if (id === CC_CLIENT) {
      return { client_id: CC_CLIENT, client_secret: CC_SECRET, redirect_uris: [],
        grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' };
    }
    return clients.get(id);
  },
  async registerClient(c) {
    clients.set(c.client_id, c);
    return c;
  },
};

function issue(clientId, resource, scopes) {
  const access = `at-${randomUUID()}`;
  const refresh = `rt-${randomUUID()}`;
  tokens.set(access, { clientId, resource, scopes, expiresAt: Date.now() + ACCESS_TTL_S * 1000 });
  refreshes.set(refresh, { clientId, resource, scopes });
  return { access, refresh };
}

const provider = {
  clientsStore,
  // A consent page: the admin approves in the browser.
  async authorize(client, params, res) {
    const id = randomUUID();
    codes.set(`pending-${id}`, { client, params });
    res.type('html').send(`<!doctype html><title>Test authorization server</title>
<h1>Authorize Parley</h1><p>Client ${client.client_id} asks for access to ${params.resource ?? 'nothing'}.</p>
<form method="post" action="/consent"><input type="hidden" name="id" value="${id}">
<button type="submit" id="approve">Approve</button></form>`);
  },
  async challengeForAuthorizationCode(client, code) {
    const c = codes.get(code);
    if (!c) throw new InvalidGrantError('unknown code');
    return c.params.codeChallenge;
  },
  async exchangeAuthorizationCode(client, code, _verifier, redirectUri, resource) {
    const c = codes.get(code);
    if (!c || c.client.client_id !== client.client_id) throw new InvalidGrantError('bad code');
    codes.delete(code);
    if (redirectUri !== c.params.redirectUri) throw new InvalidGrantError('redirect_uri differs');
    if (!resource || resource.href !== `${base}/code/mcp`) throw new InvalidGrantError(`wrong resource ${resource}`);
    const t = issue(client.client_id, resource.href, c.params.scopes ?? []);
    return { access_token: t.access, token_type: 'bearer', expires_in: ACCESS_TTL_S, refresh_token: t.refresh };
  },
  async exchangeRefreshToken(client, refresh, scopes, resource) {
    const r = refreshes.get(refresh);
    if (!r || r.clientId !== client.client_id) throw new InvalidGrantError('refresh token unknown or used');
    refreshes.delete(refresh); // rotation: a refresh token works once
    const t = issue(client.client_id, resource?.href ?? r.resource, r.scopes);
    log.push({ path: '/token', rpc: 'refresh_token', resource: resource?.href ?? null });
    return { access_token: t.access, token_type: 'bearer', expires_in: ACCESS_TTL_S, refresh_token: t.refresh };
  },
  async verifyAccessToken(token) {
    const t = tokens.get(token);
    if (!t || t.expiresAt < Date.now()) throw new InvalidTokenError('unknown or expired token');
    return { token, clientId: t.clientId, scopes: t.scopes, expiresAt: Math.floor(t.expiresAt / 1000),
      resource: new URL(t.resource) };
  },
};

const app = express();
app.set('trust proxy', false);

app.get('/_ctl/log', (req, res) => res.json(log));
app.post('/_ctl/reset', (req, res) => { log = []; res.json({ ok: true }); });
app.post('/_ctl/expire-tokens', (req, res) => {
  for (const t of tokens.values()) t.expiresAt = 0;
  res.json({ ok: true });
});

// The consent form posts here; the redirect carries code, state and iss.
app.post('/consent', express.urlencoded({ extended: false }), (req, res) => {
  const p = codes.get(`pending-${req.body.id}`);
  if (!p) return res.status(400).send('unknown request');
  codes.delete(`pending-${req.body.id}`);
  const code = randomUUID();
  codes.set(code, p);
  const to = new URL(p.params.redirectUri);
  to.searchParams.set('code', code);
  if (p.params.state !== undefined) to.searchParams.set('state', p.params.state);
  to.searchParams.set('iss', `${base}/`);
  res.redirect(302, to.href);
});

// client_credentials is not among the SDK's grants: answered here,
// before its token handler (RFC 6749 §4.4, client_secret_basic or _post).
app.post('/token', express.urlencoded({ extended: false }), (req, res, next) => {
  if (req.body.grant_type !== 'client_credentials') return next();
  let id = req.body.client_id;
  let secret = req.body.client_secret;
  const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
  if (basic) {
    const [u, p] = Buffer.from(basic[1], 'base64').toString().split(':');
    id = decodeURIComponent(u);
    secret = decodeURIComponent(p);
  }
  log.push({ path: '/token', rpc: 'client_credentials', resource: req.body.resource ?? null,
    basic: Boolean(basic) });
  if (id !== CC_CLIENT || secret !== CC_SECRET) {
    return res.status(401).json({ error: 'invalid_client' });
  }
  if (req.body.resource !== `${base}/cc/mcp`) {
    return res.status(400).json({ error: 'invalid_target', error_description: 'resource must be this server' });
  }
  const t = issue(CC_CLIENT, req.body.resource, []);
  res.set('Cache-Control', 'no-store').json({ access_token: t.access, token_type: 'bearer', expires_in: ACCESS_TTL_S });
});

const issuerUrl = new URL(`${base}/`);
const asMeta = createOAuthMetadata({ provider, issuerUrl, scopesSupported: ['mcp:tools'] });
asMeta.grant_types_supported = ['authorization_code', 'refresh_token', 'client_credentials'];
asMeta.token_endpoint_auth_methods_supported = ['client_secret_basic', 'client_secret_post', 'none'];
asMeta.authorization_response_iss_parameter_supported = true;
app.get('/.well-known/oauth-authorization-server', (req, res) => res.json(asMeta));
app.use(mcpAuthRouter({ provider, issuerUrl, scopesSupported: ['mcp:tools'] }));
for (const p of ['cc', 'code']) {
  app.use(mcpAuthMetadataRouter({ oauthMetadata: asMeta, resourceServerUrl: new URL(`${base}/${p}/mcp`) }));
}

// --- what each MCP request looked like ---------------------------------

app.use(express.json({ limit: '4mb' }));
app.use((req, res, next) => {
  if (req.path.endsWith('/mcp')) {
    const b = req.body ?? {};
    log.push({
      path: req.path,
      method: req.method,
      rpc: b.method ?? null,
      params: b.params ?? null,
      sessionId: req.headers['mcp-session-id'] ?? null,
      protocolVersion: req.headers['mcp-protocol-version'] ?? null,
      mcpMethod: req.headers['mcp-method'] ?? null,
      mcpName: req.headers['mcp-name'] ?? null,
      traceparent: req.headers.traceparent ?? null,
      authorization: req.headers.authorization ? req.headers.authorization.split(' ')[0] : null,
    });
  }
  next();
});

// --- the 2025-era endpoints ---------------------------------------------

const sessions = new Map();

async function stateful(req, res) {
  const sid = req.headers['mcp-session-id'];
  let t = sid ? sessions.get(sid) : undefined;
  if (!t && !sid && req.method === 'POST' && isInitializeRequest(req.body)) {
    t = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, t),
    });
    t.onclose = () => { if (t.sessionId) sessions.delete(t.sessionId); };
    await legacyServer({ name: 'stateful', canAdd: true }).connect(t);
  } else if (!t && sid) {
    return res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
  } else if (!t) {
    return res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
  }
  await t.handleRequest(req, res, req.body);
}

async function stateless(req, res, name) {
  if (req.method !== 'POST') return res.status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  const s = legacyServer({ name });
  res.on('close', () => { t.close(); s.close(); });
  await s.connect(t);
  await t.handleRequest(req, res, req.body);
}

app.all('/stateful/mcp', stateful);
app.all('/stateless/mcp', (req, res) => stateless(req, res, 'stateless'));
app.all('/bearer/mcp', (req, res, next) => {
  if (req.headers.authorization !== `Bearer ${BEARER}`) {
    return res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid_token' });
  }
  next();
}, (req, res) => stateless(req, res, 'bearer'));
app.all('/headers/mcp', (req, res, next) => {
  if (req.headers['x-api-key'] !== API_KEY) return res.status(403).json({ error: 'forbidden' });
  next();
}, (req, res) => stateless(req, res, 'headers'));
for (const p of ['cc', 'code']) {
  app.all(`/${p}/mcp`, requireBearerAuth({
    verifier: provider,
    resourceMetadataUrl: `${base}/.well-known/oauth-protected-resource/${p}/mcp`,
    expectedResource: new URL(`${base}/${p}/mcp`),
  }), (req, res) => stateless(req, res, p));
}
app.all('/hang/mcp', () => { /* never answers */ });
app.all('/broken/mcp', (req, res) => res.status(500).send('internal error'));
app.all('/redirect/mcp', (req, res) => res.redirect(307, `${base}/stateless/mcp`));

// --- the 2026-07-28 endpoints ------------------------------------------

function modernFactory(name) {
  return () => {
    const s = new modern.McpServer({ name: `parley-test-${name}`, version: '2.0.0' });
    addTools(s, z, { objectSchemas: true });
    return s;
  };
}
const modernBoth = modern.createMcpHandler(modernFactory('modern'));
const modernOnly = modern.createMcpHandler(modernFactory('modern-only'), { legacy: 'reject' });

// express → the handlers' web-standard fetch face.
function fetchFace(handler) {
  return async (req, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const init = { method: req.method, headers };
    if (req.method === 'POST') init.body = JSON.stringify(req.body ?? {});
    const r = await handler.fetch(new Request(`${base}${req.originalUrl}`, init),
      req.method === 'POST' ? { parsedBody: req.body } : undefined);
    res.status(r.status);
    r.headers.forEach((v, k) => res.setHeader(k, v));
    if (!r.body) return res.end();
    const reader = r.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(Buffer.from(value));
    }
    res.end();
  };
}
app.all('/modern/mcp', fetchFace(modernBoth));
app.all('/modern-only/mcp', fetchFace(modernOnly));

const srv = app.listen(port, '127.0.0.1', () => console.log('ready'));
srv.keepAliveTimeout = 1000;
const stop = () => { srv.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
