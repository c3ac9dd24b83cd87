/*
 * contact: who a WhatsApp contact is on a channel (docs/whatsapp-
 * platform.md §1–3). Since 2026 a contact may be known by its
 * business-scoped user id (BSUID) only, by its phone only, or by both,
 * with a parent id and a username when the provider gives them. A DM
 * chat keeps its contact's identity (chats.contact_*, chat/chats.c); an
 * inbound message keeps its author's (messages.sender, sender_user_id,
 * sender_username), so a group's members are known the same way.
 *
 * Pure code over the identity: the key one contact is counted by
 * (connect-code guesses), the address a reply goes to, and allow-list
 * matching (entries are phones, user ids or usernames, util/waid.h).
 *
 * Thread-safe: no shared state.
 */
#ifndef PARLEY_CHAT_CONTACT_H
#define PARLEY_CHAT_CONTACT_H

#include <stdbool.h>

/* Each member NULL or "" when not given. Strings are borrowed. */
struct contact_ident {
	const char	*phone;		/* "+E164" */
	const char	*user_id;	/* BSUID, "US.1349…" */
	const char	*parent_user_id; /* "US.ENT.1181…" */
	const char	*username;	/* "@name" as given */
};

/* The user id when known, else the phone, else "" (never NULL). */
const char	*contact_key(const struct contact_ident *c);
/*
 * Where a message to the contact goes: the phone when known (Meta asks
 * for it, and it keeps phones flowing in webhooks, §1.5), else the user
 * id; "" when neither. The channel's sender picks the field the provider
 * needs by its shape (channels/channel.h channel_to_is_user_id).
 */
const char	*contact_address(const struct contact_ident *c);
/*
 * Fills the member a bare address `sender` stands for (a "+digits" phone
 * or a user id) when that member is empty: rows stored before 2026 kept
 * only one address in messages.sender.
 */
void		 contact_ident_fill(struct contact_ident *c,
		    const char *sender);
/*
 * True when the contact is on the allow-list, or the list is empty. An
 * entry "@name" matches the username (case ignored), a user id matches
 * the user id or the parent id exactly, anything else compares by its
 * digits with the phone ("+1 555-0100" equals "+15550100").
 */
bool		 contact_allowed(const struct contact_ident *c,
		    const char *const *allow_list, int n_allow);

#endif
