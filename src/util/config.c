/*
 * config: environment → struct config (see config.h).
 */
#include "util/config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/str.h"
#include "util/xmalloc.h"

/* Media items: 20 MiB by default; Meta's documents reach 100 MB. */
#define MEDIA_MAX_DFLT	(20 * 1024 * 1024)
#define MEDIA_MAX_MAX	(100 * 1024 * 1024)

static bool	get_int(const char *, int, int, int, int *, char *, size_t);
static bool	get_seconds_ms(const char *, int, int, int, int *, char *,
		    size_t);
static bool	parse_listen(struct config *, char *, size_t);
static bool	parse_public_url(struct config *, char *, size_t);
static char	*find_home(void);
static bool	check_bases(struct config *, char *, size_t);
static bool	parse_mcp(struct config *, char *, size_t);
static bool	parse_pooler(struct config *, char *, size_t);
static bool	parse_media(struct config *, char *, size_t);
static char	*env_dup(const char *, const char *);
static bool	parse_trusted_proxies(struct config *, char *, size_t);

static char *
env_dup(const char *name, const char *dflt)
{
	const char	*v = getenv(name);

	if (v == NULL || *v == '\0')
		return dflt ? xstrdup(dflt) : NULL;
	return xstrdup(v);
}

static bool
get_int(const char *name, int dflt, int min, int max, int *out, char *err,
    size_t errlen)
{
	const char	*v = getenv(name);
	int64_t		 n;

	if (v == NULL || *v == '\0') {
		*out = dflt;
		return true;
	}
	if (!str_to_i64(v, &n) || n < min || n > max) {
		snprintf(err, errlen, "%s must be a whole number from %d to %d "
		    "(got \"%.40s\").", name, min, max, v);
		return false;
	}
	*out = (int)n;
	return true;
}

/* Provider API roots must be http(s) URLs; a trailing slash is dropped. */
static bool
check_bases(struct config *cfg, char *err, size_t errlen)
{
	struct {
		const char	*name;
		char		*v;
	} bases[] = {
		{ "PARLEY_TWILIO_API_BASE", cfg->twilio_api_base },
		{ "PARLEY_TWILIO_MESSAGING_BASE", cfg->twilio_messaging_base },
		{ "PARLEY_TWILIO_CONTENT_BASE", cfg->twilio_content_base },
		{ "PARLEY_META_GRAPH_BASE", cfg->meta_graph_base },
		{ "PARLEY_KAPSO_API_BASE", cfg->kapso_api_base },
	};

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		char	*v = bases[i].v;
		size_t	 n = strlen(v);

		while (n > 0 && v[n - 1] == '/')
			v[--n] = '\0';
		if ((!str_starts_with(v, "https://") &&
		    !str_starts_with(v, "http://")) || str_has_ctl(v) ||
		    strchr(v, ' ') != NULL) {
			snprintf(err, errlen, "%s must be an http:// or https:// "
			    "URL (got \"%.60s\").", bases[i].name, v);
			return false;
		}
	}
	return true;
}

/*
 * PARLEY_DB_POOLER and PARLEY_DATABASE_DIRECT_URL, which only make sense
 * with PARLEY_DATABASE_URL (the embedded cluster is reached directly).
 * Statement pooling is refused: Parley's writes are multi-statement
 * transactions, which that mode forbids.
 */
