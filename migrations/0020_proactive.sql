-- Proactive messaging (issue 14): templates per channel, the 24-hour
-- window's hold, follow-up templates, scheduled runs and heartbeats.
-- Owners: model/template.c (channel_templates, channel_template_syncs),
-- chat/window.c (window_holds),
-- chat/outbox.c (the messages columns and the 'held' state),
-- model/followup.c (agent_followups), model/schedule.c (schedules,
-- schedule_runs).

-- The templates a channel's provider holds, as of the last sync: the
-- whole set is replaced by each sync. (channel_id, name, language) names
-- a template for sending; provider_id is Meta's template id or Twilio's
-- content SID (HX…), which Twilio sends by.
CREATE TABLE channel_templates (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL,
	channel_id		bigint NOT NULL,
	provider_id		text NOT NULL DEFAULT '' CHECK (length(provider_id) <= 128),
	name			text NOT NULL CHECK (length(name) BETWEEN 1 AND 512),
	language		text NOT NULL DEFAULT '' CHECK (length(language) <= 32),
	-- Upper case, Meta's words: APPROVED (the only sendable one),
	-- PENDING, REJECTED, PAUSED, DISABLED, …; Twilio's lower-case
	-- approval status is stored upper-cased.
	status			text NOT NULL CHECK (length(status) BETWEEN 1 AND 40),
	category		text NOT NULL DEFAULT '' CHECK (length(category) <= 40),
	parameter_format	text NOT NULL DEFAULT 'POSITIONAL'
				    CHECK (parameter_format IN ('POSITIONAL', 'NAMED')),
	content_type		text NOT NULL DEFAULT '' CHECK (length(content_type) <= 64),
	header			text NOT NULL DEFAULT '',
	body			text NOT NULL DEFAULT '',
	footer			text NOT NULL DEFAULT '',
	-- [{"name":"1","example":"…","part":"body"|"header"}]
	variables		jsonb NOT NULL DEFAULT '[]',
	-- [{"type":"QUICK_REPLY","text":"Continue","id":"…"}, …]
	buttons			jsonb NOT NULL DEFAULT '[]',
	synced_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (channel_id, name, language),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, channel_id) REFERENCES channels (org_id, id)
	    ON DELETE CASCADE
);

-- Where a channel's templates come from and when they were last synced:
-- the WhatsApp Business Account a Meta or Kapso number belongs to (its
-- templates are listed under it, docs/templates.md §1.1, §1.2), when the
-- next periodic sync is due (claimed with one conditional upsert, so one
-- process syncs it) and what the last attempt said.
CREATE TABLE channel_template_syncs (
	channel_id	bigint PRIMARY KEY,
	org_id		bigint NOT NULL,
	waba_id		text NOT NULL DEFAULT '' CHECK (waba_id ~ '^[0-9]{0,32}$'),
	synced_at	timestamptz,
	next_sync_at	timestamptz NOT NULL DEFAULT now(),
	last_error	text NOT NULL DEFAULT '',
	n_templates	integer NOT NULL DEFAULT 0,
	FOREIGN KEY (org_id, channel_id) REFERENCES channels (org_id, id)
	    ON DELETE CASCADE
);

