/*
 * fuzz_commands: chat commands (chat/commands.c): what an inbound message
 * means (connect CODE, the reset command, mentions, the allow-list) for
 * every body, agent name, reset command and allow-list. Input: flags,
 * then NUL-separated: body, agent name, reset command, channel number,
 * sender, allow-list entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/commands.h"
#include "fuzz/fuzz.h"
#include "util/arena.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_PARTS	12

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_input	 in;
	struct route_decision	 d;
	char			*parts[N_PARTS];
	const uint8_t		*rest;
	size_t			 len;
	uint8_t			 flags;
	struct arena		*a;
	int			 n = 0;

	if (size < 1)
		return 0;
	flags = data[0];
	rest = data + 1;
	len = size - 1;
	while (n < N_PARTS) {
		const uint8_t	*next;
		size_t		 next_len;

		fuzz_split(rest, len, &parts[n++], &next, &next_len);
		rest = next;
		len = next_len;
	}
	memset(&in, 0, sizeof(in));
	in.body = parts[0];
	in.agent_name = parts[1];
	in.reset_command = (flags & 1) ? NULL : parts[2];
	in.channel_number = (flags & 2) ? NULL : parts[3];
	in.sender = parts[4];
	in.is_group = (flags & 4) != 0;
	in.has_agent = (flags & 8) != 0;
	in.require_mention = (flags & 16) != 0;
	in.allow_list = (const char *const *)&parts[5];
	in.n_allow = (flags >> 5) % (N_PARTS - 5 + 1);

	a = arena_new();
	chat_route_decide(a, &in, &d);
	if (chat_route_name(d.action) == NULL)
		abort();
	if (d.action == ROUTE_CONNECT && d.code != NULL)
		(void)strlen(d.code);
	(void)chat_command_is_reset(in.body, in.reset_command);
	(void)chat_mentions(in.body, in.agent_name, in.channel_number);
	(void)chat_sender_allowed(in.sender, in.allow_list, in.n_allow);
	arena_free(a);
	for (int i = 0; i < n; i++)
		free(parts[i]);
	return 0;
}
