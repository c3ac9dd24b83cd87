-- Twilio Webhook Shared Keys (docs/whatsapp-platform.md §4): a Twilio
-- channel holds any number (the model allows 5) of (key id, secret) pairs,
-- so a key can be rotated with the old and the new one both live. Owner:
-- model/channel.c. The secret is sealed for its row (crypto/secret.c, AD
-- "channel_shared_keys.secret_enc#<id>"); hint is its masked form, the
-- only one that leaves the server.
CREATE TABLE channel_shared_keys (
	id		bigserial PRIMARY KEY,
	org_id		bigint NOT NULL,
	channel_id	bigint NOT NULL,
	key_id		text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 128),
	secret_enc	bytea NOT NULL,
	hint		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (org_id, channel_id) REFERENCES channels (org_id, id)
	    ON DELETE CASCADE,
	UNIQUE (channel_id, key_id)
);
