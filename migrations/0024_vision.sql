-- 0024_vision: media reach the model (issue 15).
--
-- Owners: model/agent.c (agents), model/llmcall.c (llm_calls).
--
-- doc_context_chars: how many characters of document text (the
-- documents a contact sent in the thread, their text read on download)
-- the agent's model is given with a turn; the newest documents first,
-- the oldest are the first to go (0: no documents as context).
ALTER TABLE agents
	ADD COLUMN doc_context_chars integer NOT NULL DEFAULT 20000
	    CHECK (doc_context_chars BETWEEN 0 AND 500000);

-- input: what the model was given (the conversation's messages after
-- the agent's prompt), for the review: image parts keep a placeholder
-- instead of their bytes (never a data: URL's base64, never a signed
-- URL's signature) and long texts are cut. NULL: not recorded (calls
-- made before this migration).
ALTER TABLE llm_calls ADD COLUMN input jsonb;
