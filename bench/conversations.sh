#!/bin/bash
# bench/conversations.sh: the conversations list and search at scale
# (bench/conversations.c): 100,000 chats and 10,000,000 messages in a
# throwaway cluster, then p50/p99 of review_list() — what GET
# /conversations and GET /api/v1/conversations run — for the list with
# filters and cursors and for search, beside the target (p99 < 50 ms).
#
# Knobs: BENCH_CHATS (100000), BENCH_MESSAGES (10000000), BENCH_REQUESTS
# (200), BENCH_KEEP (set: leave the cluster running, to look at plans).
# About 3 minutes on 2 cores at the defaults; scale down with
# BENCH_MESSAGES for a quick look.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
make --no-print-directory -j"$(nproc)" all >/dev/null ||
    { echo "bench: the tree does not build (make all failed)" >&2; exit 1; }
PKGS="libpq libcurl libsodium libcjson libargon2 libcrypto libqrencode gdlib"
mkdir -p build/bench
cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_GNU_SOURCE -Isrc \
    $(pkg-config --cflags $PKGS) -O2 -g -Wall -Wextra -Werror -Wshadow \
    -o build/bench/conversations bench/conversations.c build/libparley.a \
    -lcivetweb $(pkg-config --libs $PKGS) -pthread -lm
exec timeout 600 build/bench/conversations \
    --chats "${BENCH_CHATS:-100000}" \
    --messages "${BENCH_MESSAGES:-10000000}" \
    --requests "${BENCH_REQUESTS:-200}"
