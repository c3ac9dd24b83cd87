# Parley: one C binary (build/parley) with its tests and benchmarks.
#
#   make            build build/parley
#   make run        install what is missing, build, start the embedded
#                   PostgreSQL, migrate, serve on 127.0.0.1:8080
#   make test       the same set-up, then every test under ASan + UBSan
#   make lint       style, SQL-literal, raw-template, banned-call and layer
#                   checks (tests/lint.sh, tests/layers.sh)
#   make fuzz       libFuzzer targets (tests/fuzz), FUZZ_SECONDS each
#   make deps       install missing Debian packages and npm modules
#   SANITIZE=1      build with ASan + UBSan into build/asan (never mixed)
#   V=1             print whole compiler lines

CC	?= cc
VERSION	 = 0.1.0

ifeq ($(SANITIZE),1)
BUILD	 = build/asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
OPT	 = -O1 -g
else
BUILD	 = build
SANFLAGS =
OPT	?= -O2 -g
endif

PKGS	 = libpq libcurl libsodium libcjson libargon2 libcrypto libqrencode gdlib \
	   poppler-glib libzip libxml-2.0
WARN	 = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 \
	   -Wvla -Wjump-misses-init -fno-common
CPPFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc \
	   -DPARLEY_VERSION='"$(VERSION)"' \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS	+= $(OPT) $(WARN) $(SANFLAGS) -pthread -MMD -MP
LDLIBS	 = -lcivetweb $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
	   -pthread -lm
LDFLAGS	+= $(SANFLAGS)

# --- sources, by module (DESIGN.md layout) -------------------------------
SRC_UTIL   = src/util/xmalloc.c src/util/buf.c src/util/arena.c \
	     src/util/str.c src/util/utf8.c src/util/url.c src/util/time.c \
	     src/util/httpc.c src/util/thumb.c src/util/json.c src/util/s3.c \
	     src/util/doctext.c \
	     src/util/log.c src/util/config.c src/util/metrics.c \
	     src/util/cidr.c src/util/trace.c src/util/cron.c \
	     src/util/waid.c
SRC_DB     = src/db/pool.c src/db/query.c src/db/migrate.c \
	     src/db/embedded.c src/db/listen.c src/db/presence.c \
	     src/db/array.c
SRC_TMPL   = src/tmpl/mustache.c src/tmpl/loader.c
SRC_CRYPTO = src/crypto/password.c src/crypto/token.c src/crypto/secret.c \
	     src/crypto/redact.c \
	     src/crypto/hmac.c
SRC_APP    = src/app/app.c src/app/routes.c src/app/cli_key.c \
	     src/app/cli_token.c src/app/cli_user.c src/app/cli_media.c \
	     src/app/jobs.c
SRC_HTTP   = src/http/server.c src/http/router.c src/http/req.c \
	     src/http/resp.c src/http/form.c src/http/cookie.c \
	     src/http/session.c src/http/csrf.c src/http/static.c \
	     src/http/health.c src/http/audit.c
SRC_MODEL  = src/model/org.c src/model/user.c src/model/throttle.c \
	     src/model/fielderr.c src/model/provider.c src/model/orgmodel.c \
	     src/model/agent.c src/model/knowledge.c src/model/apitoken.c \
	     src/model/llmcall.c src/model/channel.c src/model/audit.c \
	     src/model/media.c src/model/mcp_server.c src/model/masterkey.c \
	     src/model/template.c src/model/followup.c \
	     src/model/schedule.c
SRC_WORKER = src/worker/queue.c src/worker/pool.c src/worker/turn.c \
	     src/worker/send.c src/worker/working.c src/worker/fee.c \
	     src/worker/schedule.c \
	     src/worker/voice.c
SRC_CHAN   = src/channels/split.c src/channels/registry.c \
	     src/channels/twilio.c src/channels/meta.c src/channels/kapso.c \
	     src/channels/sandbox.c src/channels/template.c \
	     src/channels/media_out.c
SRC_CHAT   = src/chat/threads.c src/chat/texts.c src/chat/connect.c \
	     src/chat/commands.c src/chat/handoff.c src/chat/review.c \
	     src/chat/media.c src/chat/extract.c src/chat/ingest.c \
	     src/chat/chats.c src/chat/messages.c src/chat/outbox.c \
	     src/chat/search.c src/chat/window.c src/chat/templates.c \
	     src/chat/contact.c src/chat/coexist.c src/chat/fees.c
SRC_HOOKS  = src/webhooks/provider.c src/webhooks/twilio.c \
	     src/webhooks/chancache.c \
	     src/webhooks/meta.c src/webhooks/kapso.c
SRC_LLM    = src/llm/client.c src/llm/gateway.c src/llm/builtin.c \
	     src/llm/transcribe.c src/llm/upstream.c src/llm/input.c
