-- bench/ingest.sql: pgbench's version of the webhooks' writes, the ceiling
-- bench/ingest compares Parley against. It is chat/ingest.c's store()
-- statement verbatim (one statement per group-commit batch: upsert the
-- chats with their due turn, insert the messages, dedupe on the provider
-- id, one NOTIFY), for :batch messages in one statement and so in one
-- transaction: batch=1 is one message per transaction, batch=16 what
-- group commit could reach. Parley's arrays arrive as text parameters;
-- here they are built from generate_series. The message ids are distinct
-- (run, client, counter, position) and the senders cycle over the same
-- 10,000 numbers as bench/loadgen's.
--
-- Variables from bench/run.sh (pgbench -D): org, channel, run, batch, i=0.
\set chat random(0, 9999)
\set i :i + 1
\set sid :client_id * 1000000000 + :i
WITH g AS (
  SELECT k, (:chat + (k - 1) * 613) % 10000 AS chat
    FROM generate_series(1, :batch) k
), i AS (
  SELECT * FROM unnest(
         ARRAY(SELECT :org::bigint FROM g ORDER BY k),
         ARRAY(SELECT :channel::bigint FROM g ORDER BY k),
         ARRAY(SELECT 'SMpg' || :run || 'x' || :sid || 'k' || k FROM g ORDER BY k),
         ARRAY(SELECT '+1555' || (1000000 + chat) FROM g ORDER BY k),
         ARRAY(SELECT 'dm'::text FROM g ORDER BY k),
         ARRAY(SELECT 'Bench ' || chat FROM g ORDER BY k),
         ARRAY(SELECT '+1555' || (1000000 + chat) FROM g ORDER BY k),
         ARRAY(SELECT 'Bench ' || chat FROM g ORDER BY k),
         ARRAY(SELECT 'bench message ' || :i || ' [bench-' || chat || ']' FROM g ORDER BY k),
         ARRAY(SELECT NULL::text FROM g ORDER BY k),
         ARRAY(SELECT 0::bigint FROM g ORDER BY k),
         ARRAY(SELECT ''::text FROM g ORDER BY k),
         ARRAY(SELECT 'message'::text FROM g ORDER BY k),
         ARRAY(SELECT true FROM g ORDER BY k),
         ARRAY(SELECT NULL::text FROM g ORDER BY k),
         ARRAY(SELECT NULL::text FROM g ORDER BY k),
         ARRAY(SELECT 'in'::text FROM g ORDER BY k),
         ARRAY(SELECT ''::text FROM g ORDER BY k),
         ARRAY(SELECT ''::text FROM g ORDER BY k),
         ARRAY(SELECT ''::text FROM g ORDER BY k),
         ARRAY(SELECT '+1555' || (1000000 + chat) FROM g ORDER BY k),
         ARRAY(SELECT true FROM g ORDER BY k))
    WITH ORDINALITY AS t(org, channel, pid, key, chat_kind,
         display, sender, sender_name, body, media, ts,
         transcript, kind, due, reason, target, direction,
         user_id, parent_id, username, phone, counts, ord)
), f AS (
  SELECT i.*, COALESCE((SELECT a.debounce_ms FROM agents a
          WHERE a.org_id = i.org AND a.id = ch.default_agent_id),
         0) AS debounce_ms,
         COALESCE((SELECT k.external_id FROM chats k
          WHERE i.chat_kind = 'dm' AND i.user_id <> ''
            AND k.org_id = i.org AND k.channel_id = i.channel
            AND k.kind = 'dm' AND k.contact_user_id = i.user_id),
         i.key) AS chat_key
    FROM i JOIN channels ch ON ch.org_id = i.org
         AND ch.id = i.channel
   WHERE NOT EXISTS (SELECT 1 FROM messages m
          WHERE m.channel_id = i.channel
            AND m.provider_message_id = i.pid)
), c AS (
  INSERT INTO chats AS c (org_id, channel_id, kind, external_id,
         display_name, last_message_at, last_inbound_at,
         turn_due_at, contact_phone, contact_user_id,
         contact_parent_user_id, contact_username, unread)
  SELECT org, channel, min(chat_kind), chat_key,
         COALESCE(max(display) FILTER (WHERE display <> ''), ''),
         now(),
         CASE WHEN bool_or(direction = 'in') THEN now() END,
         CASE WHEN bool_or(due) THEN now() + make_interval(
             secs => max(debounce_ms) / 1000.0) END,
         (array_agg(phone ORDER BY ord DESC) FILTER (WHERE
             chat_kind = 'dm' AND phone <> ''))[1],
         (array_agg(user_id ORDER BY ord DESC) FILTER (WHERE
             chat_kind = 'dm' AND user_id <> ''))[1],
         (array_agg(parent_id ORDER BY ord DESC) FILTER (WHERE
             chat_kind = 'dm' AND parent_id <> ''))[1],
         (array_agg(username ORDER BY ord DESC) FILTER (WHERE
             chat_kind = 'dm' AND username <> ''))[1],
         count(*) FILTER (WHERE counts)
    FROM f GROUP BY org, channel, chat_key
   ORDER BY channel, chat_key
  ON CONFLICT (channel_id, external_id) DO UPDATE
     SET display_name = CASE WHEN EXCLUDED.display_name <> ''
             THEN EXCLUDED.display_name ELSE c.display_name END,
         last_message_at = now(),
         last_inbound_at = COALESCE(EXCLUDED.last_inbound_at,
             c.last_inbound_at),
         turn_due_at = CASE
             WHEN EXCLUDED.turn_due_at IS NULL THEN c.turn_due_at
             WHEN c.agent_id IS NULL THEN EXCLUDED.turn_due_at
             ELSE now() + make_interval(secs => COALESCE((
                 SELECT a.debounce_ms FROM agents a
                  WHERE a.org_id = c.org_id AND a.id = c.agent_id),
                 0) / 1000.0) END,
         contact_phone = COALESCE(EXCLUDED.contact_phone,
             c.contact_phone),
         contact_user_id = COALESCE(EXCLUDED.contact_user_id,
             c.contact_user_id),
         contact_parent_user_id = COALESCE(
             EXCLUDED.contact_parent_user_id,
             c.contact_parent_user_id),
         contact_username = COALESCE(EXCLUDED.contact_username,
             c.contact_username),
         unread = c.unread + EXCLUDED.unread
   WHERE c.org_id = EXCLUDED.org_id
  RETURNING c.id, c.channel_id, c.external_id,
         c.turn_due_at IS NOT NULL AS due
), m AS (
  INSERT INTO messages (org_id, channel_id, chat_id, thread_id,
         direction, kind, provider_message_id, sender,
         sender_name, body, media, provider_ts, status,
         transcript, unanswered_reason, reply_to_id,
         sender_user_id, sender_username)
  SELECT f.org, f.channel, c.id,
         (SELECT t.id FROM threads t WHERE t.org_id = f.org
             AND t.chat_id = c.id AND t.closed_at IS NULL),
         f.direction, f.kind, f.pid, f.sender, f.sender_name,
         f.body, COALESCE(f.media::jsonb, '[]'),
         CASE WHEN f.ts > 0 THEN to_timestamp(f.ts) END,
         CASE WHEN f.direction = 'in' THEN 'received'
              ELSE 'sent' END,
         f.transcript, f.reason,
         (SELECT r.id FROM messages r
           WHERE f.target IS NOT NULL AND r.channel_id = f.channel
             AND r.provider_message_id = f.target),
         NULLIF(f.user_id, ''), NULLIF(f.username, '')
    FROM f JOIN c ON c.channel_id = f.channel
         AND c.external_id = f.chat_key
   ORDER BY f.ord
  ON CONFLICT (channel_id, provider_message_id)
     WHERE provider_message_id IS NOT NULL DO NOTHING
  RETURNING id, channel_id, provider_message_id
)
 SELECT COALESCE(m.id, 0),
        (SELECT count(pg_notify('parley_jobs', ''))
           FROM (SELECT 1 FROM c WHERE c.due LIMIT 1) d)
   FROM i LEFT JOIN m ON m.channel_id = i.channel
        AND m.provider_message_id = i.pid
  ORDER BY i.ord;
