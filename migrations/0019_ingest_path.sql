-- The webhook's transaction does only what must happen before the 2xx
-- (issue 17): the message, the chat upsert and its due turn, one NOTIFY
-- per batch (chat/ingest.c). Conversation search moves off it to a
-- batched follow-up (chat/search.c, owner of message_search,
-- search_state and chats.search_terms), and every constraint and index
-- left on messages and chats is there for a query or a rule that needs
-- it, said beside it below.

-- --- search, maintained after the fact -----------------------------------

-- A message's words (body and transcript), written by the indexer
-- (chat/search.c) shortly after the message is stored, or at once when a
-- transcript is stored. The key serves the indexer's "not indexed yet"
-- test and the broad-word walk's "a message of this chat has it"
-- (chat_id first); the GIN index serves the word lookups
-- (chat/review.c). A message deleted with its chat takes its row along.
CREATE TABLE message_search (
	chat_id		bigint NOT NULL,
	message_id	bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	org_id		bigint NOT NULL,
	tsv		tsvector NOT NULL,
	indexed_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX message_search_tsv_idx ON message_search USING gin (tsv);

-- The indexer's progress (one row). Every message with id <= upto is
-- indexed. pending_upto / pending_xmax: a candidate for upto, good once
-- every transaction running when it was read has ended (chat/search.c
-- says why that makes it safe against ids that commit out of order).
CREATE TABLE search_state (
	id		integer PRIMARY KEY CHECK (id = 1),
	upto		bigint NOT NULL DEFAULT 0,
	pending_upto	bigint,
	pending_xmax	xid8
);
INSERT INTO search_state (id) VALUES (1);

-- What the trigger of 0007 did, done by the indexer instead: no trigger
-- on the webhook's transaction, no plpgsql planned per call, no second
-- update of the chat row.
DROP TRIGGER messages_search_terms ON messages;
DROP FUNCTION chats_search_terms_add();

-- The words of every message stored so far.
INSERT INTO message_search (chat_id, message_id, org_id, tsv)
SELECT chat_id, id, org_id, search_tsv FROM messages;
UPDATE search_state SET upto = COALESCE((SELECT max(id) FROM messages), 0);

DROP INDEX messages_search_tsv_idx;
ALTER TABLE messages DROP COLUMN search_tsv;

-- Documents' words (0017): messages.media_terms is still kept by
-- media_files_terms_sync, and the indexer adds it to a message's words
-- (chat/search.c). A document is read after its message was stored,
-- often after the indexer passed it, so the sync now also puts the
-- message's words (body, transcript, documents) in message_search and
-- any new word in its chat's word set, as search_reindex_message does
-- for a transcript. Not on the webhook's path: media rows are written by
-- the worker (chat/media.c), never by ingest.
CREATE OR REPLACE FUNCTION media_files_terms_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	acc tsvector := '';
	t tsvector;
	w tsvector;
	cid bigint;
BEGIN
	IF TG_OP = 'UPDATE' AND
	    NEW.text_terms IS NOT DISTINCT FROM OLD.text_terms THEN
		RETURN NULL;
	END IF;
	FOR t IN SELECT text_terms FROM media_files
		  WHERE message_id = NEW.message_id AND text_terms IS NOT NULL
		  ORDER BY n LOOP
		acc := acc || t;
	END LOOP;
	UPDATE messages SET media_terms = acc
	 WHERE id = NEW.message_id AND media_terms <> acc
	RETURNING chat_id,
	    to_tsvector('simple', body || ' ' || transcript) || media_terms
	  INTO cid, w;
	IF cid IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO message_search AS s (chat_id, message_id, org_id, tsv)
	SELECT m.chat_id, m.id, m.org_id, w
	  FROM messages m WHERE m.id = NEW.message_id
	ON CONFLICT (chat_id, message_id) DO UPDATE
	   SET tsv = EXCLUDED.tsv, indexed_at = clock_timestamp();
	UPDATE chats c
	   SET search_terms = CASE
	       WHEN length(c.search_terms || strip(w)) > 4000
	       THEN NULL ELSE c.search_terms || strip(w) END
	 WHERE c.id = cid AND c.search_terms IS NOT NULL
	   AND length(c.search_terms || strip(w)) > length(c.search_terms);
	RETURN NULL;
END $$;

-- --- messages: what each constraint and index is for ----------------------
--
-- Kept:
--   messages_pkey                    every lookup by id
--   messages_provider_id_idx         ingest's dedupe (ON CONFLICT) and
--                                    status callbacks by provider id
--   messages_reply_part_idx          a reply's parts, unique per part
--                                    (outbox_record_reply's ON CONFLICT)
--   messages_chat_idx (chat_id, id)  a chat's timeline, its last message
--                                    (the conversations list), sandbox
--   messages_thread_idx              a thread's history for the model
--   messages_pending_idx (0018)      a turn's unanswered messages
-- Dropped: messages_org_chat_idx (org_id, chat_id, id), which no query
-- needs beside messages_chat_idx (every query naming org_id also names
-- chat_id or id).
DROP INDEX messages_org_chat_idx;

-- Foreign keys: one check per inserted message instead of four. The
-- chat (org_id, chat_id) is the only parent a message needs: deleting an
-- organisation or a channel deletes its chats, and a chat its messages;
-- the pair also proves the message is in its chat's organisation (and
-- puts chats' UNIQUE (org_id, id) to use). channel_id and thread_id are
-- written by the owners from the chat and its open thread in the same
-- statement; a thread is only ever deleted with its chat.
ALTER TABLE messages
	DROP CONSTRAINT messages_org_id_fkey,
	DROP CONSTRAINT messages_channel_id_fkey,
	DROP CONSTRAINT messages_chat_id_fkey,
	DROP CONSTRAINT messages_thread_id_fkey;
ALTER TABLE messages
	ADD CONSTRAINT messages_chat_fkey FOREIGN KEY (org_id, chat_id)
	    REFERENCES chats (org_id, id) ON DELETE CASCADE;
-- reply_to_id, author_user_id and resent_as_id keep theirs: NULL on
-- every inbound message (no check runs), and each keeps its ON DELETE.

-- CHECKs evaluated on every insert and update for values only the owning
-- modules write, each from a fixed set in C: direction ('in'|'out':
-- ingest, outbox), status (the outbox's states, chat/outbox.h).
ALTER TABLE messages
	DROP CONSTRAINT messages_direction_check,
	DROP CONSTRAINT messages_status_check;

-- --- chats ---------------------------------------------------------------
--
-- Kept:
--   chats_pkey
--   chats_channel_id_external_id_key  ingest's upsert (ON CONFLICT)
--   chats_org_id_id_key               the target of messages' foreign key
--   chats_list_idx                    the conversations list, newest first
--   chats_status_idx                  the list by status, waiting counts
--   chats_turn_due_idx (0018)         the claim of due turns
-- Dropped: chats_org_idx (org_id, last_message_at DESC), a prefix of
-- chats_list_idx that no query needs on its own. Every chat upsert
-- rewrites each index entry (last_message_at changes), so each index
-- costs every webhook.
DROP INDEX chats_org_idx;

-- CHECKs re-evaluated on every update of the row (each webhook updates
-- it) for values written from fixed sets in C: kind ('dm'|'group':
-- ingest, chat_link_agent), status (chat/handoff.c's states), and the
-- external id's length (the webhooks bound ids to WEBHOOK_ID_MAX bytes,
-- the sandbox builds its own).
ALTER TABLE chats
	DROP CONSTRAINT chats_kind_check,
	DROP CONSTRAINT chats_external_id_check,
	DROP CONSTRAINT chats_status_check;