SRC_PLUG   = src/plugins/registry.c src/plugins/time.c \
	     src/plugins/knowledge.c src/plugins/handoff.c \
	     src/plugins/whatsapp.c src/plugins/mcp.c \
	     src/plugins/mcp_client.c src/plugins/mcp_oauth.c
SRC_PANEL  = src/panel/panel.c src/panel/auth.c src/panel/dashboard.c \
	     src/panel/settings.c src/panel/agents.c src/panel/plugins.c \
	     src/panel/providers.c src/panel/tokens.c src/panel/channels.c \
	     src/panel/sandbox.c src/panel/integrations.c \
	     src/panel/organization.c src/panel/conversations.c \
	     src/panel/handoff.c src/panel/users.c src/panel/mcp.c \
	     src/panel/proactive.c
SRC_API    = src/api/api.c src/api/providers.c src/api/agents.c \
	     src/api/knowledge.c src/api/openai.c src/api/channels.c \
	     src/api/connect.c src/api/conversations.c src/api/mcp.c \
	     src/api/proactive.c src/api/organization.c

SRC_LIB	 = $(SRC_UTIL) $(SRC_DB) $(SRC_TMPL) $(SRC_CRYPTO) $(SRC_APP) \
	   $(SRC_HTTP) $(SRC_MODEL) $(SRC_WORKER) $(SRC_CHAN) $(SRC_CHAT) \
	   $(SRC_HOOKS) $(SRC_LLM) $(SRC_PLUG) $(SRC_PANEL) $(SRC_API)
SRC_MAIN = src/main.c

OBJ_LIB	 = $(SRC_LIB:%.c=$(BUILD)/obj/%.o)
OBJ_MAIN = $(SRC_MAIN:%.c=$(BUILD)/obj/%.o)
LIB	 = $(BUILD)/libparley.a

