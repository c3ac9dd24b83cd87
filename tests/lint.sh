#!/usr/bin/env bash
# make lint: the checks STYLE.md asks for that a compiler does not make.
#  - banned calls (sprintf strcpy strcat atoi gets);
#  - the SQL argument of db_query/db_exec is a string literal;
#  - cJSON_Parse* is called only in src/util/json.c (bounded nesting);
#  - every raw Mustache tag ({{{x}}} or {{&x}}) carries a {{! raw: why }};
#  - the layers of src/ point one way (tests/layers.sh, and its self-test
#    that each rule fails when broken);
#  - clang-format agrees with .clang-format (reported, not fatal: the
#    code predates the file and is being brought in line).
set -u
cd "$(dirname "$0")/.."
fail=0

if grep -nE '\b(sprintf|strcpy|strcat|atoi|gets)\s*\(' src/*.c src/*/*.c \
    | grep -vE 'snprintf|vsnprintf'; then
	echo "lint: banned call above (use snprintf, str_copy, buf_*, str_to_i64)"
	fail=1
fi

# The argument after db/res must start with a string literal.
if grep -nE 'db_(query|exec)\(' src/*/*.c | grep -vE 'db_(query|exec)\([^,]+,( *&?[a-z_]+,)? *"' \
    | grep -vE '^\S+:\s*\*|db\.h|^\S+:[0-9]+:\s*(enum|static|int)\b' \
    | grep -vE 'db_(query|exec)\([^,]*,[^,]*,$|db_(query|exec)\([^,]*,$' \
    | grep -vE '^[^:]+:[0-9]+:db_(query|exec)\('; then
	echo "lint: db_query/db_exec whose SQL is not a string literal (above)"
	fail=1
fi

# JSON from anywhere is parsed through util/json.c, which bounds nesting
# before cJSON recurses (issue 10: an 800-deep body crashed the server).
deep=$(grep -nE '\bcJSON_Parse[A-Za-z]*\s*\(' src/*.c src/*/*.c src/*/*.h |
    grep -v '^src/util/json\.c:')
if [ -n "$deep" ]; then
	echo "$deep"
	echo "lint: cJSON_Parse* outside src/util/json.c (use json_parse)"
	fail=1
fi

raw=$(grep -rnE '\{\{\{|\{\{&' templates | grep -v '{{! raw:')
if [ -n "$raw" ]; then
	echo "$raw"
	echo "lint: raw template output without a {{! raw: reason }} comment"
	fail=1
fi

if ! tests/layers.sh; then
	fail=1
fi
if ! tests/layers.sh --self-test; then
	fail=1
fi

if command -v clang-format >/dev/null && [ -f .clang-format ]; then
	n=$(for f in src/*.c src/*/*.c src/*/*.h; do
		clang-format --dry-run "$f" 2>&1 | grep -c warning; done |
		awk '{s+=$1} END {print s+0}')
	echo "lint: clang-format differences: $n (informational)"
fi
[ $fail = 0 ] && echo "lint: ok"
exit $fail
