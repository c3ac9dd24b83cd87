/*
 * s3: a small client for an S3-compatible object store (AWS S3, MinIO,
 * Ceph, …): PUT, GET and DELETE of one object, signed by libcurl's own
 * AWS Signature Version 4 (CURLOPT_AWS_SIGV4), and presigned GET URLs
 * (SigV4 query-string authentication), which libcurl does not make, so
 * they are computed here (docs/media-out.md §3, with the AWS test vector
 * in tests/unit/test_s3.c).
 *
 * What libcurl 7.88 needs (docs/media-out.md §2): the provider string
 * "aws:amz:<region>:s3" with region and service always named (else they
 * are guessed from the host name), an x-amz-content-sha256 header set by
 * us (7.88 does not add it; S3 requires it), the URL path and query as
 * curl signs them, unencoded: so object keys are restricted to
 * characters that need no encoding (s3_key_ok), and this module never
 * sends a query with a signed request.
 *
 * Every transfer has a connect timeout and a total timeout that grows
 * with the size, CURLOPT_NOSIGNAL, http(s) only, no redirects, and a
 * response-size cap. No request ever goes anywhere but the configured
 * endpoint.
 *
 * Thread-safety: stateless; each call uses its own curl handle.
 */
#ifndef PARLEY_UTIL_S3_H
#define PARLEY_UTIL_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define S3_KEY_MAX		512
#define S3_PRESIGN_MAX_S	604800	/* SigV4's longest: 7 days */

/* Where objects live and how to sign for them (strings borrowed). */
struct s3_config {
	const char	*endpoint;	/* http(s)://host[:port], no path */
	const char	*bucket;
	const char	*region;	/* e.g. us-east-1 */
	const char	*access_key;
	const char	*secret_key;
	bool		 path_style;	/* endpoint/bucket/key, else
					   bucket.host/key */
};

enum s3_result {
	S3_OK = 0,
	S3_NOT_FOUND,		/* 404: no such key (or bucket) */
	S3_REFUSED,		/* another 4xx: credentials, signature, … */
	S3_UNAVAILABLE,		/* no answer, a timeout, 5xx: try later */
	S3_TOO_LARGE,		/* GET: the object is larger than allowed */
};

/*
 * True when key may name an object here: 1..S3_KEY_MAX characters of
 * A-Z a-z 0-9 - _ . ~ /, not starting with '/', no empty segment, no
 * "." or ".." segment (docs/media-out.md §2.2, pitfall 1).
 */
bool		 s3_key_ok(const char *key);

/*
 * Checks a configuration's values without contacting anything: the
 * endpoint an http(s) URL with a host and no path, query or user; the
 * bucket a DNS-compatible bucket name (3–63 of a-z 0-9 . -); the region
 * letters, digits and '-'; both keys present without control
 * characters. False with one sentence naming the field in why (the
 * field names are those of struct s3_config).
 */
bool		 s3_config_check(const struct s3_config *c, char *why,
		    size_t whylen);

/* The origin (scheme://host[:port]) a browser fetches objects from, for a
 * Content-Security-Policy, into out; false when it does not fit. */
bool		 s3_origin(const struct s3_config *c, char *out, size_t outlen);

/*
 * Stores len bytes under key with the given Content-Type (NULL:
 * application/octet-stream); the payload's SHA-256 is signed. why (may
 * be NULL) gets a sentence on failure, never a credential.
 */
enum s3_result	 s3_put(const struct s3_config *c, const char *key,
		    const char *content_type, const void *data, size_t len,
		    char *why, size_t whylen);
/* Reads the object into out (appended), refusing more than max bytes. */
enum s3_result	 s3_get(const struct s3_config *c, const char *key,
		    size_t max, struct buf *out, char *why, size_t whylen);
/* Deletes the object; S3_OK also when there was none (S3 says 204). */
enum s3_result	 s3_delete(const struct s3_config *c, const char *key,
		    char *why, size_t whylen);

/*
 * A presigned GET URL for key, valid expires_s seconds (1..7 days) from
 * now (unix seconds), malloc'd; NULL for a key s3_key_ok refuses. The
 * signature covers the host as configured, the path, and the optional
 * response overrides (response-content-type, response-content-
 * disposition; NULL: none), so a browser given the URL gets the object
 * with those headers and nothing else. Only GET: HEAD is refused by S3.
 */
char		*s3_presign_get(const struct s3_config *c, const char *key,
		    int64_t now, int expires_s, const char *response_type,
		    const char *response_disposition);

/* Lowercase hex SHA-256 of p[0..n) into out[65] (the payload hash). */
void		 s3_sha256_hex(const void *p, size_t n, char out[65]);

#endif
