/*
 * secret: credentials at rest (see secret.h).
 *
 * DESIGN. One 32-byte master key seals every stored credential with
 * XChaCha20-Poly1305 (IETF AEAD). The 192-bit nonce is random per seal, so
 * no counter has to be kept across processes or restarts. The additional
 * data "table.column#row" is authenticated but not stored: it binds a
 * ciphertext to the cell it was written for, so an attacker with write
 * access to the database cannot move a key from one row (or column) to
 * another and have us decrypt it in the wrong place.
 *
 * The key file is 32 raw bytes, mode 0600. A first run creates it by
 * writing a temporary file and link(2)ing it into place: link never
 * replaces an existing file, so two processes starting at once cannot each
 * create a key and have one silently overwrite the other (the loser loads
 * the winner's key). secret_key_write() is for replacing a key on purpose
 * (rotation) and uses rename(2). Both fsync the file and its directory.
 *
 * In memory the key sits in sodium_malloc'd pages (guard pages, mlock'd
 * where allowed, never in a core dump) made read-only once filled, so a
 * stray write faults instead of corrupting it. Opened plaintext is also in
 * guarded memory, wiped by secret_plain_free().
 *
 * Plaintext slots. sodium_malloc costs about eight system calls (mmap,
 * mprotect of two guard pages, mlock, madvise) and sodium_free as many,
 * its munmap and mprotect each interrupting every core that runs one of
 * our threads to flush its TLB; a conversation turn opens three to five
 * secrets, and under a burst of turns this showed as several per cent of
 * the machine's CPU (perf, bench/README.md). So a plaintext of up to
 * SLOT_MAX bytes takes a slot in a slab: slabs are sodium_malloc'd (guard
 * pages around each, mlock'd, never in a core dump) and carved into slots
 * of one size class; a freed slot is wiped at once and kept for the next
 * secret. What this gives up is a guard page between two secrets of one
 * slab (the trade OpenSSL's secure heap makes too). A larger plaintext
 * gets its own sodium_malloc as before. Slabs are kept for the process's
 * life: their number follows the most secrets ever open at once.
 *
 * Thread-safety: a loaded key is read-only; every function may be called
 * from any thread.
 */
#include "crypto/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <sodium.h>

#include "util/xmalloc.h"

#define SECRET_KEY_LEN	crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define SECRET_NONCE	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SECRET_TAG	crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SECRET_AD_MAX	256
#define MASK_FULL	"\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2" \
			"\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
#define MASK_ELLIPSIS	"\xe2\x80\xa6"
#define MASK_SHOWN_MAX	8	/* characters shown in all, at most */
#define MASK_MIN_CHARS	13	/* shorter secrets are fully masked */

struct secret_key {
	unsigned char	 k[SECRET_KEY_LEN];
};

#define SLAB_BYTES	65536
#define SLOT_CLASSES	3
#define SLOT_MAX	4096
static const size_t slot_size[SLOT_CLASSES] = { 128, 512, SLOT_MAX };

/* A free slot holds the next free one of its class (it was wiped). */
struct slot {
	struct slot	*next;
};

struct slab {
	unsigned char	*base;		/* SLAB_BYTES, sodium_malloc'd */
	int		 cls;
	struct slab	*next;
};

static pthread_mutex_t	 slots_mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot	*slots_free[SLOT_CLASSES];
static struct slab	*slabs;		/* all, newest first */

static struct secret_key *key_alloc(void);
static void	 key_seal(struct secret_key *);
static bool	 make_ad(char *, size_t, const char *, const char *, int64_t,
		    size_t *);
static bool	 write_file(const struct secret_key *, const char *, char *,
		    size_t);
static bool	 fsync_dir(const char *);
static bool	 create_key_file(const char *, char *, size_t);
static size_t	 utf8_char_len(unsigned char);
static void	*plain_alloc(size_t);

/* A writable, zeroed key in guarded memory; aborts on exhaustion. */
static struct secret_key *
key_alloc(void)
{
	struct secret_key	*k;

	if (sodium_init() < 0)
		abort();
	if ((k = sodium_malloc(sizeof(*k))) == NULL)
		abort();
	sodium_memzero(k, sizeof(*k));
	return k;
}

