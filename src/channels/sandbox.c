/*
 * sandbox: the panel's test channel. Nothing leaves the machine: the
 * reply is just the stored outbound row, so a send always succeeds at
 * once with a fresh id "sbx-<32 hex>". Reactions are accepted the same
 * way so tools that react can be tried in the sandbox; there is no typing
 * indicator, no groups, and no media to fetch (fetch_media NULL; an
 * item given as a data: URL is decoded by chat/media.c without a request).
 *
 * Thread-safety: stateless; randombytes_buf is thread-safe once
 * sodium_init() has run (main() does it).
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <string.h>

#include <sodium.h>

#include "util/str.h"

#define SANDBOX_TEXT_LIMIT	4096

static enum send_result	 send_text(const struct channel_creds *c,
			    const char *to, bool is_group, const char *text,
			    struct send_outcome *out);
static enum send_result	 send_reaction(const struct channel_creds *c,
			    const char *to, const char *message_id,
			    const char *emoji, struct send_outcome *out);
static enum send_result	 send_media(const struct channel_creds *c,
			    const char *to, bool is_group,
			    const struct channel_media_msg *m,
			    struct send_outcome *out);
static enum send_result	 accept(struct send_outcome *out);

const struct channel_ops channel_sandbox = {
	.kind = "sandbox",
	.text_limit = SANDBOX_TEXT_LIMIT,
	.has_reactions = true,
	.has_groups = false,
	.dialect = NULL,
	.api_roots = NULL,
	.send_text = send_text,
	.send_reaction = send_reaction,
	.send_typing = NULL,
	.fetch_media = NULL,
	.send_media = send_media,
};

/* The item stays the stored row's, shown in the panel's sandbox. */
static enum send_result
send_media(const struct channel_creds *c, const char *to, bool is_group,
    const struct channel_media_msg *m, struct send_outcome *out)
{
	(void)c;
	(void)to;
	(void)is_group;
	(void)m;
	return accept(out);
}

static enum send_result
send_text(const struct channel_creds *c, const char *to, bool is_group,
    const char *text, struct send_outcome *out)
{
	(void)c;
	(void)to;
	(void)is_group;
	(void)text;
	return accept(out);
}

static enum send_result
send_reaction(const struct channel_creds *c, const char *to,
    const char *message_id, const char *emoji, struct send_outcome *out)
{
	(void)c;
	(void)to;
	(void)message_id;
	(void)emoji;
	return accept(out);
}

static enum send_result
accept(struct send_outcome *out)
{
	unsigned char	 raw[16];

	memset(out, 0, sizeof(*out));
	randombytes_buf(raw, sizeof(raw));
	memcpy(out->provider_message_id, "sbx-", 4);
	str_hex(out->provider_message_id + 4, raw, sizeof(raw));
	return SEND_OK;
}
