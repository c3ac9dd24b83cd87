-- Media in an S3-compatible store, per-organisation retention, the
-- derived images (vision) and the text extracted from documents, and that
-- text in the conversation search (issue 15).
-- Owners: model/media.c (media_files, media_orphans), model/org.c
-- (orgs.media_retention_days); the triggers below keep messages.media_terms
-- (read by the search_tsv generated column, as transcripts are).

-- Where a stored item's bytes are. s3_key = '': in this database (data,
-- thumb, vision, text_data); else in bucket s3_bucket of the configured
-- store: the original at s3_key, its preview at s3_key || '.thumb', the
-- vision image at s3_key || '.vision', a long extracted text at
-- s3_key || '.txt' (text_data NULL). 'expired': deleted by the
-- organisation's retention; only the row's metadata stays, as the
-- timeline's "media expired".
ALTER TABLE media_files
	DROP CONSTRAINT media_files_status_check,
	DROP CONSTRAINT media_files_check,
	ADD CONSTRAINT media_files_status_check CHECK (status IN
	    ('pending', 'stored', 'failed', 'expired')),
	ADD COLUMN s3_bucket text NOT NULL DEFAULT '',
	ADD COLUMN s3_key text NOT NULL DEFAULT '',
	ADD CONSTRAINT media_files_stored_check CHECK (status <> 'stored'
	    OR data IS NOT NULL OR s3_key <> ''),
	ADD CONSTRAINT media_files_s3_check CHECK ((s3_key = '') =
	    (s3_bucket = '')),
	-- bytes of the preview (0: none), so a row in S3 knows it has one
	ADD COLUMN thumb_size integer NOT NULL DEFAULT 0,
	-- a downscaled JPEG for vision models (util/thumb.h), made once
	ADD COLUMN vision bytea,
	ADD COLUMN vision_size integer NOT NULL DEFAULT 0,
	-- a document's text: '' not a document, 'ok' extracted (text_chars
	-- characters, text_truncated when a cap cut it), 'failed' with the
	-- sentence in text_error
	ADD COLUMN text_status text NOT NULL DEFAULT ''
	    CHECK (text_status IN ('', 'ok', 'failed')),
	ADD COLUMN text_error text NOT NULL DEFAULT '',
	ADD COLUMN text_chars integer NOT NULL DEFAULT 0,
	ADD COLUMN text_truncated boolean NOT NULL DEFAULT false,
	ADD COLUMN text_size integer NOT NULL DEFAULT 0,
	ADD COLUMN text_data text,
	-- the text's words for the conversation search (positions stripped)
	ADD COLUMN text_terms tsvector,
	ADD COLUMN expired_at timestamptz;
UPDATE media_files SET thumb_size = length(thumb) WHERE thumb IS NOT NULL;
-- Retention walks each organisation's oldest live items.
CREATE INDEX media_files_age_idx ON media_files (org_id, created_at)
	WHERE status <> 'expired';

-- Objects in the store that nothing references (any more, or yet):
-- written in the same statement that drops a reference (the trigger
-- below), or before an upload as an intent (due later), and deleted by
-- the media sweep (chat/media.c) once the store has deleted the object.
-- So a crash between a database write and a store call never leaves an
-- object behind for good. No foreign key: the objects outlive their rows.
CREATE TABLE media_orphans (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL,
	bucket		text NOT NULL,
	key		text NOT NULL,
	due_at		timestamptz NOT NULL DEFAULT now(),
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_orphans_due_idx ON media_orphans (due_at);
CREATE INDEX media_orphans_key_idx ON media_orphans (bucket, key);

-- A row that stops referencing its objects (deleted, also by a cascade;
-- expired; moved to the database or to other keys) hands them to
-- media_orphans; a row that starts referencing objects takes them out
-- (they were intents). Every part is named: deleting an object that was
-- never written is harmless.
CREATE FUNCTION media_files_s3_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	parts text[] := ARRAY['', '.thumb', '.vision', '.txt'];
BEGIN
	IF TG_OP <> 'INSERT' AND OLD.s3_key <> '' AND (TG_OP = 'DELETE'
	    OR NEW.s3_key <> OLD.s3_key OR NEW.s3_bucket <> OLD.s3_bucket) THEN
		INSERT INTO media_orphans (org_id, bucket, key)
		SELECT OLD.org_id, OLD.s3_bucket, OLD.s3_key || p
		  FROM unnest(parts) p;
	END IF;
	IF TG_OP <> 'DELETE' AND NEW.s3_key <> '' AND (TG_OP = 'INSERT'
	    OR NEW.s3_key <> OLD.s3_key OR NEW.s3_bucket <> OLD.s3_bucket) THEN
		DELETE FROM media_orphans
		 WHERE bucket = NEW.s3_bucket
		   AND key IN (SELECT NEW.s3_key || p FROM unnest(parts) p);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER media_files_s3_track
	AFTER INSERT OR UPDATE OF s3_key, s3_bucket OR DELETE ON media_files
	FOR EACH ROW EXECUTE FUNCTION media_files_s3_track();

-- Documents' words in the conversation search, like transcripts: the
-- message's search_tsv now includes media_terms, the union of its items'
-- text_terms, kept by the trigger below (messages are chat/threads.c's;
-- this column is written only here).
ALTER TABLE messages ADD COLUMN media_terms tsvector NOT NULL DEFAULT '';
DROP INDEX messages_search_tsv_idx;
ALTER TABLE messages DROP COLUMN search_tsv;
ALTER TABLE messages ADD COLUMN search_tsv tsvector
	GENERATED ALWAYS AS (to_tsvector('simple', body || ' ' || transcript)
	    || media_terms) STORED;
CREATE INDEX messages_search_tsv_idx ON messages USING gin (search_tsv);
-- The chat's word set grows with the documents' words too.
DROP TRIGGER messages_search_terms ON messages;
CREATE TRIGGER messages_search_terms
	AFTER INSERT OR UPDATE OF body, transcript, media_terms ON messages
	FOR EACH ROW EXECUTE FUNCTION chats_search_terms_add();

CREATE FUNCTION media_files_terms_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	acc tsvector := '';
	t tsvector;
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
	 WHERE id = NEW.message_id AND media_terms <> acc;
	RETURN NULL;
END $$;
CREATE TRIGGER media_files_terms_sync
	AFTER INSERT OR UPDATE OF text_terms ON media_files
	FOR EACH ROW EXECUTE FUNCTION media_files_terms_sync();

-- Days a media item is kept after it arrived; NULL: forever.
ALTER TABLE orgs ADD COLUMN media_retention_days integer
	CHECK (media_retention_days BETWEEN 1 AND 36500);
