/*
 * fuzz_twilio_price: Twilio's Message resource as the fee job reads it
 * (channels/channel.h channel_twilio_price; issue 13, docs/whatsapp-
 * platform.md §6): the whole input is the response body. Every answer is
 * checked: a price is 1 to 10 digits with at most 12 decimals (what the
 * message_fees.amount column holds) and a currency of three capital
 * letters; no price leaves both empty.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels/channel.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 amount[32], currency[8];
	size_t	 ints, decs = 0;
	bool	 ok, json_ok;

	memset(amount, 'x', sizeof(amount));
	memset(currency, 'x', sizeof(currency));
	ok = channel_twilio_price((const char *)data, size, amount,
	    sizeof(amount), currency, sizeof(currency), &json_ok);
	if (!ok) {
		if (amount[0] != '\0' || currency[0] != '\0')
			abort();
		return 0;
	}
	if (!json_ok || strlen(currency) != 3 ||
	    strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
		abort();
	ints = strspn(amount, "0123456789");
	if (amount[ints] == '.')
		decs = strspn(amount + ints + 1, "0123456789");
	if (ints < 1 || ints > 10 || decs > 12 ||
	    strlen(amount) != ints + (amount[ints] == '.' ? 1 + decs : 0) ||
	    (amount[ints] == '.' && decs == 0))
		abort();
	return 0;
}
