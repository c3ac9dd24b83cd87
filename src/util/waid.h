/*
 * waid: the shapes of WhatsApp's contact identifiers (docs/whatsapp-
 * platform.md §1.1), for every layer that must tell them apart (allow-
 * lists in model/, chats in chat/, senders in channels/):
 *
 *   phone     "+" and digits (Meta sends bare digits: "15551234567")
 *   user id   a business-scoped user id (BSUID): a country code, ".",
 *             alphanumerics ("US.13491208655302741918"); a parent id has
 *             ".ENT." after the country ("US.ENT.1181…"); Meta's first
 *             pages used "user.9373…", accepted too. A phone never holds
 *             a ".", so the two never collide.
 *   username  what the user chose, written with a leading "@"
 *             ("@realsheenanelson"); compared without the "@" and ASCII
 *             case (no source says usernames are case-sensitive, and a
 *             person typing one into an allow-list should not have to
 *             match its case).
 *
 * Pure functions; thread-safe.
 */
#ifndef PARLEY_UTIL_WAID_H
#define PARLEY_UTIL_WAID_H

#include <stdbool.h>
#include <stddef.h>

#define WAID_MAX	256	/* longest id or username kept */

/* True for a business-scoped user id or parent id (see above). */
bool	 waid_is_user_id(const char *s);
/* True for "@" then 1..WAID_MAX-1 printable, non-space bytes. */
bool	 waid_is_username(const char *s);
/*
 * "@name" (or "name") as "@" + ASCII lower case into out; false when it
 * is not a username or does not fit.
 */
bool	 waid_username_norm(const char *s, char *out, size_t outlen);
/* Usernames a and b are the same (the "@" and ASCII case ignored). */
bool	 waid_username_eq(const char *a, const char *b);

#endif