-- A hold: a chat's window closed while Parley had something to send.
-- Its messages wait in the outbox's 'held' state; the follow-up template
-- (template_message_id) is sent once per hold; the next inbound message
-- (a Continue tap or anything) releases it. At most one open hold per
-- chat.
CREATE TABLE window_holds (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	chat_id			bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	agent_id		bigint,
	continue_delivers	text NOT NULL DEFAULT 'latest'
				    CHECK (continue_delivers IN ('latest', 'all')),
	template_message_id	bigint REFERENCES messages (id) ON DELETE SET NULL,
	template_error		text NOT NULL DEFAULT '',
	opened_at		timestamptz NOT NULL DEFAULT now(),
	released_at		timestamptz,
	released_by		text NOT NULL DEFAULT ''
				    CHECK (released_by IN ('', 'continue', 'message')),
	released_by_message_id	bigint REFERENCES messages (id) ON DELETE SET NULL,
	UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX window_holds_open_idx ON window_holds (chat_id)
	WHERE released_at IS NULL;
CREATE INDEX window_holds_chat_idx ON window_holds (org_id, chat_id, id DESC);

-- Per agent, and optionally per channel: the follow-up template sent in
-- place of held messages, and (on the agent's row, channel_id NULL) what
-- a release delivers: the most recent held scheduled result of the last
-- 24 hours ('latest', as Bruin does) or everything held ('all').
CREATE TABLE agent_followups (
	org_id			bigint NOT NULL,
	agent_id		bigint NOT NULL,
	channel_id		bigint,
	template_name		text NOT NULL DEFAULT 'session_followup'
				    CHECK (length(template_name) BETWEEN 1 AND 512),
	language		text NOT NULL DEFAULT '' CHECK (length(language) <= 32),
	continue_delivers	text NOT NULL DEFAULT 'latest'
				    CHECK (continue_delivers IN ('latest', 'all')),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
	    ON DELETE CASCADE,
	FOREIGN KEY (org_id, channel_id) REFERENCES channels (org_id, id)
	    ON DELETE CASCADE
);
CREATE UNIQUE INDEX agent_followups_idx
	ON agent_followups (agent_id, COALESCE(channel_id, 0));

-- Scheduled runs and heartbeats: a cron expression (in a time zone) or an
-- interval, a prompt, and targets: every chat linked to the agent, chosen
-- chats, or one recipient (recipient '' = the first person who wrote to
-- the agent, resolved once into recipient_chat_id; else a number or group
-- id on recipient_channel_id). next_run_at is claimed with FOR UPDATE
-- SKIP LOCKED and moved past now() in the same transaction, so a slot
-- fires once across processes and a downtime's missed slots fire once.
CREATE TABLE schedules (
	id			bigserial PRIMARY KEY,
	org_id			bigint NOT NULL,
	agent_id		bigint NOT NULL,
	name			text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	kind			text NOT NULL CHECK (kind IN ('cron', 'interval')),
	cron			text NOT NULL DEFAULT '' CHECK (length(cron) <= 200),
	interval_s		integer NOT NULL DEFAULT 0
				    CHECK (interval_s BETWEEN 0 AND 31622400),
	tz			text NOT NULL DEFAULT 'UTC' CHECK (length(tz) BETWEEN 1 AND 64),
	prompt			text NOT NULL CHECK (length(prompt) BETWEEN 1 AND 8000),
	target			text NOT NULL
				    CHECK (target IN ('agent_chats', 'chats', 'recipient')),
	chat_ids		bigint[] NOT NULL DEFAULT '{}'
				    CHECK (cardinality(chat_ids) <= 100),
	recipient_channel_id	bigint,
	recipient		text NOT NULL DEFAULT '' CHECK (length(recipient) <= 256),
	recipient_chat_id	bigint REFERENCES chats (id) ON DELETE SET NULL,
	heartbeat		boolean NOT NULL DEFAULT false,
	enabled			boolean NOT NULL DEFAULT true,
	next_run_at		timestamptz,
	last_run_at		timestamptz,
	-- Deleted: never fires again and is no longer listed, but its runs
	-- and their deliveries stay (history; a run that already recorded its
	-- deliveries still sends them: no message left behind).
	deleted_at		timestamptz,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
	    ON DELETE CASCADE,
	FOREIGN KEY (org_id, recipient_channel_id) REFERENCES channels (org_id, id)
	    ON DELETE CASCADE
);
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE enabled;
CREATE INDEX schedules_agent_idx ON schedules (org_id, agent_id, id);

-- One run of a schedule (or "run now"): the agent's answer to the prompt
-- and, through messages.schedule_run_id, its deliveries per target. A
-- slot runs once: (schedule_id, slot_at) is unique for scheduled runs.
CREATE TABLE schedule_runs (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL,
	schedule_id	bigint NOT NULL,
	agent_id	bigint NOT NULL,
	slot_at		timestamptz NOT NULL,
	trigger		text NOT NULL DEFAULT 'schedule'
			    CHECK (trigger IN ('schedule', 'manual')),
	status		text NOT NULL DEFAULT 'queued'
			    CHECK (status IN ('queued', 'running', 'done', 'failed')),
	result		text,
	error		text NOT NULL DEFAULT '',
	llm_call_id	bigint,
	n_targets	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at	timestamptz,
	UNIQUE (org_id, id),
	FOREIGN KEY (org_id, schedule_id) REFERENCES schedules (org_id, id)
	    ON DELETE CASCADE
);
CREATE UNIQUE INDEX schedule_runs_slot_idx ON schedule_runs (schedule_id, slot_at)
	WHERE trigger = 'schedule';
CREATE INDEX schedule_runs_agent_idx ON schedule_runs (org_id, agent_id, id DESC);

-- The outbox: a message may be a template (its send spec, see
-- chat/outbox.h), may wait in 'held' in a hold, and may be a scheduled
-- run's delivery (one row per target chat and part, once).
-- The new status 'held' needs no CHECK change: 0019 dropped the status
-- CHECK (written only from the outbox's fixed set, chat/outbox.h).
ALTER TABLE messages
	ADD COLUMN template jsonb,
	ADD COLUMN hold_id bigint REFERENCES window_holds (id) ON DELETE SET NULL,
	ADD COLUMN schedule_run_id bigint REFERENCES schedule_runs (id)
	    ON DELETE SET NULL;
CREATE INDEX messages_held_idx ON messages (chat_id, id) WHERE status = 'held';
CREATE INDEX messages_hold_idx ON messages (hold_id, id) WHERE hold_id IS NOT NULL;
CREATE UNIQUE INDEX messages_schedule_part_idx
	ON messages (schedule_run_id, chat_id, part_no)
	WHERE schedule_run_id IS NOT NULL;

-- A scheduled run's model call is recorded as such (model/llmcall.c).
ALTER TABLE llm_calls DROP CONSTRAINT llm_calls_source_check;
ALTER TABLE llm_calls ADD CONSTRAINT llm_calls_source_check
	CHECK (source IN ('api', 'reply', 'panel', 'schedule'));