static bool
parse_pooler(struct config *cfg, char *err, size_t errlen)
{
	const char	*v = getenv("PARLEY_DB_POOLER");

	if (v == NULL || *v == '\0' || str_eq(v, "none"))
		cfg->db_pooler = CONFIG_POOLER_NONE;
	else if (str_eq(v, "session"))
		cfg->db_pooler = CONFIG_POOLER_SESSION;
	else if (str_eq(v, "transaction"))
		cfg->db_pooler = CONFIG_POOLER_TRANSACTION;
	else {
		snprintf(err, errlen, "PARLEY_DB_POOLER must be none, session "
		    "or transaction (got \"%.20s\"); statement pooling cannot "
		    "run Parley's transactions.", v);
		return false;
	}
	if (cfg->database_url == NULL && (cfg->db_pooler !=
	    CONFIG_POOLER_NONE || cfg->database_direct_url != NULL)) {
		snprintf(err, errlen, "%s needs PARLEY_DATABASE_URL (the "
		    "embedded PostgreSQL is reached directly).",
		    cfg->database_direct_url != NULL ?
		    "PARLEY_DATABASE_DIRECT_URL" : "PARLEY_DB_POOLER");
		return false;
	}
	cfg->db_can_listen = cfg->db_pooler != CONFIG_POOLER_TRANSACTION ||
	    cfg->database_direct_url != NULL;
	return true;
}

/* A whole number of seconds in the environment, kept as milliseconds. */
static bool
get_seconds_ms(const char *name, int dflt, int min, int max, int *out_ms,
    char *err, size_t errlen)
{
	int	 s;

	if (!get_int(name, dflt, min, max, &s, err, errlen))
		return false;
	*out_ms = s * 1000;
	return true;
}

/* PARLEY_LISTEN is "host:port" with an IPv4 host or "[v6]:port". */
static bool
parse_listen(struct config *cfg, char *err, size_t errlen)
{
	const char	*colon = strrchr(cfg->listen, ':');
	size_t		 hlen;
	int64_t		 port;
	const char	*host = cfg->listen;

	if (colon == NULL || !str_to_i64(colon + 1, &port) || port < 0 ||
	    port > 65535)
		goto bad;
	hlen = (size_t)(colon - host);
	if (hlen == 0 || hlen >= sizeof(cfg->listen_host))
		goto bad;
	memcpy(cfg->listen_host, host, hlen);
	cfg->listen_host[hlen] = '\0';
	for (size_t i = 0; i < hlen; i++)
		if (!strchr("0123456789.abcdefABCDEF:[]", host[i]))
			goto bad;
	cfg->listen_port = (int)port;
	return true;
bad:
	snprintf(err, errlen, "PARLEY_LISTEN must be address:port, e.g. "
	    "127.0.0.1:8080 (got \"%.60s\").", cfg->listen);
	return false;
}

static bool
parse_public_url(struct config *cfg, char *err, size_t errlen)
{
	char		*u = cfg->public_url;
	const char	*rest, *slash;
	size_t		 n = strlen(u), olen;

	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	if (str_starts_with(u, "https://")) {
		cfg->public_is_https = true;
		rest = u + 8;
	} else if (str_starts_with(u, "http://"))
		rest = u + 7;
	else
		goto bad;
	if (*rest == '\0' || str_has_ctl(u) || strchr(u, ' ') ||
	    strchr(u, '?') || strchr(u, '#') || strchr(rest, '@'))
		goto bad;
	slash = strchr(rest, '/');
	olen = slash ? (size_t)(slash - u) : n;
	if (olen >= sizeof(cfg->public_origin))
		goto bad;
	memcpy(cfg->public_origin, u, olen);
	cfg->public_origin[olen] = '\0';
	return true;
bad:
	snprintf(err, errlen, "PARLEY_PUBLIC_URL must be an http:// or "
	    "https:// URL with no query, e.g. https://parley.example.com "
	    "(got \"%.60s\").", u);
	return false;
}

/* PARLEY_TRUSTED_PROXIES: comma-separated CIDRs (IPv4 and IPv6). */
static bool
parse_trusted_proxies(struct config *cfg, char *err, size_t errlen)
{
	char	 why[160];

	if (cidr_list_parse(getenv("PARLEY_TRUSTED_PROXIES"),
	    cfg->trusted_proxies, CIDR_LIST_MAX, &cfg->n_trusted_proxies, why,
	    sizeof(why)))
		return true;
	snprintf(err, errlen, "PARLEY_TRUSTED_PROXIES must be a comma-"
	    "separated list of addresses or CIDR ranges: %s.", why);
	return false;
}

