-- Connect codes, chat links, command texts and busy threads. Owners:
-- chat/connect.c (connect_codes, connect_attempts), chat/threads.c (the
-- new chats and threads columns), model/agent.c (agents.texts,
-- agents.require_mention), model/org.c (orgs.product_name,
-- orgs.connect_prefix).

ALTER TABLE orgs
	ADD COLUMN product_name text NOT NULL DEFAULT 'Parley'
	    CHECK (length(product_name) BETWEEN 1 AND 60),
	ADD COLUMN connect_prefix text NOT NULL DEFAULT 'PRL'
	    CHECK (connect_prefix ~ '^[A-Z]{2,6}$');

-- Per-agent overrides of the chat reply texts ({"welcome": "…"}); a
-- missing key uses the default (chat/texts.c).
ALTER TABLE agents
	ADD COLUMN texts jsonb NOT NULL DEFAULT '{}',
	ADD COLUMN require_mention boolean NOT NULL DEFAULT false;

-- "connect PRL-AB12": single use, ten minutes, for one agent on one
-- channel. The code is unique among all codes ever issued on a channel.
CREATE TABLE connect_codes (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	agent_id	bigint NOT NULL,
	channel_id	bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
	code		text NOT NULL CHECK (code ~ '^[A-Z]{2,6}-[A-Z0-9]{4}$'),
	created_by	bigint REFERENCES users (id) ON DELETE SET NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	used_at		timestamptz,
	used_by_chat_id	bigint REFERENCES chats (id) ON DELETE SET NULL,
	UNIQUE (channel_id, code),
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
	    ON DELETE CASCADE
);
CREATE INDEX connect_codes_agent_idx ON connect_codes (org_id, agent_id);

-- Every failed code, per chat and per sender, so the guessing limit holds
-- across processes.
CREATE TABLE connect_attempts (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	channel_id	bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
	chat_id		bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	sender		text NOT NULL,
	at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connect_attempts_chat_idx ON connect_attempts (chat_id, at);
CREATE INDEX connect_attempts_sender_idx ON connect_attempts (channel_id, sender, at);

-- How a chat got its agent.
ALTER TABLE chats
	ADD COLUMN linked_at timestamptz,
	ADD COLUMN linked_code_id bigint REFERENCES connect_codes (id) ON DELETE SET NULL;

-- A thread is busy while a reply for it is being produced: the reply job
-- takes it (busy_job, busy_until) with one UPDATE, so two workers or
-- processes can never both answer it; a crashed worker's claim expires.
ALTER TABLE threads
	ADD COLUMN busy_job bigint,
	ADD COLUMN busy_until timestamptz;
