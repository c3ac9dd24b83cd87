/*
 * config: PARLEY_* environment variables → struct config (DESIGN.md,
 * "Interfaces that stay stable"). A bad value stops start-up with one
 * sentence naming the variable. Read once at start; read-only after.
 */
#ifndef PARLEY_UTIL_CONFIG_H
#define PARLEY_UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/cidr.h"
#include "util/s3.h"

/* PARLEY_DB_POOLER: what sits between Parley and PostgreSQL. */
enum config_pooler {
	CONFIG_POOLER_NONE = 0,		/* direct (the default) */
	CONFIG_POOLER_SESSION,		/* PgBouncer pool_mode=session */
	CONFIG_POOLER_TRANSACTION,	/* PgBouncer pool_mode=transaction */
};

struct config {
	char	*database_url;		/* NULL: start the embedded cluster */
	/* The same database without the pooler, for LISTEN and migrations;
	 * NULL: none given. */
	char	*database_direct_url;
	enum config_pooler db_pooler;
	/* LISTEN/NOTIFY wakes the reply pool: false behind a transaction
	 * pooler without a direct URL, where the pool only polls. */
	bool	 db_can_listen;
	char	*listen;		/* CivetWeb listening_ports form */
	char	 listen_host[64];
	int	 listen_port;
	char	*public_url;		/* no trailing slash */
	char	 public_origin[256];	/* scheme://host[:port] of public_url */
	bool	 public_is_https;
	char	*home;			/* holds templates/ static/ migrations/ */
	char	*data_dir;		/* var/: embedded cluster, master key */
	char	*master_key_file;
	int	 workers;		/* reply pool size */
	int	 http_threads;
	int	 db_pool_size;
	int	 db_acquire_timeout_ms;
	int	 session_idle_minutes;
	int	 session_max_hours;
	int	 login_max_failures;
	int	 login_window_minutes;
	int	 llm_timeout_ms;	/* per model call attempt */
	char	*twilio_api_base;	/* https://api.twilio.com */
	char	*twilio_messaging_base;	/* https://messaging.twilio.com */
	char	*twilio_content_base;	/* https://content.twilio.com */
	char	*meta_graph_base;	/* https://graph.facebook.com/v24.0 */
	char	*kapso_api_base;	/* https://api.kapso.ai/meta/whatsapp/v24.0 */
	size_t	 media_max_bytes;	/* one downloaded media item */
	int	 inbound_max_age_s;	/* older inbound: stored, not answered */
	int	 job_lease_s;		/* reply job lease */
	int	 jobs_keep_hours;	/* finished (done) jobs kept this long */
	int	 job_poll_ms;		/* pool poll fallback; the only wake-up
					   when !db_can_listen (250 ms then,
					   1000 with LISTEN, unless set) */
	int	 schedule_tick_ms;	/* how often due schedules are looked for */
	int	 schedule_min_interval_s;	/* shortest interval schedule */
	int	 template_sync_minutes;	/* periodic template sync; 0: off */
	char	*admin_email;		/* first owner, when no user exists */
	char	*admin_password;	/* NULL: generate and print one */
	char	*admin_org;
	/* Outbound calls to MCP servers (plugins/mcp_client.c) refuse
	 * non-public addresses unless allowed here. */
	bool	 mcp_allow_private;	/* PARLEY_MCP_ALLOW_PRIVATE=1 */
	/* PARLEY_MEDIA_FETCH_ALLOW_PRIVATE=1: whatsapp.sendMedia may fetch
	 * from private, loopback or other non-public addresses. */
	bool	 media_fetch_allow_private;
	struct cidr mcp_allowed[CIDR_LIST_MAX];	/* PARLEY_MCP_ALLOWED_CIDRS */
	int	 n_mcp_allowed;
	/*
	 * Media in an S3-compatible store (PARLEY_MEDIA_S3_*): s3_enabled
	 * when the endpoint, bucket and keys are set; s3's strings point
	 * into the s3_* copies below. s3_origin: where browsers fetch
	 * presigned URLs from (for the Content-Security-Policy).
	 */
	bool	 s3_enabled;
	struct s3_config s3;
	char	*s3_endpoint;
	char	*s3_bucket;
	char	*s3_region;
	char	*s3_access_key;
	char	*s3_secret_key;
	char	 s3_origin[320];
	int	 media_sweep_s;		/* retention and orphan sweep period */
	/* Document text extraction caps (chat/extract.h). */
	size_t	 extract_max_bytes;
	size_t	 extract_max_chars;
	int	 extract_max_pages;
	int	 extract_timeout_s;	/* wall clock and CPU seconds */
	int	 extract_mem_mb;	/* address space of the reader */
	/* PARLEY_VISION_URLS=signed: a vision model is given images as
	 * short-lived signed Parley URLs (its provider reaches
	 * PARLEY_PUBLIC_URL) instead of data: URLs. */
	bool	 vision_signed_urls;
	/* The binary run as `parley extract` (not from the environment):
	 * NULL for the running one (/proc/self/exe); tests that run media
	 * code in their own process point it at build/…/parley. */
	char	*self_exe;
	bool	 dev;			/* PARLEY_DEV=1: reload templates */
	/* PARLEY_TRUSTED_PROXIES: peers whose X-Forwarded-For/-Proto are
	 * believed (http/req.c); none by default. */
	struct cidr trusted_proxies[CIDR_LIST_MAX];
	int	 n_trusted_proxies;
	char	*log_level;
};

/*
 * Fills cfg from the environment. On a bad value returns false with one
 * sentence naming the variable in err. cfg owns its strings.
 */
bool	 config_load(struct config *cfg, char *err, size_t errlen);
void	 config_free(struct config *cfg);

#endif
