-- bench/ingest.sql: pgbench's version of one Twilio webhook's writes, the
-- ceiling bench/ingest compares Parley against. It is ingest_store's
-- transaction for one message, parameters inlined: chat_ingest's
-- statement (src/chat/ingest.c: upsert the chat, insert the message,
-- dedupe on the provider id) and queue_reply_jobs's (src/worker/queue.c:
-- the reply job and its NOTIFY), one transaction per message. The
-- message ids are distinct (run, client, counter) and the senders cycle
-- over the same 10,000 numbers as bench/loadgen's.
--
-- Variables from bench/run.sh (pgbench -D): org, channel, run, i=0.
\set chat random(0, 9999)
\set i :i + 1
\set sid :client_id * 1000000000 + :i
BEGIN;
WITH chat AS (
  INSERT INTO chats AS c (org_id, channel_id, kind, external_id,
         display_name, last_message_at, last_inbound_at)
  SELECT :org, ch.id, 'dm', '+1555'::text || (1000000 + :chat), 'Bench '::text || :chat, now(), now()
    FROM channels ch
   WHERE ch.org_id = :org AND ch.id = :channel
     AND NOT EXISTS (SELECT 1 FROM messages
          WHERE channel_id = :channel AND provider_message_id = 'SMpg'::text || :run || 'x' || :sid)
  ON CONFLICT (channel_id, external_id) DO UPDATE
     SET display_name = CASE WHEN EXCLUDED.display_name <> ''
             THEN EXCLUDED.display_name ELSE c.display_name END,
         last_message_at = now(), last_inbound_at = now()
   WHERE c.org_id = :org
  RETURNING c.id
), msg AS (
  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,
         direction, provider_message_id, sender, sender_name,
         body, media, provider_ts, status)
  SELECT :org, :channel, chat.id,
         (SELECT t.id FROM threads t WHERE t.org_id = :org
             AND t.chat_id = chat.id AND t.closed_at IS NULL),
         'in', 'SMpg'::text || :run || 'x' || :sid, '+1555'::text || (1000000 + :chat), 'Bench '::text || :chat,
         'bench message '::text || :i || ' [bench-' || :chat || ']', COALESCE(NULL::jsonb, '[]'),
         CASE WHEN 0::bigint > 0 THEN to_timestamp(0::bigint) END,
         'received'
    FROM chat
  ON CONFLICT (channel_id, provider_message_id)
     WHERE provider_message_id IS NOT NULL DO NOTHING
  RETURNING id
)
 SELECT msg.id AS mid FROM msg
\gset
WITH j AS (
  INSERT INTO jobs (org_id, kind, payload)
  SELECT t.org_id, 'reply', jsonb_build_object('message_id', t.message_id)
    FROM unnest(ARRAY[:org]::bigint[], ARRAY[:mid]::bigint[])
         AS t(org_id, message_id)
  RETURNING id)
 SELECT pg_notify('parley_jobs', '') WHERE EXISTS (SELECT 1 FROM j);
COMMIT;
