/*
 * browser: runs the playwright-core specs in tests/browser/ against a real
 * server. Node cannot start the C harness, so this program does: one
 * cluster and one server (unchecked fixture), then one Check test per
 * NAME.test.mjs file in tests/browser/, each `node --test FILE` with the server's
 * URL and an owner's credentials in the environment, passing when node
 * exits 0. Node's output is printed either way.
 *
 * For openai.test.mjs (the official openai SDK against /v1) it also starts
 * the fake LLM, inserts a provider pointing at it, a model and an agent
 * with the time.now plugin, creates an API token with `parley token
 * create`, and queues in the fake a tool call and an answer for each of
 * the spec's two completions; afterwards it checks that both tool results
 * reached the fake.
 *
 * For handoff.test.mjs it starts the fake WhatsApp API (the server's
 * provider base URLs point at it; the spec reads its log through
 * PARLEY_TEST_FAKE_WA_URL), creates a member of the organisation with
 * `parley user create` (PARLEY_TEST_MEMBER_EMAIL / _PASSWORD) and passes
 * the Twilio account the spec's channel uses (PARLEY_TEST_TWILIO_SID /
 * _TOKEN, which the fake accepts). The spec makes its channel and agent
 * through the API with PARLEY_TEST_TOKEN and signs its own webhook.
 *
 * For mcp_oauth.test.mjs it starts the MCP test servers (tests/mcp/
 * server.mjs, the official SDKs; PARLEY_TEST_MCP_URL) and lets the server
 * reach loopback MCP servers (PARLEY_MCP_ALLOWED_CIDRS); the spec adds a
 * server with the authorization-code flow and signs in at its
 * authorization server in Chromium.
 *
 * Chromium, node or tests/browser/node_modules missing is a failure, not a
 * skip: `make deps` installs all three. PARLEY_BROWSER_SPEC=word runs only
 * the specs whose file name contains word (while working on one).
 */
#include "harness/harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#define BROWSER_DIR		"tests/browser"
#define MAX_SPECS		64
#define NODE_TIMEOUT_S		300
#define BROWSER_ORG		"Parley Browser Co"
#define OPENAI_SPEC		BROWSER_DIR "/openai.test.mjs"
#define AGENT_SLUG		"sdk-agent"
#define EXPECT_PLAIN		"Hello from the fake model after a tool call."
#define EXPECT_STREAM		"It is exactly the time the time.now tool " \
				"returned, streamed."
#define MEMBER_EMAIL		"member@example.com"
#define MEMBER_PW		"member-password-0123"
#define TW_SID			"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN		"0123456789abcdef0123456789abcdef"

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static int	 cmp_str(const void *a, const void *b);
static int	 find_specs(void);
static void	 setup_llm(void);
static void	 queue_openai(void);
static void	 check_openai_upstream(void);
static Suite	*browser_suite(void);

static struct hvars	 server_env;
static struct hpg	 pg;
static struct hserver	 srv;
static struct hfake	 fake, wa, mcp;
static char		*api_token;
static char		*specs[MAX_SPECS];
static int		 n_specs;

static void
setup(void)
{
	const char	*wa_args[] = { "--twilio-token", TW_TOKEN, NULL };

	hpg_start(&pg);
	hfake_start(&fake, "fake_llm", NULL);
	hfake_start(&wa, "fake_whatsapp", wa_args);
	hnode_start(&mcp, "tests/mcp/server.mjs", NULL);
	hvars_set(&server_env, "PARLEY_ADMIN_ORG=%s", BROWSER_ORG);
	hvars_set(&server_env, "PARLEY_MCP_ALLOWED_CIDRS=127.0.0.0/8");
	hvars_whatsapp(&server_env, &wa);
	hvars_set(&server_env, "PARLEY_JOB_POLL_MS=100");
	hserver_start(&srv, &pg, server_env.v);
	setup_llm();
	/* The handoff spec's member, made the way an operator makes one. */
	huser_create(&pg, MEMBER_EMAIL, BROWSER_ORG, "member", MEMBER_PW);
}

/*
 * The openai spec's world: provider → model → agent with time.now, by SQL
 * (the REST API has its own tests), and a token the way people make one.
 */
