-- Conversation review, human handoff, roles and the audit log. Owners:
-- chat/threads.c (the chats/messages columns), chat/handoff.c (handoff
-- state), model/audit.c (audit_log), model/user.c (users columns).

-- Handoff states: ai → needs_human → human → (ai | closed). The reply
-- pool answers only chats in 'ai'.
ALTER TABLE chats
	ADD COLUMN status text NOT NULL DEFAULT 'ai'
	    CHECK (status IN ('ai', 'needs_human', 'human', 'closed')),
	ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
	ADD COLUMN assigned_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
	ADD COLUMN handoff_reason text NOT NULL DEFAULT '',
	ADD COLUMN last_human_at timestamptz,
	ADD COLUMN human_seen_at timestamptz,
	ADD COLUMN gateway_failures integer NOT NULL DEFAULT 0;
-- The conversations list: newest first, keyset-paginated, per status.
CREATE INDEX chats_list_idx ON chats (org_id, last_message_at DESC, id DESC);
CREATE INDEX chats_status_idx ON chats (org_id, status, last_message_at DESC, id DESC);

-- Human replies carry their author; search covers bodies.
ALTER TABLE messages
	ADD COLUMN author_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
	ADD COLUMN body_tsv tsvector
	    GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED;
CREATE INDEX messages_body_tsv_idx ON messages USING gin (body_tsv);
CREATE INDEX messages_org_chat_idx ON messages (org_id, chat_id, id);

-- Per-agent session timeout (a chat idle longer starts a new thread).
ALTER TABLE agents
	ADD COLUMN session_timeout_minutes integer NOT NULL DEFAULT 1440
	    CHECK (session_timeout_minutes BETWEEN 1 AND 525600);

-- Per-organisation handoff timing.
ALTER TABLE orgs
	ADD COLUMN handoff_unclaimed_minutes integer NOT NULL DEFAULT 15
	    CHECK (handoff_unclaimed_minutes BETWEEN 1 AND 10080),
	ADD COLUMN human_idle_hours integer NOT NULL DEFAULT 24
	    CHECK (human_idle_hours BETWEEN 1 AND 720),
	ADD COLUMN gateway_failure_limit integer NOT NULL DEFAULT 3
	    CHECK (gateway_failure_limit BETWEEN 1 AND 100);

-- Who did what, when, to what. Append-only for the application: no
-- UPDATE or DELETE is ever issued on it (model/audit.c writes only).
CREATE TABLE audit_log (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	user_id		bigint REFERENCES users (id) ON DELETE SET NULL,
	actor		text NOT NULL DEFAULT '',
	action		text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
	target_type	text NOT NULL DEFAULT '',
	target_id	bigint,
	detail		text NOT NULL DEFAULT '',
	ip		text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, id DESC);
