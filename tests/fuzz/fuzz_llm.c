/*
 * fuzz_llm: what model servers answer (llm/client.c, llm/transcribe.c,
 * llm/upstream.c): a chat completion as one JSON answer, as an SSE stream
 * (content and tool-call fragments, usage, errors mid-stream, [DONE]), an
 * error body, and a transcription answer. A small HTTP server on loopback,
 * in this process, answers each call with the input, so the real libcurl
 * path and the real parsers run. Input: a flags byte, then the body.
 * Flags: bit 0 stream (with a delta callback); bit 1 say
 * text/event-stream; bit 2 answer 400 (an error body); bit 3 it is a
 * transcription.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "crypto/redact.h"
#include "llm/client.h"
#include "llm/transcribe.h"
#include "llm/upstream.h"
#include "util/json.h"

/* The call's key: listed for redaction wherever upstream text is kept. */
#define FUZZ_LLM_KEY	"sk-fuzz-0123456789"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int		 listen_fd = -1;
static int		 port;
static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t		*answer;		/* a copy: the server may still
						   be sending it after a call */
static size_t		 answer_len;
static int		 answer_status;
static const char	*answer_type;
static size_t		 n_delta;

static void	*serve(void *);
static void	 start(void);
static void	 on_delta(void *, const char *, size_t);

/* Reads one request (headers, then Content-Length bytes) and answers. */
static void *
serve(void *arg)
{
	char	 buf[65536], head[256];

	(void)arg;
	for (;;) {
		int	 fd = accept(listen_fd, NULL, NULL);
		size_t	 got = 0;
		long	 cl = 0;
		char	*end = NULL, *p;
		int	 n;

		if (fd < 0)
			continue;
		while (got < sizeof(buf) - 1 &&
		    (n = (int)recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
				if ((p = strcasestr(buf, "Content-Length:")) != NULL)
					cl = strtol(p + 15, NULL, 10);
			}
			if (end != NULL && got >= (size_t)(end + 4 - buf) + (size_t)cl)
				break;
		}
		pthread_mutex_lock(&mu);
		n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: %s"
		    "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		    answer_status, answer_type, answer_len);
		(void)send(fd, head, (size_t)n, MSG_NOSIGNAL);
		if (answer_len > 0)
			(void)send(fd, answer, answer_len, MSG_NOSIGNAL);
		pthread_mutex_unlock(&mu);
		shutdown(fd, SHUT_WR);
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void
start(void)
{
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof(sa);
	pthread_t		 t;
	int			 one = 1;

	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa,
	    sizeof(sa)) != 0 || listen(listen_fd, 64) != 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sa, &len) != 0)
		abort();
	port = ntohs(sa.sin_port);
	if (pthread_create(&t, NULL, serve, NULL) != 0)
		abort();
	pthread_detach(t);
}

static void
on_delta(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		n_delta += text[i] != 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct llm_endpoint	 ep;
	struct llm_result	 res;
	struct transcribe_req	 tr;
	struct transcribe_result tres;
	struct redact		 rd;
	char			 base[64], msg[512];
	cJSON			*req;
	uint8_t			 flags;

	if (size < 1)
		return 0;
	if (listen_fd < 0)
		start();
	flags = data[0];
	pthread_mutex_lock(&mu);
	free(answer);
	answer = malloc(size);
	if (answer == NULL)
		abort();
	memcpy(answer, data + 1, size - 1);
	answer_len = size - 1;
	answer_status = (flags & 4) ? 400 : 200;
	answer_type = (flags & 2) ? "text/event-stream" : "application/json";
	pthread_mutex_unlock(&mu);

	/* With the call's key listed for redaction, as the client does: the
	 * key never survives into the message, wherever the body puts it. */
	redact_init(&rd);
	redact_add(&rd, FUZZ_LLM_KEY);
	upstream_message((const char *)data + 1, size - 1, &rd, msg,
	    sizeof(msg));
	if (memchr(msg, '\0', sizeof(msg)) == NULL ||
	    strstr(msg, FUZZ_LLM_KEY) != NULL)
		abort();

	snprintf(base, sizeof(base), "http://127.0.0.1:%d/v1", port);
	if (flags & 8) {
		static const unsigned char	 audio[] = "OggS fake audio";

		memset(&tr, 0, sizeof(tr));
		memset(&tres, 0, sizeof(tres));
		tr.base_url = base;
		tr.api_key = FUZZ_LLM_KEY;
		tr.model = "whisper-1";
		tr.data = audio;
		tr.len = sizeof(audio) - 1;
		tr.content_type = "audio/ogg";
		tr.timeout_ms = 5000;
		(void)transcribe_audio(&tr, &tres);
		if (tres.err == TRANSCRIBE_OK && tres.text == NULL)
			abort();
		transcribe_result_cleanup(&tres);
		return 0;
	}
	memset(&ep, 0, sizeof(ep));
	ep.base_url = base;
	ep.api_key = FUZZ_LLM_KEY;
	ep.timeout_ms = 5000;
	ep.max_retries = -1;
	req = json_parse_str("{\"model\":\"m\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}]}", NULL);
	memset(&res, 0, sizeof(res));
	if (llm_chat(&ep, req, (flags & 1) ? on_delta : NULL, NULL, &res) ==
	    LLM_OK && res.response == NULL)
		abort();
	if (memchr(res.error, '\0', sizeof(res.error)) == NULL)
		abort();
	llm_result_cleanup(&res);
	cJSON_Delete(req);
	return 0;
}