/*
 * The directory holding templates/: PARLEY_HOME, else the nearest of the
 * executable's ancestors that has one (build/parley → the repo), else cwd.
 */
static char *
find_home(void)
{
	char		 exe[PATH_MAX], probe[PATH_MAX + 16];
	ssize_t		 n;
	struct stat	 sb;
	const char	*v = getenv("PARLEY_HOME");

	if (v != NULL && *v != '\0')
		return xstrdup(v);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int depth = 0; depth < 4; depth++) {
			char	*slash = strrchr(exe, '/');

			if (slash == NULL || slash == exe)
				break;
			*slash = '\0';
			snprintf(probe, sizeof(probe), "%s/templates", exe);
			if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode))
				return xstrdup(exe);
		}
	}
	return xstrdup(".");
}

/* PARLEY_MCP_ALLOW_PRIVATE (0/1) and PARLEY_MCP_ALLOWED_CIDRS. */
static bool
parse_mcp(struct config *cfg, char *err, size_t errlen)
{
	const char	*v = getenv("PARLEY_MCP_ALLOW_PRIVATE");
	char		 why[160];

	if (v != NULL && *v != '\0') {
		if (!str_eq(v, "0") && !str_eq(v, "1")) {
			snprintf(err, errlen, "PARLEY_MCP_ALLOW_PRIVATE must be "
			    "0 or 1 (got \"%.20s\").", v);
			return false;
		}
		cfg->mcp_allow_private = str_eq(v, "1");
	}
	v = getenv("PARLEY_MEDIA_FETCH_ALLOW_PRIVATE");
	if (v != NULL && *v != '\0') {
		if (!str_eq(v, "0") && !str_eq(v, "1")) {
			snprintf(err, errlen, "PARLEY_MEDIA_FETCH_ALLOW_PRIVATE "
			    "must be 0 or 1 (got \"%.20s\").", v);
			return false;
		}
		cfg->media_fetch_allow_private = str_eq(v, "1");
	}
	v = getenv("PARLEY_MCP_ALLOWED_CIDRS");
	if (v != NULL && !cidr_list_parse(v, cfg->mcp_allowed, CIDR_LIST_MAX,
	    &cfg->n_mcp_allowed, why, sizeof(why))) {
		snprintf(err, errlen, "PARLEY_MCP_ALLOWED_CIDRS must list "
		    "addresses or ranges such as 10.0.0.0/8, separated by "
		    "commas: %s.", why);
		return false;
	}
	return true;
}

/*
 * PARLEY_MEDIA_S3_*: all of endpoint, bucket and both keys, or none (the
 * database keeps media); region defaults to us-east-1, path style to 0.
 * Then the sweep period, the extraction caps, and how images reach a
 * vision model (PARLEY_VISION_URLS: data, the default, or signed).
 */