# --- tests ---------------------------------------------------------------
# Each tests/unit/test_*.c and tests/integration/*.c is one Check binary.
TEST_UNIT  = $(sort $(wildcard tests/unit/test_*.c))
TEST_INTEG = $(sort $(wildcard tests/integration/*.c))
TEST_HARN  = tests/harness/harness.c tests/harness/pg.c tests/harness/http.c \
	     tests/harness/fake.c tests/harness/panel.c \
	     tests/harness/webhook.c tests/harness/model.c \
	     tests/harness/world.c tests/harness/ha.c tests/harness/docs.c

TEST_UNIT_BIN  = $(TEST_UNIT:tests/unit/%.c=$(BUILD)/tests/unit/%)
TEST_SPEC_BIN  = $(BUILD)/tests/spec_runner
TEST_INTEG_BIN = $(TEST_INTEG:tests/integration/%.c=$(BUILD)/tests/integration/%)
OBJ_HARN       = $(TEST_HARN:%.c=$(BUILD)/obj/%.o)
TEST_LIBS      = $(shell pkg-config --libs check fontconfig 2>/dev/null)
TEST_CFLAGS    = $(shell pkg-config --cflags check 2>/dev/null) -Itests

ifeq ($(V),1)
Q =
else
Q = @
endif

.PHONY: all run test test-build deps lint clean bench fuzz fuzz-build
all: $(BUILD)/parley

$(BUILD)/parley: $(OBJ_MAIN) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJ_MAIN) $(LIB) $(LDLIBS)

$(LIB): $(OBJ_LIB)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $(OBJ_LIB)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(TEST_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(TEST_LIBS) $(LDLIBS)

# The document readers' unit tests make their documents with the
# harness's writers (tests/harness/docs.h), which need no Check.
UNIT_DOCS = $(BUILD)/tests/unit/test_doctext $(BUILD)/tests/unit/test_extract
$(UNIT_DOCS): $(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o \
		   $(BUILD)/obj/tests/harness/docs.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tests/harness/docs.o \
	    $(LIB) $(TEST_LIBS) $(LDLIBS)

$(TEST_SPEC_BIN): $(BUILD)/obj/tests/spec/spec_runner.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(TEST_LIBS) $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o \
		   $(OBJ_HARN) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(OBJ_HARN) $(LIB) $(TEST_LIBS) \
	    $(LDLIBS)

# Local stand-ins for services on the internet (tests/fakes/*.c): each is
# its own small CivetWeb server speaking the real wire format.
TEST_FAKES     = $(sort $(wildcard tests/fakes/*.c))
TEST_FAKES_BIN = $(TEST_FAKES:tests/fakes/%.c=$(BUILD)/tests/fakes/%)

$(BUILD)/tests/fakes/%: $(BUILD)/obj/tests/fakes/%.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test-build: $(BUILD)/parley $(TEST_UNIT_BIN) $(TEST_SPEC_BIN) \
	    $(TEST_INTEG_BIN) $(TEST_FAKES_BIN)

# --- fuzzing (make fuzz; tests/fuzz/fuzz.h) -------------------------------
# libFuzzer targets, built with Debian's clang into build/fuzz (never mixed
# with the gcc builds), each run for FUZZ_SECONDS by tests/fuzz/run.sh.
# FUZZ_TARGETS=fuzz_meta runs one. Nothing here is built by make or make run.
FUZZ_CC      = clang
FUZZ_BUILD   = build/fuzz
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	       -fno-omit-frame-pointer
FUZZ_CFLAGS  = -O1 -g $(filter-out -Wjump-misses-init,$(WARN)) $(FUZZ_SAN) \
	       -fsanitize=fuzzer-no-link -pthread -MMD -MP
FUZZ_SRC     = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_OBJ_LIB = $(SRC_LIB:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_OBJ_SUP = $(FUZZ_BUILD)/obj/tests/fuzz/support.o
# What tests/fuzz/support.c stands in for: CivetWeb's connection, the
# database, the webhook path's channel lookup and store.
FUZZ_WRAP    = mg_get_request_info mg_get_header mg_read mg_write \
	       mg_disable_keep_alive mg_get_context \
	       mg_get_response_code_text db_acquire \
	       chancache_get chancache_verified ingest_store
comma	     := ,
FUZZ_LDFLAGS = -fsanitize=fuzzer,address,undefined \
	       $(addprefix -Wl$(comma)--wrap=,$(FUZZ_WRAP))

$(FUZZ_BUILD)/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (fuzz)"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -Itests $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (fuzz)"
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libparley.a: $(FUZZ_OBJ_LIB)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $(FUZZ_OBJ_LIB)

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ_SUP) \
		     $(FUZZ_BUILD)/libparley.a
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $< $(FUZZ_OBJ_SUP) \
	    $(FUZZ_BUILD)/libparley.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

# Each target for FUZZ_SECONDS; a crash fails with its reproducer printed
# and kept under build/fuzz/crashes/.
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# --- the two commands ----------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	./build/parley serve

test: deps
	@$(MAKE) --no-print-directory SANITIZE=1 test-build
	@$(MAKE) --no-print-directory all
	@tests/run-all.sh build/asan

# Debian packages (one list), then npm modules for the browser tests and
# the MCP test servers (the official SDKs, tests/mcp/) and
# the node helpers the C tests run (tests/node: the official twilio package,
# and @20minutes/s3rver, the S3-compatible server of the media tests).
DEB_PKGS = gcc make pkg-config libcivetweb-dev libpq-dev \
	   libcurl4-openssl-dev libcjson-dev libsodium-dev libargon2-dev \
	   libssl-dev libqrencode-dev libgd-dev libpoppler-glib-dev \
	   libzip-dev libxml2-dev check postgresql-15 chromium fonts-liberation \
	   clang-format clang libclang-rt-14-dev strace pgbouncer
# Quick when everything is there: one dpkg-query, one test for node_modules.
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || echo $$p; done); \
	command -v node >/dev/null && command -v npm >/dev/null || \
	    missing="$$missing nodejs npm"; \
	if [ -n "$$(echo $$missing)" ]; then \
	    echo "deps: installing$$(echo ' '$$missing)"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@if [ ! -d tests/browser/node_modules/playwright-core ] || \
	    [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; \
	then echo "deps: npm ci (tests/browser)"; \
	    (cd tests/browser && npm ci --no-audit --no-fund --silent) && \
	    touch tests/browser/node_modules; fi
	@if [ ! -d tests/mcp/node_modules/@modelcontextprotocol/sdk ] || \
	    [ tests/mcp/package-lock.json -nt tests/mcp/node_modules ]; \
	then echo "deps: npm ci (tests/mcp)"; \
	    (cd tests/mcp && npm ci --no-audit --no-fund --silent) && \
	    touch tests/mcp/node_modules; fi
	@if [ ! -d tests/node/node_modules/twilio ] || \
	    [ ! -d tests/node/node_modules/@20minutes/s3rver ] || \
	    [ tests/node/package-lock.json -nt tests/node/node_modules ]; \
	then echo "deps: npm ci (tests/node)"; \
	    (cd tests/node && npm ci --no-audit --no-fund --silent) && \
	    touch tests/node/node_modules; fi

lint:
	@tests/lint.sh

# Benchmarks and their targets, a few minutes (bench/README.md).
bench:
	@bench/run.sh

clean:
	rm -rf build

-include $(OBJ_LIB:.o=.d) $(OBJ_MAIN:.o=.d)
-include $(wildcard $(BUILD)/obj/tests/*/*.d)
-include $(wildcard $(FUZZ_OBJ_LIB:.o=.d) $(FUZZ_BUILD)/obj/tests/fuzz/*.d)
