/*
 * indicate: the working indicator of a turn (see indicate.h).
 */
#include "worker/indicate.h"

#include <inttypes.h>
#include <string.h>

#include "chat/outbox.h"
#include "util/log.h"

#define WORKING_EMOJI	"\xe2\x8f\xb3"	/* U+23F3 ⏳ */

static void	 show(struct indicator *, bool);

/* On: ⏳ or typing; off: the reaction removed (typing ends by itself). */
static void
show(struct indicator *ind, bool on)
{
	const struct channel_ops	*ops;
	struct send_outcome		 o;
	enum send_result		 sr;
	const char			*pid = ind->provider_message_id;

	if (ind->ch == NULL || !ind->ch->is_open || pid == NULL ||
	    pid[0] == '\0')
		return;
	ops = ind->ch->ops;
	memset(&o, 0, sizeof(o));
	if (ops->send_reaction != NULL)
		sr = ops->send_reaction(&ind->ch->creds,
		    ind->chat_external_id, pid, on ? WORKING_EMOJI : "", &o);
	else if (on && ops->send_typing != NULL)
		sr = ops->send_typing(&ind->ch->creds, pid, &o);
	else
		return;
	if (on)
		ind->shown = true;
	if (sr != SEND_OK)
		log_debug("turn", "msg=\"working indicator not shown\" "
		    "org=%" PRId64 " message=%" PRId64 " on=%d http=%d "
		    "error=\"%s\"", ind->org_id, ind->message_id, (int)on,
		    o.http_status, o.error_text);
}

void
turn_indicate_begin(struct indicator *ind)
{
	if (!ind->shown)
		show(ind, true);
}

void
turn_indicate_end(struct indicator *ind)
{
	if (ind->shown)
		show(ind, false);
	ind->shown = false;
}