/* Makes a filled key read-only for the rest of its life. */
static void
key_seal(struct secret_key *k)
{
	if (sodium_mprotect_readonly(k) != 0)
		abort();
}

static bool
make_ad(char *ad, size_t adlen, const char *table, const char *column,
    int64_t row_id, size_t *len)
{
	int	 n;

	/* Separators in a name would make two cells' data collide. */
	if (strpbrk(table, ".#") != NULL || strpbrk(column, ".#") != NULL ||
	    *table == '\0' || *column == '\0')
		return false;
	n = snprintf(ad, adlen, "%s.%s#%lld", table, column,
	    (long long)row_id);
	if (n < 0 || (size_t)n >= adlen)
		return false;
	*len = (size_t)n;
	return true;
}

/*
 * Writes k to a new file tmp (0600, fsync'd). tmp must not exist, except
 * as a leftover of a crashed earlier attempt, which is replaced.
 */
static bool
write_file(const struct secret_key *k, const char *tmp, char *err,
    size_t errlen)
{
	size_t	 off = 0;
	ssize_t	 w;
	int	 fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 && errno == EEXIST) {
		(void)unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot create %s: %s.", tmp,
		    strerror(errno));
		return false;
	}
	/* The umask can only take bits away; make sure of exactly 0600. */
	if (fchmod(fd, 0600) != 0)
		goto fail;
	while (off < sizeof(k->k)) {
		w = write(fd, k->k + off, sizeof(k->k) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return true;
fail:
	snprintf(err, errlen, "cannot write %s: %s.", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	return false;
}

/* Makes a rename or link in path's directory durable. */
static bool
fsync_dir(const char *path)
{
	char	 dir[PATH_MAX];
	char	*slash;
	int	 fd;
	bool	 ok;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return false;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return false;
	ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

/*
 * First run: a new key into path, never replacing one that another
 * process put there meanwhile (link fails with EEXIST; the caller then
 * loads that one).
 */
static bool
create_key_file(const char *path, char *err, size_t errlen)
{
	struct secret_key	*k = NULL;
	char			 tmp[PATH_MAX];
	bool			 ok = false;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "the path %s is too long.", path);
		return false;
	}
	k = secret_key_generate();
	if (!write_file(k, tmp, err, errlen))
		goto out;
	if (link(tmp, path) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s.", path,
		    strerror(errno));
		goto out;
	}
	(void)fsync_dir(path);
	ok = true;
out:
	(void)unlink(tmp);
	secret_key_free(k);
	return ok;
}

bool
secret_key_load(const char *path, bool create, struct secret_key **out,
    char *err, size_t errlen)
{
	struct secret_key	*k = NULL;
	struct stat		 sb;
	size_t			 off = 0;
	ssize_t			 n;
	unsigned char		 extra;
	int			 fd = -1;
	bool			 ok = false;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium cannot start (no entropy "
		    "source?).");
		return false;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 && errno == ENOENT && create) {
		if (!create_key_file(path, err, errlen))
			return false;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd == -1) {
		if (errno == ENOENT)
			snprintf(err, errlen, "the master key file %s does "
			    "not exist.", path);
		else
			snprintf(err, errlen, "cannot open the master key "
			    "file %s: %s.", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "the master key file %s is not a "
		    "regular file.", path);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "the master key file %s is readable by "
		    "group or others (mode %04o); make it private with "
		    "`chmod 600 %s` and start again.", path,
		    (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	if (sb.st_size != (off_t)SECRET_KEY_LEN) {
		snprintf(err, errlen, "the master key file %s holds %lld "
		    "bytes, not a %d-byte key.", path, (long long)sb.st_size,
		    (int)SECRET_KEY_LEN);
		goto out;
	}
	k = key_alloc();
	while (off < sizeof(k->k)) {
		n = read(fd, k->k + off, sizeof(k->k) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off != sizeof(k->k) || read(fd, &extra, 1) != 0) {
		snprintf(err, errlen, "cannot read a %d-byte key from the "
		    "master key file %s.", (int)SECRET_KEY_LEN, path);
		goto out;
	}
	key_seal(k);
	*out = k;
	k = NULL;
	ok = true;
out:
	secret_key_free(k);
	close(fd);
	return ok;
}

struct secret_key *
secret_key_generate(void)
{
	struct secret_key	*k = key_alloc();

	crypto_aead_xchacha20poly1305_ietf_keygen(k->k);
	key_seal(k);
	return k;
}

bool
secret_key_write(const struct secret_key *k, const char *path, char *err,
    size_t errlen)
{
	char	 tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "the path %s is too long.", path);
		return false;
	}
	if (!write_file(k, tmp, err, errlen))
		return false;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s.", tmp,
		    path, strerror(errno));
		(void)unlink(tmp);
		return false;
	}
	if (!fsync_dir(path)) {
		snprintf(err, errlen, "cannot sync the directory of %s.",
		    path);
		return false;
	}
	return true;
}

