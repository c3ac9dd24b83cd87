#!/usr/bin/env bash
# make lint (tests/lint.sh runs it): the layers of src/ point one way
# (docs/architecture.md "Layers"). Computes the folder include graph from
# every #include "folder/file.h" in src/ and fails on
#  - a folder including a folder of a higher layer (app/ is the top, then
#    the handlers, http/, the domain, entities and senders, infrastructure,
#    util/);
#  - chat/ including worker/ or webhooks/;
#  - llm/ including a plugin (plugins/plugin.h, the tool interface, is the
#    one header of plugins/ it may include);
#  - model/ including anything but util/, crypto/, db/ and tmpl/;
#  - a domain folder (chat/ plugins/ llm/ worker/) including app/;
#  - any cycle between folders below app/ (siblings of one layer may
#    include each other, but never both ways round).
# Usage: tests/layers.sh [srcdir]   (default: src). Prints each offending
# include with its file and line.
#        tests/layers.sh --self-test   checks that the check fails: copies
# src/ to a scratch tree, breaks one rule at a time and expects the rule's
# sentence (a check that cannot fail is no check).
set -u
cd "$(dirname "$0")/.."

if [ "${1:-}" = --self-test ]; then
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/layers-self.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
	bad=0
	# file>header to add (";" between several)|sentence it must print
	while IFS='|' read -r adds want; do
		rm -rf "$scratch/src"
		cp -r src "$scratch/src"
		IFS=';' read -ra list <<<"$adds"
		for add in "${list[@]}"; do
			printf '#include "%s"\n' "${add#*>}" \
			    >>"$scratch/src/${add%%>*}"
		done
		out=$("$0" "$scratch/src" 2>&1)
		if [ $? -eq 0 ] || ! printf '%s' "$out" | grep -qF "$want"; then
			echo "layers self-test: $adds passed the check"
			bad=1
		fi
	done <<'CASES'
chat/outbox.c>worker/queue.h|chat/ never includes worker/
chat/threads.c>webhooks/webhook.h|chat/ never includes webhooks/
llm/gateway.c>plugins/tools.h|llm/ never names a plugin
model/agent.c>http/req.h|model/ includes only
model/agent.c>chat/texts.h|model/ includes only
worker/reply.c>app/app.h|a domain folder never includes app/
http/req.c>panel/panel.h|a higher layer
db/pool.c>crypto/secret.h;crypto/hmac.c>db/db.h|in a cycle
CASES
	[ $bad = 0 ] && echo "layers self-test: ok (every rule fails when broken)"
	exit $bad
fi

src=${1:-src}

# The layers, bottom (0) to top. A folder not listed fails: give every
# new folder its place here and in docs/architecture.md.
declare -A rank=(
	[util]=0
	[crypto]=1 [db]=1 [tmpl]=1
	[model]=2 [channels]=2
	[chat]=3
	[plugins]=4
	[llm]=5
	[worker]=6
	[http]=7
	[panel]=8 [api]=8 [webhooks]=8
	[app]=9
	[main]=10
)

edges=$(mktemp "${TMPDIR:-/tmp}/layers.XXXXXX")
trap 'rm -f "$edges"' EXIT
fail=0

# "from to file:line header" for every include of another folder (one
# grep over the tree; awk names the including folder, main for src/*.c).
grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"/]+/[^"]+"' \
    "$src"/*.c "$src"/*/*.c "$src"/*/*.h 2>/dev/null |
    awk -v src="$src/" '{
	split($0, p, ":");
	file = p[1]; n = p[2];
	rel = substr(file, length(src) + 1);
	from = index(rel, "/") ? substr(rel, 1, index(rel, "/") - 1) : "main";
	match($0, /"[^"]+"/);
	hdr = substr($0, RSTART + 1, RLENGTH - 2);
	to = substr(hdr, 1, index(hdr, "/") - 1);
	if (to != from)
		print from, to, file ":" n, hdr;
    }' >"$edges"

while read -r from to where hdr; do
	why=
	if [ -z "${rank[$from]+x}" ]; then
		why="folder $from/ has no layer (tests/layers.sh)"
	elif [ -z "${rank[$to]+x}" ]; then
		why="folder $to/ has no layer (tests/layers.sh)"
	elif [ "$from" = chat ] && { [ "$to" = worker ] || [ "$to" = webhooks ]; }; then
		why="chat/ never includes $to/"
	elif [ "$from" = llm ] && [ "$to" = plugins ] && [ "$hdr" != plugins/plugin.h ]; then
		why="llm/ never names a plugin (only plugins/plugin.h)"
	elif [ "$from" = model ] && ! [[ $to =~ ^(util|crypto|db|tmpl)$ ]]; then
		why="model/ includes only util/ crypto/ db/ tmpl/"
	elif [[ $from =~ ^(chat|plugins|llm|worker)$ ]] && [ "$to" = app ]; then
		why="a domain folder never includes app/"
	elif [ "${rank[$to]}" -gt "${rank[$from]}" ]; then
		why="$from/ includes $to/, a higher layer"
	fi
	if [ -n "$why" ]; then
		echo "$where: #include \"$hdr\": $why"
		fail=1
	fi
done <"$edges"

# Cycles between folders below app/: tsort reports the first loop it finds.
loop=$(awk '$1 != "app" && $1 != "main" && $2 != "app" && $2 != "main" \
    { print $1, $2 }' "$edges" | sort -u | tsort 2>&1 >/dev/null)
if [ -n "$loop" ]; then
	echo "$loop" | grep -v 'input contains a loop' | sed 's/^tsort: //' |
	    sort -u | while read -r f; do
		echo "layers: in a cycle: $f/ includes $(awk -v f="$f" \
		    '$1 == f { print $2 "/" }' "$edges" | sort -u |
		    tr '\n' ' ')"
	done
	echo "layers: a cycle between folders below app/ (above)"
	fail=1
fi

if [ $fail = 0 ]; then
	echo "layers: ok ($(cut -d' ' -f1,2 "$edges" | sort -u | wc -l) folder edges)"
else
	echo "layers: the include graph breaks the layers (docs/architecture.md)"
fi
exit $fail
