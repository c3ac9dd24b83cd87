-- One outbox (chat/outbox.c owns the outbound rows of messages).
--
-- Resend is once-only: a failed outbound message points at the new row
-- that resent it, set by one conditional UPDATE, so two Resends of one
-- row send once and the failed row shows "resent as …" instead of its
-- button.
ALTER TABLE messages
	ADD COLUMN resent_as_id bigint REFERENCES messages (id) ON DELETE SET NULL;

-- Reply jobs are enqueued by worker/queue.c itself (queue_reply_jobs);
-- the function that let chat/ spell the job's kind in its own SQL goes.
DROP FUNCTION enqueue_job(bigint, text, jsonb);
