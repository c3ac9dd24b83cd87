-- Conversation turns (issue 12): what each inbound item is, which answer
-- covered each message or why none will, the turn due on a chat, the
-- per-agent turn settings. Owners: chat/ingest.c (messages.kind, the
-- reason it settles at ingest, chats.turn_due_at when a message arrives),
-- worker/queue.c (the claim: chats.turn_due_at cleared, chats.turn_job),
-- chat/messages.c (answered_by, unanswered_reason after ingest),
-- chat/handoff.c (chats.outage_*), worker/turn.c through chat/chats.c
-- (chats.turn_reply_to), model/agent.c (the agents columns).

-- What an inbound item is (chat/ingest.h enum inbound_kind): 'message'
-- (answered by a turn), 'reaction' (reply_to_id: the message it targets),
-- 'system', 'unsupported', 'standby'; an outbound row written by ingest
-- is an 'echo' of what the business sent from elsewhere. Parley's own
-- rows are 'message'.
--
-- Every inbound row is SETTLED once it has an answer or a reason: no
-- message left behind is "no inbound row stays unsettled longer than a
-- turn takes" (tests/harness/harness.h hassert_none_left_behind).
-- answered_by: the first part of the answer that covered it (no foreign
-- key: parts are only ever deleted with their chat). unanswered_reason:
-- a sentence for the conversation view.
ALTER TABLE messages
	ADD COLUMN kind text NOT NULL DEFAULT 'message',
	ADD COLUMN answered_by bigint,
	ADD COLUMN unanswered_reason text;

-- The query that needs it: a turn's load, "the chat's messages nobody
-- has answered yet" (chat/messages.c chat_turn_load); only unsettled
-- inbound rows are in it, so it stays as small as the work waiting.
CREATE INDEX messages_pending_idx ON messages (chat_id, id)
	WHERE direction = 'in' AND answered_by IS NULL
	  AND unanswered_reason IS NULL;

-- Rows from before turns: answered when a part replies to them, else
-- settled as such, unless a reply job still waits for them (its handler
-- hands the message to its chat's turn: worker/turn.c).
UPDATE messages i SET answered_by = p.first
  FROM (SELECT reply_to_id, min(id) AS first FROM messages
	 WHERE direction = 'out' AND reply_to_id IS NOT NULL
	 GROUP BY reply_to_id) p
 WHERE i.id = p.reply_to_id AND i.direction = 'in';
UPDATE messages i
   SET unanswered_reason = 'Not answered (received before conversation '
			   'turns).'
 WHERE i.direction = 'in' AND i.answered_by IS NULL
   AND NOT EXISTS (SELECT 1 FROM jobs j
		    WHERE j.kind = 'reply' AND j.status IN ('queued', 'running')
		      AND j.payload->>'message_id' = i.id::text);

-- A chat's turn. turn_due_at: a turn should start then (NULL: none is
-- waiting); ingest sets it to now + the agent's debounce for every
-- message, so a burst is one turn; the claim clears it. turn_job: the
-- job that holds the turn (the chat is busy while that job runs under
-- its lease; a done or dead job holds nothing). turn_reply_to: the
-- inbound message the answer being sent replies to, so a turn resumed
-- after a crash finds its unsent parts. outage_since: the model has
-- failed this chat's turns since then (NULL: it answers);
-- outage_noticed: the user was told it takes longer than usual.
ALTER TABLE chats
	ADD COLUMN turn_due_at timestamptz,
	ADD COLUMN turn_job bigint,
	ADD COLUMN turn_reply_to bigint,
	ADD COLUMN outage_since timestamptz,
	ADD COLUMN outage_noticed boolean NOT NULL DEFAULT false;
-- The query that needs it: the claim's "the oldest due turn" (and the
-- pool's "when is the next one due"), over due chats only.
CREATE INDEX chats_turn_due_idx ON chats (turn_due_at)
	WHERE turn_due_at IS NOT NULL;

-- One turn per chat is held by the chat (turn_job), not by its thread.
ALTER TABLE threads
	DROP COLUMN busy_job,
	DROP COLUMN busy_until;

-- Per agent: debounce_ms, the wait after the latest message before the
-- model is asked (0: none); busy_mode, what a message arriving while the
-- model works does ('restart': the model call is aborted and the turn
-- starts again with everything; 'follow_up': a second turn answers it
-- right after); busy_ack, whether such a message is acknowledged at once
-- (the "still working" text); outage_window_s, how long upstream
-- failures are waited out before a person is asked; outage_notice_s,
-- after how long of it the user hears that it takes longer than usual.
ALTER TABLE agents
	ADD COLUMN debounce_ms integer NOT NULL DEFAULT 1500
	    CHECK (debounce_ms BETWEEN 0 AND 60000),
	ADD COLUMN busy_mode text NOT NULL DEFAULT 'restart'
	    CHECK (busy_mode IN ('restart', 'follow_up')),
	ADD COLUMN busy_ack boolean NOT NULL DEFAULT false,
	ADD COLUMN outage_window_s integer NOT NULL DEFAULT 600
	    CHECK (outage_window_s BETWEEN 1 AND 86400),
	ADD COLUMN outage_notice_s integer NOT NULL DEFAULT 60
	    CHECK (outage_notice_s BETWEEN 1 AND 86400);

-- A handoff is now the end of an outage window, not a count of failures.
ALTER TABLE orgs DROP COLUMN gateway_failure_limit;
ALTER TABLE chats DROP COLUMN gateway_failures;
