-- "Working" and "read" per agent, and WhatsApp's fees per message (issue
-- 13; docs/whatsapp-platform.md §5, §6). Owners: model/agent.c (the agents
-- columns), chat/fees.c (message_fees).

-- While a turn is worked on: the typing indicator (refreshed before its
-- 25-second expiry; on every provider it also marks the message read),
-- read receipts alone, and the ⏳ reaction (Meta, Kapso), each per agent.
ALTER TABLE agents
	ADD COLUMN typing_indicator boolean NOT NULL DEFAULT true,
	ADD COLUMN read_receipts boolean NOT NULL DEFAULT true,
	ADD COLUMN working_reaction boolean NOT NULL DEFAULT false;

-- What WhatsApp bills (or not) for one outbound message: Meta's and
-- Kapso's status webhooks classify it (pricing: billable, pricing_model,
-- type, category; no amount is ever sent), Twilio's Message resource
-- prices it (price, price_unit). A value given replaces the stored one
-- and absence never erases (pricing comes on "sent" and on one of
-- delivered/read, never on failed). chat_id is kept so a conversation's total is one
-- index range.
CREATE TABLE message_fees (
	message_id	bigint PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
	org_id		bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	chat_id		bigint NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	billable	boolean,
	pricing_model	text CHECK (length(pricing_model) <= 32),
	type		text CHECK (length(type) <= 64),
	category	text CHECK (length(category) <= 64),
	amount		numeric(16, 6),
	currency	text CHECK (currency ~ '^[A-Z]{3}$'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_fees_chat_idx ON message_fees (org_id, chat_id);
