/*
 * upstream: see upstream.h. Every piece of an upstream's own text this
 * file hands on has been through crypto/redact first.
 */
#include "llm/upstream.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "crypto/redact.h"
#include "util/json.h"
#include "util/utf8.h"

#define UPSTREAM_TEXT_MAX	200	/* a plain-text error body worth showing */

int
upstream_backoff_ms(int n, int base_ms, int max_ms)
{
	int	 d = base_ms;

	while (--n > 0 && d < max_ms)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	return d / 2 + (int)randombytes_uniform((uint32_t)(d / 2 + 1));
}

void
upstream_sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
upstream_retry_after_ms(const char *v, bool is_ms, int max_ms)
{
	char	*end;
	double	 d;

	if (v == NULL)
		return 0;
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || d < 0)
		return 0;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return 0;
	if (!is_ms)
		d *= 1000.0;
	return d > max_ms ? max_ms : d < 1 ? 1 : (int)d;
}

void
upstream_clean_copy(char *out, size_t outlen, const char *s)
{
	size_t	 n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < outlen; s++)
		out[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
	while (n > 0 && !utf8_valid(out, n))
		n--;
	out[n] = '\0';
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
}

void
upstream_message(const char *body, size_t len, const struct redact *rd,
    char *out, size_t outlen)
{
	cJSON		*root;
	const cJSON	*e, *m = NULL;
	char		 tmp[UPSTREAM_TEXT_MAX + 1];
	char		*clean;

	out[0] = '\0';
	if (body == NULL || len == 0)
		return;
	if ((root = json_parse(body, len, NULL)) != NULL) {
		e = cJSON_GetObjectItemCaseSensitive(root, "error");
		if (cJSON_IsObject(e))
			m = cJSON_GetObjectItemCaseSensitive(e, "message");
		else if (cJSON_IsString(e))
			m = e;
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(root, "message");
		if (cJSON_IsString(m)) {
			clean = redact_dup(rd, m->valuestring);
			upstream_clean_copy(out, outlen, clean);
			free(clean);
		}
		cJSON_Delete(root);
		return;
	}
	if (len < sizeof(tmp) && body[0] != '<' &&
	    memchr(body, '\0', len) == NULL && utf8_valid(body, len)) {
		memcpy(tmp, body, len);
		tmp[len] = '\0';
		clean = redact_dup(rd, tmp);
		upstream_clean_copy(out, outlen, clean);
		free(clean);
	}
}
