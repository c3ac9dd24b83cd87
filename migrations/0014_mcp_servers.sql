-- MCP servers: an organisation's own tool servers (Streamable HTTP), which
-- its agents enable like the built-in plugins. Owner: model/mcp_server.c
-- (both tables).
--
-- Secrets are sealed with the master key for their own row and column
-- (crypto/secret.c, AD "mcp_servers.<column>#<id>"): the bearer token, the
-- custom headers (a JSON object), the OAuth client secret, the access and
-- refresh tokens and a pending PKCE verifier. Only masked hints are kept
-- in clear.
CREATE TABLE mcp_servers (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name			text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	-- The prefix of its tools' names on the wire ("crm" → crm_lookup).
	slug			text NOT NULL CHECK (slug ~ '^[a-z][a-z0-9]{0,19}$'),
	url			text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
	auth			text NOT NULL DEFAULT 'none' CHECK (auth IN
				    ('none', 'bearer', 'headers', 'oauth_client', 'oauth_code')),
	secret_enc		bytea,		-- bearer token | headers JSON | client secret
	secret_hint		text NOT NULL DEFAULT '',
	header_names		text[] NOT NULL DEFAULT '{}',
	oauth_client_id		text NOT NULL DEFAULT '' CHECK (length(oauth_client_id) <= 500),
	oauth_scope		text NOT NULL DEFAULT '' CHECK (length(oauth_scope) <= 1000),
	-- Learnt from protected-resource and authorization-server metadata.
	oauth_issuer		text NOT NULL DEFAULT '',
	oauth_token_url		text NOT NULL DEFAULT '',
	oauth_resource		text NOT NULL DEFAULT '',
	oauth_client_registered	boolean NOT NULL DEFAULT false,
	access_token_enc	bytea,
	access_expires_at	timestamptz,
	refresh_token_enc	bytea,
	oauth_connected_at	timestamptz,
	-- A pending authorization-code flow: SHA-256 of its state, the sealed
	-- PKCE verifier, the authorization server's issuer and when it began.
	oauth_state_hash	bytea,
	oauth_verifier_enc	bytea,
	oauth_pending_issuer	text,
	oauth_started_at	timestamptz,
	timeout_ms		integer NOT NULL DEFAULT 30000
				    CHECK (timeout_ms BETWEEN 1000 AND 120000),
	max_result_bytes	integer NOT NULL DEFAULT 262144
				    CHECK (max_result_bytes BETWEEN 1024 AND 8388608),
	last_tested_at		timestamptz,
	last_test_ok		boolean,
	last_test_message	text NOT NULL DEFAULT '',
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, name),
	UNIQUE (org_id, slug),
	UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX mcp_servers_state_idx ON mcp_servers (oauth_state_hash)
	WHERE oauth_state_hash IS NOT NULL;

-- Which agents use which server, and which of its tools: all of them,
-- only the listed ones, or all but the listed ones.
CREATE TABLE agent_mcp_servers (
	org_id		bigint NOT NULL,
	agent_id	bigint NOT NULL,
	server_id	bigint NOT NULL,
	tool_filter	text NOT NULL DEFAULT 'all'
			    CHECK (tool_filter IN ('all', 'only', 'except')),
	tools		text[] NOT NULL DEFAULT '{}'
			    CHECK (cardinality(tools) <= 200),
	enabled_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (agent_id, server_id),
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE,
	FOREIGN KEY (org_id, server_id) REFERENCES mcp_servers (org_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_mcp_servers_server_idx ON agent_mcp_servers (org_id, server_id);