static void
setup_llm(void)
{
	char	*v;

	v = hpg_sqlf(&pg,
	    "WITH o AS (SELECT id FROM orgs WHERE name = '%s'),"
	    " p AS (INSERT INTO llm_providers (org_id, name, base_url)"
	    "   SELECT id, 'Fake LLM', '%s/v1' FROM o RETURNING id, org_id),"
	    " m AS (INSERT INTO org_models (org_id, provider_id, name,"
	    "   display_name) SELECT org_id, id, 'fake-model', 'Fake model'"
	    "   FROM p RETURNING id, org_id),"
	    " a AS (INSERT INTO agents (org_id, name, slug, system_prompt,"
	    "   model_id, mode) SELECT org_id, 'SDK agent', '%s',"
	    "   'You answer questions about time.', id, 'task' FROM m"
	    "   RETURNING id, org_id)"
	    " INSERT INTO agent_plugins (org_id, agent_id, plugin_id)"
	    " SELECT org_id, id, 'time.now' FROM a RETURNING agent_id",
	    BROWSER_ORG, fake.base, AGENT_SLUG);
	ck_assert_msg(v != NULL && strtol(v, NULL, 10) > 0, "cannot create the "
	    "agent with its plugin");
	free(v);

	api_token = htoken_create(&pg, "owner@example.com", "openai sdk",
	    "admin");
}

/* One tool call and one answer per completion the spec makes, in order. */
static void
queue_openai(void)
{
	hfake_reset(&fake);
	hfake_queue(&fake,
	    "[{\"tool_calls\":[{\"name\":\"time_now\",\"arguments\":{}}]},"
	    "{\"content\":\"" EXPECT_PLAIN "\"},"
	    "{\"tool_calls\":[{\"name\":\"time_now\",\"arguments\":{}}]},"
	    "{\"content\":\"" EXPECT_STREAM "\"}]");
}

/* Both completions ran the tool: the fake saw its result come back. */
static void
check_openai_upstream(void)
{
	char	*log = hfake_get(&fake, "/_fake/requests");
	char	*queued = hfake_get(&fake, "/_fake/queue");
	int	 n_tool = 0;

	for (const char *p = log; (p = strstr(p, "tool_call_id")) != NULL;
	    p++)
		n_tool++;
	ck_assert_msg(n_tool >= 2, "the fake LLM saw %d tool results, want "
	    "2 (one per completion):\n%.3000s", n_tool, log);
	ck_assert_msg(strstr(queued, "\"queued\":0") != NULL, "the spec left "
	    "scripted answers unused: %s", queued);
	free(log);
	free(queued);
}

static void
teardown(void)
{
	int	 st;

	if (srv.pid > 0) {
		st = hserver_stop(&srv);
		if (st != 0)
			fprintf(stderr, "browser: parley serve exited %d\n",
			    st);
	}
	if (fake.pid > 0)
		hfake_stop(&fake);
	if (wa.pid > 0)
		hfake_stop(&wa);
	if (mcp.pid > 0)
		hfake_stop(&mcp);
	cleanup();
}

/* Safe outside a test: never fails a Check test. */
static void
cleanup(void)
{
	free(api_token);
	api_token = NULL;
	hvars_free(&server_env);
	hpg_finish(&pg, "browser");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The NAME.test.mjs files in tests/browser/ under the cwd (the root). */
static int
find_specs(void)
{
	DIR		*d;
	struct dirent	*e;
	const char	*only = getenv("PARLEY_BROWSER_SPEC");
	size_t		 len;
	char		 path[512];

	if ((d = opendir(BROWSER_DIR)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n_specs < MAX_SPECS) {
		len = strlen(e->d_name);
		if (len <= 9 || strcmp(e->d_name + len - 9, ".test.mjs") != 0)
			continue;
		if (only != NULL && only[0] != '\0' &&
		    strstr(e->d_name, only) == NULL)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", BROWSER_DIR,
		    e->d_name) >= sizeof(path))
			continue;
		if ((specs[n_specs] = strdup(path)) == NULL)
			abort();
		n_specs++;
	}
	closedir(d);
	qsort(specs, (size_t)n_specs, sizeof(specs[0]), cmp_str);
	return n_specs;
}

