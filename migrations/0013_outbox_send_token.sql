-- The outbox's take (queued -> sending, chat/outbox.c) writes a random
-- token of the sender that took the row. When the take's UPDATE fails as
-- "unavailable" (the server went away before answering: a failover), the
-- sender cannot tell whether it committed, but it knows it called no
-- provider: once the database is back it puts the row back to queued on
-- the condition that the token is still its own, so a row another sender
-- took meanwhile is never touched (and so never sent twice).
ALTER TABLE messages ADD COLUMN send_token text
	CHECK (send_token IS NULL OR length(send_token) <= 64);
