#!/bin/sh
# bench/run.sh (make bench): measure harbor-import against its floors and
# skopeo on generated corpora. See bench/README.md.
#
# Environment:
#   BENCH_DIR          corpora, scratch space, results (default /var/tmp/harbor-import-bench)
#   BENCH_TAGS         corpus sizes, run in order (default "5000"; e.g. "5000 50000")
#   BENCH_SEED         corpus seed (default 1)
#   BENCH_SKIP_SKOPEO  1: skip the skopeo steps (minutes for 5,000 tags)
#   BENCH_SKIP_CROSS_FS 1: skip the steps from a loop-mounted second filesystem
#   BENCH_PG           admin DSN of an existing PostgreSQL (default: a testenv container)
#   BENCH_ARGS         extra benchrun flags, e.g. "-only floors,imports"
#
# Each size after the first is compared with the first (scaling targets).
set -eu
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-/var/tmp/harbor-import-bench}
BENCH_TAGS=${BENCH_TAGS:-5000}
BENCH_SEED=${BENCH_SEED:-1}
export BENCH_DIR TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true} \
	TESTCONTAINERS_HOST_OVERRIDE=${TESTCONTAINERS_HOST_OVERRIDE:-127.0.0.1}

# Host tools: GNU time for peak RSS, skopeo for the comparison, tar/gzip, mkfs.ext4.
missing=""
[ -x /usr/bin/time ] || missing="$missing time"
command -v skopeo >/dev/null 2>&1 || [ "${BENCH_SKIP_SKOPEO:-}" = 1 ] || missing="$missing skopeo"
command -v mkfs.ext4 >/dev/null 2>&1 || missing="$missing e2fsprogs"
command -v tar >/dev/null 2>&1 || missing="$missing tar"
command -v gzip >/dev/null 2>&1 || missing="$missing gzip"
if [ -n "$missing" ]; then
	echo "bench: installing:$missing"
	apt-get update
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

echo "bench: building"
go build -o bin/harbor-import .
mkdir -p bin/bench
go build -o bin/bench/ ./bench/cmd/...

baseline=""
for tags in $BENCH_TAGS; do
	echo "bench: $tags tags"
	log=$(mktemp)
	# shellcheck disable=SC2086 # BENCH_ARGS holds several flags
	bin/bench/benchrun -tags "$tags" -seed "$BENCH_SEED" -bin bin/harbor-import -tools bin/bench \
		${baseline:+-baseline "$baseline"} ${BENCH_ARGS:-} | tee "$log"
	if [ -z "$baseline" ]; then
		baseline=$(sed -n 's/^Results: //p' "$log")/results.json
	fi
	rm -f "$log"
done
