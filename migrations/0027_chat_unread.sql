-- A chat's unread count on its row (issue 17). The conversations list
-- counted each page's unread messages per view: for each of its 51 chats
-- up to 100 inbound messages after chats.human_seen_at, each on its own
-- page of messages; on a large dataset that was most of a search's
-- buffers and time (bench/README.md "Conversations", 2026-12-07).
--
-- unread: the inbound messages (direction 'in', of any kind) stored
-- since a person last opened the chat in the panel; not capped here (the
-- list shows at most 100, chat/review.c). Owner chat/ingest.c adds the
-- inbound messages it stores in its chat upsert (the only writer of
-- inbound messages); chat/review.c review_mark_seen subtracts the count
-- the person was shown. Messages are deleted only with their chat, so no
-- delete needs to lower it. No trigger: the webhook's statement already
-- rewrites the row.
ALTER TABLE chats ADD COLUMN unread integer NOT NULL DEFAULT 0;

-- What the list showed until now, uncapped: inbound messages after
-- human_seen_at (created_at is the storing transaction's now()).
UPDATE chats c SET unread = u.n
  FROM (SELECT m.chat_id, count(*) AS n
	  FROM messages m JOIN chats k ON k.id = m.chat_id
	 WHERE m.direction = 'in'
	   AND m.created_at > COALESCE(k.human_seen_at, '-infinity')
	 GROUP BY m.chat_id) u
 WHERE c.id = u.chat_id;
