/*
 * contact: a contact's identity (see contact.h).
 *
 * Thread-safe: no shared state.
 */
#include "chat/contact.h"

#include <stddef.h>
#include <string.h>

#include "util/waid.h"

static bool	 set(const char *);
static bool	 same_digits(const char *, const char *);

static bool
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Both have digits and the same ones, in order (the rest ignored). */
static bool
same_digits(const char *a, const char *b)
{
	bool	 any = false;

	for (;;) {
		while (*a != '\0' && !(*a >= '0' && *a <= '9'))
			a++;
		while (*b != '\0' && !(*b >= '0' && *b <= '9'))
			b++;
		if (*a == '\0' || *b == '\0')
			return any && *a == '\0' && *b == '\0';
		if (*a != *b)
			return false;
		any = true;
		a++;
		b++;
	}
}

const char *
contact_key(const struct contact_ident *c)
{
	if (set(c->user_id))
		return c->user_id;
	return set(c->phone) ? c->phone : "";
}

const char *
contact_address(const struct contact_ident *c)
{
	if (set(c->phone))
		return c->phone;
	return set(c->user_id) ? c->user_id : "";
}

void
contact_ident_fill(struct contact_ident *c, const char *sender)
{
	if (!set(sender))
		return;
	if (waid_is_user_id(sender)) {
		if (!set(c->user_id))
			c->user_id = sender;
	} else if (sender[0] == '+' && !set(c->phone))
		c->phone = sender;
}

bool
contact_allowed(const struct contact_ident *c, const char *const *allow_list,
    int n_allow)
{
	if (n_allow <= 0)
		return true;
	for (int i = 0; i < n_allow; i++) {
		const char	*e = allow_list[i];

		if (!set(e))
			continue;
		if (e[0] == '@') {
			if (waid_username_eq(e, c->username))
				return true;
		} else if (waid_is_user_id(e)) {
			if ((set(c->user_id) && strcmp(e, c->user_id) == 0) ||
			    (set(c->parent_user_id) &&
			    strcmp(e, c->parent_user_id) == 0))
				return true;
		} else if (set(c->phone) && same_digits(c->phone, e))
			return true;
	}
	return false;
}
