-- Media downloads, voice-note transcripts, and a per-chat search document.
-- Owners: model/media.c (media_files), chat/threads.c and llm/transcribe.c
-- callers (messages.transcript), chat/review.c (reads chats.search_terms;
-- the trigger below is its only writer), model/agent.c
-- (agents.transcription_model).

-- A voice note's words, from the provider (Kapso sends them) or from the
-- agent's provider's /audio/transcriptions. Searched like the body.
ALTER TABLE messages ADD COLUMN transcript text NOT NULL DEFAULT '';
DROP INDEX messages_body_tsv_idx;
ALTER TABLE messages DROP COLUMN body_tsv;
ALTER TABLE messages ADD COLUMN search_tsv tsvector
	GENERATED ALWAYS AS (to_tsvector('simple', body || ' ' || transcript))
	STORED;
CREATE INDEX messages_search_tsv_idx ON messages USING gin (search_tsv);

-- Every distinct word of a chat's messages (positions stripped), so a
-- search for a word found in many chats can walk chats in list order and
-- test each with one value instead of reading its messages
-- (chat/review.c). NULL means "too many words to keep": review.c then
-- reads that chat's messages. Kept by the trigger below on every insert
-- and on a transcript or body change; the UPDATE is skipped when the
-- message brings no new word, so a chat row is rewritten only when its
-- vocabulary grows.
ALTER TABLE chats ADD COLUMN search_terms tsvector DEFAULT '';
-- A walk reads this value for every chat it passes: lz4 decompresses it
-- ~5x faster than the default pglz (2 µs instead of 10 per chat at ~200
-- words). A server built without lz4 keeps pglz.
DO $$
BEGIN
	ALTER TABLE chats ALTER COLUMN search_terms SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
	RAISE NOTICE 'lz4 is not available: chats.search_terms uses pglz';
END $$;

CREATE FUNCTION chats_search_terms_add() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	doc tsvector := strip(NEW.search_tsv);
BEGIN
	IF length(doc) = 0 THEN
		RETURN NULL;
	END IF;
	UPDATE chats
	   SET search_terms = CASE
		WHEN length(search_terms) + length(doc) > 4000 THEN NULL
		ELSE strip(search_terms || doc) END
	 WHERE id = NEW.chat_id
	   AND search_terms IS NOT NULL
	   -- a sorted merge, linear in both: only when a word is new
	   AND length(search_terms || doc) > length(search_terms);
	RETURN NULL;
END $$;

CREATE TRIGGER messages_search_terms
	AFTER INSERT OR UPDATE OF body, transcript ON messages
	FOR EACH ROW EXECUTE FUNCTION chats_search_terms_add();

-- Existing chats: their words so far (NULL when over the cap).
UPDATE chats c
   SET search_terms = CASE WHEN length(s.terms) > 4000 THEN NULL
			   ELSE s.terms END
  FROM (SELECT chat_id,
	       strip(to_tsvector('simple', string_agg(body || ' ' ||
		   transcript, ' '))) AS terms
	  FROM messages GROUP BY chat_id) s
 WHERE c.id = s.chat_id;

-- A downloaded media item of a message: item n of messages.media, fetched
-- from the provider (Twilio URL with Basic auth, Meta/Kapso media id) by
-- the reply job or on first view, stored here so the review can show it
-- after the provider's copy expires (Meta: 7 days). 'failed' keeps the
-- sentence for the timeline; a later view may try again.
CREATE TABLE media_files (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	message_id	bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	n		integer NOT NULL CHECK (n BETWEEN 0 AND 9),
	status		text NOT NULL DEFAULT 'pending'
			    CHECK (status IN ('pending', 'stored', 'failed')),
	content_type	text NOT NULL DEFAULT '',
	byte_size	bigint NOT NULL DEFAULT 0,
	sha256		text NOT NULL DEFAULT '',
	data		bytea,
	error		text NOT NULL DEFAULT '',
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (message_id, n),
	CHECK (status <> 'stored' OR data IS NOT NULL)
);
CREATE INDEX media_files_org_idx ON media_files (org_id, message_id);

-- Voice notes: the model name to transcribe with on the agent's provider
-- (e.g. whisper-1); '' means voice notes are not transcribed.
ALTER TABLE agents ADD COLUMN transcription_model text NOT NULL DEFAULT ''
	CHECK (length(transcription_model) <= 100);