void
secret_key_free(struct secret_key *k)
{
	/* sodium_free wipes before unmapping, read-only pages included. */
	if (k != NULL)
		sodium_free(k);
}

unsigned char *
secret_seal(const struct secret_key *k, const char *table,
    const char *column, int64_t row_id, const char *plaintext, size_t len,
    size_t *out_len)
{
	char			 ad[SECRET_AD_MAX];
	size_t			 adlen;
	unsigned long long	 clen = 0;
	unsigned char		*out;

	if (!make_ad(ad, sizeof(ad), table, column, row_id, &adlen))
		abort();	/* table and column names are ours: a bug */
	out = xmalloc(SECRET_NONCE + len + SECRET_TAG);
	randombytes_buf(out, SECRET_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SECRET_NONCE, &clen,
	    (const unsigned char *)plaintext, len, (const unsigned char *)ad,
	    adlen, NULL, out, k->k);
	*out_len = SECRET_NONCE + (size_t)clen;
	return out;
}

char *
secret_open(const struct secret_key *k, const char *table,
    const char *column, int64_t row_id, const unsigned char *sealed,
    size_t sealed_len)
{
	char			 ad[SECRET_AD_MAX];
	size_t			 adlen, mlen;
	unsigned long long	 got = 0;
	char			*plain;

	if (k == NULL || sealed == NULL ||
	    sealed_len < SECRET_NONCE + SECRET_TAG ||
	    !make_ad(ad, sizeof(ad), table, column, row_id, &adlen))
		return NULL;
	mlen = sealed_len - SECRET_NONCE - SECRET_TAG;
	plain = plain_alloc(mlen + 1);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)plain,
	    &got, NULL, sealed + SECRET_NONCE, sealed_len - SECRET_NONCE,
	    (const unsigned char *)ad, adlen, sealed, k->k) != 0) {
		secret_mem_free(plain);
		return NULL;
	}
	plain[got] = '\0';
	return plain;
}

char *
secret_plain_dup(const char *s)
{
	size_t	 n = strlen(s);
	char	*plain;

	plain = plain_alloc(n + 1);
	memcpy(plain, s, n + 1);
	return plain;
}

void
secret_plain_free(char *plain)
{
	secret_mem_free(plain);
}

/* n bytes of guarded memory (see "Plaintext slots"); aborts when out of
 * memory, like xmalloc. */
static void *
plain_alloc(size_t n)
{
	struct slab	*sb;
	struct slot	*sl;
	int		 cls;

	for (cls = 0; cls < SLOT_CLASSES && n > slot_size[cls]; cls++)
		;
	if (cls == SLOT_CLASSES) {
		void	*p;

		if (sodium_init() < 0 || (p = sodium_malloc(n)) == NULL)
			abort();
		return p;
	}
	pthread_mutex_lock(&slots_mu);
	if (slots_free[cls] == NULL) {
		/* A new slab of this class, all of it free slots. */
		size_t	 each = slot_size[cls];

		sb = xcalloc(1, sizeof(*sb));
		if (sodium_init() < 0 ||
		    (sb->base = sodium_malloc(SLAB_BYTES)) == NULL)
			abort();
		sodium_memzero(sb->base, SLAB_BYTES);
		sb->cls = cls;
		sb->next = slabs;
		slabs = sb;
		for (size_t off = SLAB_BYTES; off >= each; off -= each) {
			sl = (struct slot *)(void *)(sb->base + off - each);
			sl->next = slots_free[cls];
			slots_free[cls] = sl;
		}
	}
	sl = slots_free[cls];
	slots_free[cls] = sl->next;
	pthread_mutex_unlock(&slots_mu);
	sl->next = NULL;
	return sl;
}