START_TEST(t_prerequisites)
{
	const char	*chromium = getenv("PARLEY_CHROMIUM");
	const char	*argv[] = { "node", "--version", NULL };
	char		 path[4096];
	char		*out = NULL;
	int		 st;

	if (chromium == NULL || chromium[0] == '\0')
		chromium = "/usr/bin/chromium";
	ck_assert_msg(access(chromium, X_OK) == 0, "no Chromium at %s "
	    "(make deps installs Debian's chromium)", chromium);
	ck_assert((size_t)snprintf(path, sizeof(path),
	    "%s/%s/node_modules/playwright-core", hrepo_root(), BROWSER_DIR) <
	    sizeof(path));
	ck_assert_msg(access(path, R_OK) == 0, "%s is missing (make deps "
	    "runs npm ci in %s)", path, BROWSER_DIR);
	ck_assert((size_t)snprintf(path, sizeof(path),
	    "%s/%s/node_modules/openai", hrepo_root(), BROWSER_DIR) <
	    sizeof(path));
	ck_assert_msg(access(path, R_OK) == 0, "%s is missing (make deps "
	    "runs npm ci in %s)", path, BROWSER_DIR);
	st = hrun_cmd(argv, NULL, NULL, &out, 30);
	ck_assert_msg(st == 0, "node --version exited %d: %s", st, out);
	free(out);
	ck_assert_msg(n_specs > 0, "no .test.mjs files in %s under %s",
	    BROWSER_DIR, hrepo_root());
}
END_TEST

START_TEST(t_spec)
{
	char		 url[128], org[128], tok[128], wa_url[128];
	char		 mcp_url[128];
	const char	*env[] = {
		url,
		"PARLEY_TEST_EMAIL=owner@example.com",
		"PARLEY_TEST_PASSWORD=correct-horse-battery-staple",
		org,
		tok,
		"PARLEY_TEST_AGENT=agent:" AGENT_SLUG,
		"PARLEY_TEST_EXPECT_PLAIN=" EXPECT_PLAIN,
		"PARLEY_TEST_EXPECT_STREAM=" EXPECT_STREAM,
		"PARLEY_TEST_MEMBER_EMAIL=" MEMBER_EMAIL,
		"PARLEY_TEST_MEMBER_PASSWORD=" MEMBER_PW,
		"PARLEY_TEST_TWILIO_SID=" TW_SID,
		"PARLEY_TEST_TWILIO_TOKEN=" TW_TOKEN,
		wa_url,
		mcp_url,
		NULL,
	};
	bool		 is_openai = strcmp(specs[_i], OPENAI_SPEC) == 0;
	const char	*argv[] = { "node", "--test", "--test-reporter=spec",
			    specs[_i], NULL };
	char		*out = NULL;
	int		 st;

	snprintf(url, sizeof(url), "PARLEY_TEST_URL=%s", srv.base);
	snprintf(org, sizeof(org), "PARLEY_TEST_ORG=%s", BROWSER_ORG);
	snprintf(tok, sizeof(tok), "PARLEY_TEST_TOKEN=%s", api_token);
	snprintf(wa_url, sizeof(wa_url), "PARLEY_TEST_FAKE_WA_URL=%s",
	    wa.base);
	snprintf(mcp_url, sizeof(mcp_url), "PARLEY_TEST_MCP_URL=%s", mcp.base);
	if (is_openai)
		queue_openai();
	printf("---- node --test %s ----\n", specs[_i]);
	fflush(stdout);
	st = hrun_cmd(argv, env, NULL, &out, NODE_TIMEOUT_S);
	fputs(out, stdout);
	printf("---- end of %s (exit %d) ----\n", specs[_i], st);
	fflush(stdout);
	free(out);
	ck_assert_msg(st == 0, "node --test %s exited %d (output above; "
	    "server log %s)", specs[_i], st, srv.log_path);
	if (is_openai)
		check_openai_upstream();
}
END_TEST

START_TEST(t_sigterm_exits_zero)
{
	hserver_stop_clean(&srv);
}
END_TEST

static Suite *
browser_suite(void)
{
	Suite	*s = suite_create("browser");
	TCase	*tc = tcase_create("browser");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_prerequisites);
	tcase_add_loop_test(tc, t_spec, 0, n_specs);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed, i;

	find_specs();
	failed = hrun_suites(browser_suite(), NULL);
	cleanup();
	for (i = 0; i < n_specs; i++)
		free(specs[i]);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
