/*
 * extract: a document's text, read once when the document is downloaded
 * (chat/media.c), so that a hostile file cannot take the server down.
 *
 * The text formats (plain text, Markdown, CSV, JSON) are read in place:
 * their readers are linear and bounded (util/doctext.h). PDF, DOCX and
 * XLSX, whose readers are large libraries (poppler, libzip, libxml2), are
 * read by a separate process, `parley extract`, run from this very binary
 * with posix_spawn:
 *
 *   - the document is handed over in a sealed memory file on stdin, the
 *     text comes back on a pipe ("OK <chars> <truncated> <pages>\n" and
 *     the text, or "ERR <reason>\n");
 *   - the child first closes every descriptor but 0–2, gets an empty
 *     environment (sanitizer options aside), and sets its own limits:
 *     CPU seconds (RLIMIT_CPU), no core dumps, and, except in sanitizer
 *     builds (whose shadow memory needs terabytes of address space and
 *     whose reports go to the server's log), address space (RLIMIT_AS)
 *     and no file larger than its answer (RLIMIT_FSIZE); it dies with
 *     the server (PR_SET_PDEATHSIG);
 *   - the server kills it when the wall-clock limit passes or when it
 *     sends more than the character cap allows, and reads its end: a
 *     crash, a timeout, a memory failure or a refusal each become a
 *     reason ("could not be read: <reason>") stored with the message.
 *
 * At most EXTRACT_CONCURRENCY documents are read at once in a process;
 * callers wait their turn (the limits bound each wait).
 *
 * Thread-safety: any thread may call extract_run.
 */
#ifndef PARLEY_CHAT_EXTRACT_H
#define PARLEY_CHAT_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/doctext.h"

#define EXTRACT_CONCURRENCY	2
#define EXTRACT_WHY_MAX		300

struct app;

/* The outcome: text, or the reason it could not be read. */
struct extract_result {
	bool		 ok;
	struct buf	 text;		/* UTF-8, when ok */
	size_t		 chars;
	bool		 truncated;	/* a cap cut it */
	char		 why[EXTRACT_WHY_MAX];	/* "the PDF is damaged …" */
};

void	 extract_result_init(struct extract_result *r);
void	 extract_result_cleanup(struct extract_result *r);

/* The configured caps (PARLEY_EXTRACT_*) as doctext limits. */
void	 extract_limits(const struct app *app, struct doc_limits *l);

/*
 * Reads document kind k (n bytes at p) into out (extract_result_init'ed)
 * as the file-top comment says. Never fails as a call: every problem is
 * out->ok false with a reason. No database connection is needed or held.
 */
void	 extract_run(const struct app *app, enum doc_kind k,
	    const unsigned char *p, size_t n, struct extract_result *out);

/*
 * `parley extract --kind K --max-bytes N --max-chars N --max-pages N
 * --cpu S --mem MB`: the child's side, reading stdin and writing stdout.
 * Returns the exit status (0 whenever an answer was written).
 */
int	 extract_child_main(int argc, char **argv);

#endif
