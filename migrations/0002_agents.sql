-- Agents, LLM providers and models, plugins, knowledge, API tokens and the
-- record of every gateway call. Owners: model/provider.c (llm_providers),
-- model/orgmodel.c (org_models), model/agent.c (agents, agent_plugins),
-- model/knowledge.c (knowledge_entries), model/apitoken.c (api_tokens),
-- model/llmcall.c (llm_calls), plugins/handoff.c (handoffs).
--
-- Secrets are stored only as libsodium ciphertext (crypto/secret.c) whose
-- additional data names table, column and row; *_hint columns hold the
-- masked form that may be shown.

CREATE TABLE llm_providers (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	base_url	text NOT NULL CHECK (base_url ~ '^https?://'),
	api_key_enc	bytea,
	api_key_hint	text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name),
	UNIQUE (org_id, id)
);

-- provider_id NULL: a built-in model (parley/faq), answered in-process.
CREATE TABLE org_models (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	provider_id	bigint,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	display_name	text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
	supports_vision	boolean NOT NULL DEFAULT false,
	supports_tools	boolean NOT NULL DEFAULT true,
	is_default	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, provider_id) REFERENCES llm_providers (org_id, id)
);
CREATE UNIQUE INDEX org_models_one_default ON org_models (org_id)
	WHERE is_default;

CREATE TABLE agents (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	slug			text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	system_prompt		text NOT NULL DEFAULT '' CHECK (length(system_prompt) <= 20000),
	model_id		bigint,
	mode			text NOT NULL DEFAULT 'chat' CHECK (mode IN ('chat', 'task')),
	history_length		integer NOT NULL DEFAULT 20 CHECK (history_length BETWEEN 0 AND 200),
	temperature		real CHECK (temperature BETWEEN 0 AND 2),
	max_tokens		integer CHECK (max_tokens BETWEEN 1 AND 100000),
	reset_command		text DEFAULT '/reset' CHECK (length(reset_command) BETWEEN 1 AND 40),
	allow_list		text[] NOT NULL DEFAULT '{}',
	escalation_keywords	text[] NOT NULL DEFAULT '{}',
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, slug),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, model_id) REFERENCES org_models (org_id, id)
);

CREATE TABLE agent_plugins (
	org_id		bigint NOT NULL,
	agent_id	bigint NOT NULL,
	plugin_id	text NOT NULL CHECK (plugin_id ~ '^[a-z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)+$'),
	enabled_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (agent_id, plugin_id),
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);

CREATE TABLE knowledge_entries (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL,
	agent_id	bigint NOT NULL,
	title		text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
	body		text NOT NULL CHECK (length(body) BETWEEN 1 AND 200000),
	source		text NOT NULL DEFAULT 'paste' CHECK (source IN ('paste', 'upload', 'api')),
	filename	text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	tsv		tsvector GENERATED ALWAYS AS (
			    setweight(to_tsvector('english', title), 'A') ||
			    setweight(to_tsvector('english', body), 'B')) STORED,
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_entries_agent_idx ON knowledge_entries (org_id, agent_id);
CREATE INDEX knowledge_entries_tsv_idx ON knowledge_entries USING gin (tsv);

-- The token itself is shown once; only its SHA-256 is kept.
CREATE TABLE api_tokens (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	created_by	bigint REFERENCES users (id) ON DELETE SET NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	prefix		text NOT NULL,
	token_hash	bytea NOT NULL UNIQUE,
	role		text NOT NULL DEFAULT 'admin' CHECK (role IN ('owner', 'admin', 'member')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_used_at	timestamptz,
	revoked_at	timestamptz
);
CREATE INDEX api_tokens_org_idx ON api_tokens (org_id);

-- One row per gateway call: what was asked of which model, what it cost,
-- how long it took, which tools ran with what, and how it failed.
CREATE TABLE llm_calls (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	agent_id	bigint,
	model_id	bigint,
	model_name	text NOT NULL,
	source		text NOT NULL CHECK (source IN ('api', 'reply', 'panel')),
	tokens_in	integer NOT NULL DEFAULT 0,
	tokens_out	integer NOT NULL DEFAULT 0,
	latency_ms	integer NOT NULL DEFAULT 0,
	rounds		integer NOT NULL DEFAULT 0,
	tool_calls	jsonb NOT NULL DEFAULT '[]',
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_org_idx ON llm_calls (org_id, created_at DESC);
CREATE INDEX llm_calls_agent_idx ON llm_calls (org_id, agent_id, created_at DESC);

-- A conversation that needs a person (plugin handoff.request, or the
-- offline model finding no answer). The review issue shows and closes them.
CREATE TABLE handoffs (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	agent_id	bigint,
	llm_call_id	bigint,
	reason		text NOT NULL DEFAULT '',
	contact		text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT now(),
	resolved_at	timestamptz
);
CREATE INDEX handoffs_open_idx ON handoffs (org_id) WHERE resolved_at IS NULL;

-- Every organisation has the offline model, default until another is
-- chosen (new organisations get it from orgmodel_ensure_builtin()).
INSERT INTO org_models (org_id, name, display_name, supports_tools, is_default)
SELECT id, 'parley/faq', 'Parley FAQ (offline)', true, true FROM orgs;
