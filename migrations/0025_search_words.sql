-- How many messages hold each word (issue 17), for conversation search's
-- choice of plan (chat/review.c search_is_broad). Until now the choice
-- counted a word's matches up to 500 through message_search's GIN index,
-- but PostgreSQL fetches each matching heap row for that count (15.18
-- here: the bitmap scan's "skip fetch" is disabled in the back branches'
-- source, `can_skip_fetch = false`), so it read up to 500 scattered
-- pages of message_search: 10–30 ms per search (bench/README.md
-- "Conversations"). A word counted here at
-- SEARCH_BROAD or more is broad without reading a row of message_search.
--
-- Written by the indexer (chat/search.c, owner) in its round's statement:
-- each inserted message adds one to each of its words. Across
-- organisations on purpose, like the count it replaces: it only chooses
-- a plan, the results are always the org's. It can be low (words a
-- transcript or a document adds later, search_reindex_message and
-- media_files_terms_sync, are not counted): a low count sends review.c to
-- its exact count, which is cheap for few matches. It can be high (rows
-- deleted with their chat are not subtracted): a word that was broad
-- stays broad, and review.c walks the org's chats for it, slower but
-- with the same results. A word is kept as its 64-bit hash
-- (hashtextextended(word, 0)), not its text: the table is not scoped to
-- an organisation and keeps counts after their messages are deleted, so
-- it must not keep what people wrote; two words sharing a hash share a
-- count (high, see above). fillfactor: the counts of common words are
-- updated every round, in place (HOT) where the page has room.
CREATE TABLE search_words (
	word_hash	bigint PRIMARY KEY,
	messages	bigint NOT NULL
) WITH (fillfactor = 50);

INSERT INTO search_words (word_hash, messages)
SELECT hashtextextended(word, 0), sum(ndoc)
  FROM ts_stat('SELECT tsv FROM message_search')
 GROUP BY 1;
