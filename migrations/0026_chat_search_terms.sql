-- A chat's word set moves off the chats row (issue 17). The indexer
-- (chat/search.c) grew chats.search_terms in its round's statement, so it
-- held the row lock of every chat that got a new word until its round
-- committed (10–40 ms for a round of a few hundred messages), and a
-- webhook's upsert of the same chat (chat/ingest.c) waited for it: the
-- p99 of webhooks at half the max rate was that wait (bench/README.md,
-- 2026-12-07). In a table of its own the indexer locks only rows no
-- webhook writes.
--
-- One row per chat that has words (none: nothing can match it); terms is
-- NULL when the set grew past the cap (4,000 words: chat/review.c then
-- reads the chat's messages), lz4 where the server has it (the broad-word
-- walk decompresses one value per chat it passes). Written by the indexer
-- and media_files_terms_sync below, read by chat/review.c's walk; owner
-- chat/search.c. A chat's row goes with the chat.
CREATE TABLE chat_search_terms (
	chat_id		bigint PRIMARY KEY REFERENCES chats (id) ON DELETE CASCADE,
	terms		tsvector
);
DO $$
BEGIN
	ALTER TABLE chat_search_terms ALTER COLUMN terms SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
	RAISE NOTICE 'lz4 is not available: chat_search_terms.terms uses pglz';
END $$;

INSERT INTO chat_search_terms (chat_id, terms)
SELECT id, search_terms FROM chats
 WHERE search_terms IS NULL OR length(search_terms) > 0;

-- What 0019's sync did to chats.search_terms, to the new table.
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
	IF length(w) > 0 THEN
		INSERT INTO chat_search_terms AS c (chat_id, terms)
		VALUES (cid, CASE WHEN length(strip(w)) > 4000 THEN NULL
				  ELSE strip(w) END)
		ON CONFLICT (chat_id) DO UPDATE
		   SET terms = CASE
		       WHEN length(c.terms || EXCLUDED.terms) > 4000 THEN NULL
		       ELSE c.terms || EXCLUDED.terms END
		 WHERE c.terms IS NOT NULL
		   AND (EXCLUDED.terms IS NULL OR
			length(c.terms || EXCLUDED.terms) > length(c.terms));
	END IF;
	RETURN NULL;
END $$;

ALTER TABLE chats DROP COLUMN search_terms;