static bool
parse_media(struct config *cfg, char *err, size_t errlen)
{
	const char	*names[] = { "PARLEY_MEDIA_S3_ENDPOINT",
			    "PARLEY_MEDIA_S3_BUCKET",
			    "PARLEY_MEDIA_S3_ACCESS_KEY",
			    "PARLEY_MEDIA_S3_SECRET_KEY" };
	char		**vals[] = { &cfg->s3_endpoint, &cfg->s3_bucket,
			    &cfg->s3_access_key, &cfg->s3_secret_key };
	const char	*ps = getenv("PARLEY_MEDIA_S3_PATH_STYLE");
	const char	*vu = getenv("PARLEY_VISION_URLS");
	char		 why[200];
	int		 set = 0, chars, mbytes;

	if (vu != NULL && *vu != '\0' && !str_eq(vu, "data") &&
	    !str_eq(vu, "signed")) {
		snprintf(err, errlen, "PARLEY_VISION_URLS must be data or "
		    "signed (got \"%.20s\").", vu);
		return false;
	}
	cfg->vision_signed_urls = vu != NULL && str_eq(vu, "signed");
	for (size_t i = 0; i < 4; i++)
		if ((*vals[i] = env_dup(names[i], NULL)) != NULL)
			set++;
	cfg->s3_region = env_dup("PARLEY_MEDIA_S3_REGION", "us-east-1");
	if (ps != NULL && *ps != '\0' && !str_eq(ps, "0") && !str_eq(ps, "1")) {
		snprintf(err, errlen, "PARLEY_MEDIA_S3_PATH_STYLE must be 0 or 1 "
		    "(got \"%.20s\").", ps);
		return false;
	}
	cfg->s3.path_style = ps != NULL && str_eq(ps, "1");
	if (set > 0 && set < 4) {
		for (size_t i = 0; i < 4; i++)
			if (*vals[i] == NULL) {
				snprintf(err, errlen, "%s must be set too: media "
				    "go to S3 only when PARLEY_MEDIA_S3_ENDPOINT, "
				    "_BUCKET, _ACCESS_KEY and _SECRET_KEY are all "
				    "set.", names[i]);
				return false;
			}
	}
	if (set == 4) {
		size_t	 n;

		n = strlen(cfg->s3_endpoint);
		while (n > 0 && cfg->s3_endpoint[n - 1] == '/')
			cfg->s3_endpoint[--n] = '\0';
		cfg->s3.endpoint = cfg->s3_endpoint;
		cfg->s3.bucket = cfg->s3_bucket;
		cfg->s3.region = cfg->s3_region;
		cfg->s3.access_key = cfg->s3_access_key;
		cfg->s3.secret_key = cfg->s3_secret_key;
		if (!s3_config_check(&cfg->s3, why, sizeof(why))) {
			/* "bucket must …" → "PARLEY_MEDIA_S3_BUCKET must …" */
			char	 field[32];
			size_t	 k = strcspn(why, " ");

			snprintf(field, sizeof(field), "%.*s", (int)k, why);
			for (char *c = field; *c != '\0'; c++)
				*c = (char)toupper((unsigned char)*c);
			snprintf(err, errlen, "PARLEY_MEDIA_S3_%s%s.", field,
			    why + k);
			return false;
		}
		if (!s3_origin(&cfg->s3, cfg->s3_origin,
		    sizeof(cfg->s3_origin))) {
			snprintf(err, errlen, "PARLEY_MEDIA_S3_ENDPOINT is too "
			    "long.");
			return false;
		}
		cfg->s3_enabled = true;
	}
	if (!get_int("PARLEY_MEDIA_SWEEP_SECONDS", 3600, 1, 86400,
	    &cfg->media_sweep_s, err, errlen) ||
	    !get_int("PARLEY_EXTRACT_MAX_MB", 25, 1, 100, &mbytes, err,
	    errlen) ||
	    !get_int("PARLEY_EXTRACT_MAX_CHARS", 100000, 1000, 500000, &chars,
	    err, errlen) ||
	    !get_int("PARLEY_EXTRACT_MAX_PAGES", 500, 1, 10000,
	    &cfg->extract_max_pages, err, errlen) ||
	    !get_int("PARLEY_EXTRACT_TIMEOUT_SECONDS", 20, 1, 300,
	    &cfg->extract_timeout_s, err, errlen) ||
	    !get_int("PARLEY_EXTRACT_MEMORY_MB", 1024, 128, 65536,
	    &cfg->extract_mem_mb, err, errlen))
		return false;
	cfg->extract_max_bytes = (size_t)mbytes * 1024 * 1024;
	cfg->extract_max_chars = (size_t)chars;
	return true;
}

