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

struct config {
	char	*database_url;		/* NULL: start the embedded cluster */
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
	int	 job_poll_ms;		/* pool poll fallback */
	int	 schedule_tick_ms;	/* how often due schedules are looked for */
	int	 schedule_min_interval_s;	/* shortest interval schedule */
	int	 template_sync_minutes;	/* periodic template sync; 0: off */
	char	*admin_email;		/* first owner, when no user exists */
	char	*admin_password;	/* NULL: generate and print one */
	char	*admin_org;
	/* Outbound calls to MCP servers (plugins/mcp_client.c) refuse
	 * non-public addresses unless allowed here. */
	bool	 mcp_allow_private;	/* PARLEY_MCP_ALLOW_PRIVATE=1 */
	struct cidr mcp_allowed[CIDR_LIST_MAX];	/* PARLEY_MCP_ALLOWED_CIDRS */
	int	 n_mcp_allowed;
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