void *
secret_mem_alloc(size_t n)
{
	return plain_alloc(n);
}

void
secret_mem_free(void *p)
{
	struct slab	*sb;
	struct slot	*sl = p;

	if (p == NULL)
		return;
	pthread_mutex_lock(&slots_mu);
	for (sb = slabs; sb != NULL; sb = sb->next)
		if ((unsigned char *)p >= sb->base &&
		    (unsigned char *)p < sb->base + SLAB_BYTES)
			break;
	if (sb == NULL) {
		pthread_mutex_unlock(&slots_mu);
		sodium_free(p);		/* wipes it too */
		return;
	}
	sodium_memzero(p, slot_size[sb->cls]);
	sl->next = slots_free[sb->cls];
	slots_free[sb->cls] = sl;
	pthread_mutex_unlock(&slots_mu);
}

/* Bytes in the UTF-8 sequence led by c (1 for a stray byte). */
static size_t
utf8_char_len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

/*
 * Characters are counted as UTF-8 code points so a mask never splits one.
 * At most a quarter of them show, and never more than 8: the first
 * shown/2 and the last shown - shown/2 (the end is what people compare),
 * so 13 characters show 3 ("a…lm") and 32 or more show 8 ("sk-t…cdef").
 * The empty string masks to "" (there is nothing to hide, and callers use
 * "" to mean "no secret stored"). A secret whose shown ends would not fit
 * in out is fully masked rather than cut.
 */
char *
secret_mask(const char *plain, char *out, size_t outlen)
{
	size_t	 len, n_chars = 0, i, cl, shown, n_head, n_tail;
	size_t	 head = 0, tail = 0, need, k = 0;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	if (plain == NULL || plain[0] == '\0')
		return out;
	len = strlen(plain);
	for (i = 0; i < len; i += cl) {
		cl = utf8_char_len((unsigned char)plain[i]);
		if (i + cl > len)
			cl = len - i;
		n_chars++;
	}
	if (n_chars < MASK_MIN_CHARS)
		goto full;
	shown = n_chars / 4;
	if (shown > MASK_SHOWN_MAX)
		shown = MASK_SHOWN_MAX;
	n_head = shown / 2;
	n_tail = shown - n_head;
	/* Byte offsets: the end of the head, the start of the tail. */
	for (i = 0; i < len; i += cl, k++) {
		if (k == n_head)
			head = i;
		if (k == n_chars - n_tail)
			tail = i;
		cl = utf8_char_len((unsigned char)plain[i]);
		if (i + cl > len)
			cl = len - i;
	}
	need = head + sizeof(MASK_ELLIPSIS) - 1 + (len - tail) + 1;
	if (need > outlen)
		goto full;
	memcpy(out, plain, head);
	memcpy(out + head, MASK_ELLIPSIS, sizeof(MASK_ELLIPSIS) - 1);
	memcpy(out + head + sizeof(MASK_ELLIPSIS) - 1, plain + tail,
	    len - tail);
	out[need - 1] = '\0';
	return out;
full:
	if (outlen >= sizeof(MASK_FULL))
		memcpy(out, MASK_FULL, sizeof(MASK_FULL));
	return out;
}

void
secret_key_mac(const struct secret_key *k, const char purpose[8],
    const void *msg, size_t len, char out[65])
{
	unsigned char	 sub[crypto_auth_hmacsha256_KEYBYTES];
	unsigned char	 mac[crypto_auth_hmacsha256_BYTES];
	char		 ctx[crypto_kdf_CONTEXTBYTES];

	memset(ctx, 0, sizeof(ctx));
	memcpy(ctx, purpose, strnlen(purpose, sizeof(ctx)));
	crypto_kdf_derive_from_key(sub, sizeof(sub), 1, ctx, k->k);
	crypto_auth_hmacsha256(mac, msg, len, sub);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
	sodium_memzero(sub, sizeof(sub));
}