bool
config_load(struct config *cfg, char *err, size_t errlen)
{
	long	 ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int	 dflt_workers, media_max;

	memset(cfg, 0, sizeof(*cfg));
	if (ncpu < 1)
		ncpu = 1;
	/* Workers mostly wait on the LLM and providers, not on the CPU. */
	dflt_workers = (int)(ncpu * 8 > 64 ? 64 : ncpu * 8);

	cfg->database_url = env_dup("PARLEY_DATABASE_URL", NULL);
	cfg->database_direct_url = env_dup("PARLEY_DATABASE_DIRECT_URL", NULL);
	cfg->listen = env_dup("PARLEY_LISTEN", "127.0.0.1:8080");
	cfg->public_url = env_dup("PARLEY_PUBLIC_URL", NULL);
	cfg->home = find_home();
	cfg->data_dir = env_dup("PARLEY_DATA_DIR", NULL);
	if (cfg->data_dir == NULL)
		cfg->data_dir = xasprintf("%s/var", cfg->home);
	cfg->master_key_file = env_dup("PARLEY_MASTER_KEY_FILE", NULL);
	if (cfg->master_key_file == NULL)
		cfg->master_key_file = xasprintf("%s/master.key",
		    cfg->data_dir);
	cfg->admin_email = env_dup("PARLEY_ADMIN_EMAIL", "admin@example.com");
	cfg->admin_password = env_dup("PARLEY_ADMIN_PASSWORD", NULL);
	cfg->admin_org = env_dup("PARLEY_ADMIN_ORG", "My Organization");
	cfg->log_level = env_dup("PARLEY_LOG_LEVEL", "info");
	/* Provider API roots: tests point them at local fakes. */
	cfg->twilio_api_base = env_dup("PARLEY_TWILIO_API_BASE",
	    "https://api.twilio.com");
	cfg->twilio_messaging_base = env_dup("PARLEY_TWILIO_MESSAGING_BASE",
	    "https://messaging.twilio.com");
	cfg->twilio_content_base = env_dup("PARLEY_TWILIO_CONTENT_BASE",
	    "https://content.twilio.com");
	cfg->meta_graph_base = env_dup("PARLEY_META_GRAPH_BASE",
	    "https://graph.facebook.com/v24.0");
	cfg->kapso_api_base = env_dup("PARLEY_KAPSO_API_BASE",
	    "https://api.kapso.ai/meta/whatsapp/v24.0");
	cfg->dev = getenv("PARLEY_DEV") && strcmp(getenv("PARLEY_DEV"), "1") == 0;

	if (!parse_listen(cfg, err, errlen) ||
	    !parse_pooler(cfg, err, errlen))
		return false;
	if (cfg->public_url == NULL)
		cfg->public_url = xasprintf("http://%s:%d",
		    strcmp(cfg->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" :
		    cfg->listen_host, cfg->listen_port);
	if (!parse_public_url(cfg, err, errlen))
		return false;
	if (!parse_trusted_proxies(cfg, err, errlen))
		return false;
	if (!str_eq(cfg->log_level, "debug") && !str_eq(cfg->log_level, "info") &&
	    !str_eq(cfg->log_level, "warn") && !str_eq(cfg->log_level, "error")) {
		snprintf(err, errlen, "PARLEY_LOG_LEVEL must be debug, info, "
		    "warn or error (got \"%.20s\").", cfg->log_level);
		return false;
	}
	if (!parse_mcp(cfg, err, errlen) || !parse_media(cfg, err, errlen))
		return false;
	if (strchr(cfg->admin_email, '@') == NULL) {
		snprintf(err, errlen, "PARLEY_ADMIN_EMAIL must be an email "
		    "address (got \"%.60s\").", cfg->admin_email);
		return false;
	}
	if (cfg->admin_password && strlen(cfg->admin_password) < 12) {
		snprintf(err, errlen, "PARLEY_ADMIN_PASSWORD must be at least "
		    "12 characters long.");
		return false;
	}
	return get_int("PARLEY_WORKERS", dflt_workers, 1, 1024, &cfg->workers,
	    err, errlen) &&
	    get_int("PARLEY_HTTP_THREADS", 64, 4, 4096, &cfg->http_threads,
	    err, errlen) &&
	    get_int("PARLEY_DB_POOL_SIZE", 16, 1, 512, &cfg->db_pool_size,
	    err, errlen) &&
	    get_int("PARLEY_DB_ACQUIRE_TIMEOUT_MS", 3000, 1, 60000,
	    &cfg->db_acquire_timeout_ms, err, errlen) &&
	    get_int("PARLEY_SESSION_IDLE_MINUTES", 720, 1, 525600,
	    &cfg->session_idle_minutes, err, errlen) &&
	    get_int("PARLEY_SESSION_MAX_HOURS", 168, 1, 8760,
	    &cfg->session_max_hours, err, errlen) &&
	    get_int("PARLEY_LOGIN_MAX_FAILURES", 5, 1, 1000,
	    &cfg->login_max_failures, err, errlen) &&
	    get_int("PARLEY_LOGIN_WINDOW_MINUTES", 15, 1, 1440,
	    &cfg->login_window_minutes, err, errlen) &&
	    get_seconds_ms("PARLEY_LLM_TIMEOUT_SECONDS", 60, 1, 600,
	    &cfg->llm_timeout_ms, err, errlen) &&
	    get_int("PARLEY_INBOUND_MAX_AGE_HOURS", 24, 1, 24 * 30,
	    &cfg->inbound_max_age_s, err, errlen) &&
	    (cfg->inbound_max_age_s *= 3600, true) &&
	    get_int("PARLEY_JOB_LEASE_SECONDS", 300, 5, 3600,
	    &cfg->job_lease_s, err, errlen) &&
	    get_int("PARLEY_JOBS_KEEP_HOURS", 168, 1, 24 * 3650,
	    &cfg->jobs_keep_hours, err, errlen) &&
	    /* Polling is the only wake-up without LISTEN: a short one. */
	    get_int("PARLEY_JOB_POLL_MS", cfg->db_can_listen ? 1000 : 250,
	    50, 60000,
	    &cfg->job_poll_ms, err, errlen) &&
	    get_int("PARLEY_SCHEDULE_TICK_MS", 1000, 100, 60000,
	    &cfg->schedule_tick_ms, err, errlen) &&
	    get_int("PARLEY_SCHEDULE_MIN_INTERVAL_SECONDS", 60, 1, 86400,
	    &cfg->schedule_min_interval_s, err, errlen) &&
	    get_int("PARLEY_TEMPLATE_SYNC_MINUTES", 60, 0, 10080,
	    &cfg->template_sync_minutes, err, errlen) &&
	    get_int("PARLEY_MEDIA_MAX_BYTES", MEDIA_MAX_DFLT, 1024,
	    MEDIA_MAX_MAX, &media_max, err, errlen) &&
	    (cfg->media_max_bytes = (size_t)media_max, true) &&
	    check_bases(cfg, err, errlen);
}

void
config_free(struct config *cfg)
{
	free(cfg->database_url);
	free(cfg->database_direct_url);
	free(cfg->listen);
	free(cfg->public_url);
	free(cfg->home);
	free(cfg->data_dir);
	free(cfg->master_key_file);
	free(cfg->admin_email);
	if (cfg->admin_password)
		memset(cfg->admin_password, 0, strlen(cfg->admin_password));
	free(cfg->admin_password);
	free(cfg->admin_org);
	free(cfg->log_level);
	free(cfg->twilio_api_base);
	free(cfg->twilio_messaging_base);
	free(cfg->twilio_content_base);
	free(cfg->meta_graph_base);
	free(cfg->kapso_api_base);
	free(cfg->s3_endpoint);
	free(cfg->s3_bucket);
	free(cfg->s3_region);
	free(cfg->s3_access_key);
	if (cfg->s3_secret_key != NULL)
		explicit_bzero(cfg->s3_secret_key, strlen(cfg->s3_secret_key));
	free(cfg->s3_secret_key);
	free(cfg->self_exe);
	memset(cfg, 0, sizeof(*cfg));
}
