-- Contacts have an identity, and threads an owner (issue 13;
-- docs/whatsapp-platform.md §1–3, §7). Owners: chat/chats.c (the contact
-- columns of chats and chats.owner*), chat/ingest.c (the sender identity
-- of inbound messages).
--
-- A DM's contact is known on its channel by its business-scoped user id
-- (BSUID, "US.13491208655302741918") and/or its phone ("+E164"), with its
-- parent id and username kept when a provider gives them; any of them may
-- be missing. external_id stays the chat's key: the address the chat was
-- first seen by (the phone, else the user id), never changed, so a
-- contact who gains a phone, hides it or changes ids keeps the chat, its
-- threads and its history. Lookups go by the user id first (one chat per
-- user id and channel), then by the key.
ALTER TABLE chats
	ADD COLUMN contact_phone text
	    CHECK (length(contact_phone) BETWEEN 2 AND 32),
	ADD COLUMN contact_user_id text
	    CHECK (length(contact_user_id) BETWEEN 1 AND 256),
	ADD COLUMN contact_parent_user_id text
	    CHECK (length(contact_parent_user_id) BETWEEN 1 AND 256),
	ADD COLUMN contact_username text
	    CHECK (length(contact_username) BETWEEN 1 AND 256),
	-- Conversation routing (Meta messaging_handovers, Kapso's handover
	-- event): 'other_app' while another app owns the thread; Parley then
	-- stores what arrives and answers nothing (chat/handoff.h).
	ADD COLUMN owner text NOT NULL DEFAULT 'parley'
	    CHECK (owner IN ('parley', 'other_app')),
	ADD COLUMN owner_changed_at timestamptz;

-- Existing DMs of WhatsApp channels: the key was the phone, or, for a
-- sender known only by an id, that id (the sandbox keys its chats its own
-- way and has neither).
UPDATE chats c
   SET contact_phone = c.external_id
  FROM channels ch
 WHERE ch.id = c.channel_id AND ch.kind <> 'sandbox' AND c.kind = 'dm'
   AND c.external_id ~ '^\+[0-9]{1,31}$';
UPDATE chats c
   SET contact_user_id = c.external_id
  FROM channels ch
 WHERE ch.id = c.channel_id AND ch.kind <> 'sandbox' AND c.kind = 'dm'
   AND c.external_id ~ '^[A-Za-z]{2,8}\.[A-Za-z0-9.]{1,248}$';

CREATE UNIQUE INDEX chats_contact_user_idx ON chats (channel_id, contact_user_id)
	WHERE contact_user_id IS NOT NULL;

-- Who wrote an inbound message: `sender` stays the address shown (the
-- phone, else the user id); these keep the id and the username beside a
-- phone, for allow-lists and groups' members (NULL: not given).
ALTER TABLE messages
	ADD COLUMN sender_user_id text,
	ADD COLUMN sender_username text;
