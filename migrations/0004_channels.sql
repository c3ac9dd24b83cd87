-- WhatsApp channels, chats, threads and messages, and the webhook health
-- log. Owners: model/channel.c (channels, webhook_events), chat/threads.c
-- (chats, threads, messages). Credentials are sealed (crypto/secret.c,
-- AD "channels.<column>#<id>"); credential_hints holds their masked forms.

CREATE TABLE channels (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	kind			text NOT NULL CHECK (kind IN ('twilio', 'meta', 'kapso', 'sandbox')),
	name			text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	environment		text NOT NULL DEFAULT 'development'
				    CHECK (environment IN ('development', 'production')),
	status			text NOT NULL DEFAULT 'pending'
				    CHECK (status IN ('pending', 'connected', 'disabled')),
	-- The sender: E.164 ("+15551234567") for Twilio's whatsapp:+E164 and
	-- the display number of Meta/Kapso; phone_number_id for Meta/Kapso.
	phone_number		text NOT NULL DEFAULT '',
	phone_number_id		text,
	twilio_account_sid_enc	bytea,
	twilio_auth_token_enc	bytea,
	meta_access_token_enc	bytea,
	meta_app_secret_enc	bytea,
	meta_verify_token_enc	bytea,
	kapso_api_key_enc	bytea,
	kapso_webhook_secret_enc bytea,
	credential_hints	jsonb NOT NULL DEFAULT '{}',
	default_agent_id	bigint,
	last_verified_at	timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, default_agent_id) REFERENCES agents (org_id, id)
	    ON DELETE SET NULL (default_agent_id)
);
-- One number is one channel, across organisations: this is how a webhook
-- finds its organisation.
CREATE UNIQUE INDEX channels_twilio_number ON channels (phone_number)
	WHERE kind = 'twilio';
CREATE UNIQUE INDEX channels_meta_number_id ON channels (phone_number_id)
	WHERE kind = 'meta';
CREATE UNIQUE INDEX channels_kapso_number_id ON channels (phone_number_id)
	WHERE kind = 'kapso';
CREATE UNIQUE INDEX channels_one_sandbox ON channels (org_id)
	WHERE kind = 'sandbox';

-- Webhook health: verified deliveries are summarised in
-- channels.last_verified_at; rejections are kept here with their reason.
-- channel_id/org_id are NULL when the request named no known channel.
CREATE TABLE webhook_events (
	id		bigserial PRIMARY KEY,
	org_id		bigint REFERENCES orgs (id) ON DELETE CASCADE,
	channel_id	bigint REFERENCES channels (id) ON DELETE CASCADE,
	provider	text NOT NULL,
	reason		text NOT NULL,
	detail		text NOT NULL DEFAULT '',
	remote_addr	text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_channel_idx ON webhook_events (channel_id, id DESC);

-- A chat is one WhatsApp conversation on one channel: a DM (keyed by the
-- contact's number) or a group (keyed by the provider's group id).
CREATE TABLE chats (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	channel_id	bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
	kind		text NOT NULL DEFAULT 'dm' CHECK (kind IN ('dm', 'group')),
	external_id	text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 256),
	display_name	text NOT NULL DEFAULT '',
	agent_id	bigint,
	created_at	timestamptz NOT NULL DEFAULT now(),
	last_message_at	timestamptz NOT NULL DEFAULT now(),
	last_inbound_at	timestamptz,
	UNIQUE (channel_id, external_id),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
	    ON DELETE SET NULL (agent_id)
);
CREATE INDEX chats_org_idx ON chats (org_id, last_message_at DESC);

-- A thread is one stretch of a chat with one agent; /reset and switching
-- agents close it and open another. At most one open thread per chat.
CREATE TABLE threads (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	chat_id		bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	agent_id	bigint,
	started_at	timestamptz NOT NULL DEFAULT now(),
	closed_at	timestamptz,
	close_reason	text
);
CREATE UNIQUE INDEX threads_open_idx ON threads (chat_id) WHERE closed_at IS NULL;

-- Inbound and outbound messages. Inbound rows are deduplicated on the
-- provider's id; each outbound part is recorded before it is sent and
-- marked with the provider's id after, and (reply_to_id, part_no) is
-- unique so a retried reply job can never create a part twice.
CREATE TABLE messages (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	channel_id		bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
	chat_id			bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	thread_id		bigint REFERENCES threads (id) ON DELETE SET NULL,
	direction		text NOT NULL CHECK (direction IN ('in', 'out')),
	provider_message_id	text,
	sender			text NOT NULL DEFAULT '',
	sender_name		text NOT NULL DEFAULT '',
	body			text NOT NULL DEFAULT '',
	media			jsonb NOT NULL DEFAULT '[]',
	provider_ts		timestamptz,
	status			text NOT NULL DEFAULT 'received'
				    CHECK (status IN ('received', 'queued', 'sending',
				    'sent', 'delivered', 'read', 'failed')),
	error_code		text,
	error_text		text,
	reply_to_id		bigint REFERENCES messages (id) ON DELETE SET NULL,
	part_no			integer NOT NULL DEFAULT 0,
	parts			integer NOT NULL DEFAULT 1,
	llm_call_id		bigint,
	attempts		integer NOT NULL DEFAULT 0,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX messages_provider_id_idx ON messages (channel_id, provider_message_id)
	WHERE provider_message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_reply_part_idx ON messages (reply_to_id, part_no)
	WHERE direction = 'out' AND reply_to_id IS NOT NULL;
CREATE INDEX messages_chat_idx ON messages (chat_id, id);
CREATE INDEX messages_thread_idx ON messages (thread_id, id);

-- Enqueueing for statements owned elsewhere: the queue's own insert, so a
-- webhook can store a message and its job in one statement (worker/queue.c
-- owns the jobs table; this function is its SQL).
CREATE FUNCTION enqueue_job(p_org bigint, p_kind text, p_payload jsonb)
RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO jobs (org_id, kind, payload) VALUES (p_org, p_kind, p_payload)
	RETURNING id;
$$;

-- Every organisation has a sandbox channel (new ones get it from
-- channel_ensure_sandbox()).
INSERT INTO channels (org_id, kind, name, status)
SELECT id, 'sandbox', 'Sandbox', 'connected' FROM orgs;
