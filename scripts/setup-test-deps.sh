#!/bin/sh
# setup-test-deps.sh installs what harbor-import's tests need and checks that
# Docker answers. It is idempotent: packages already present are left alone
# and `apt-get update` runs at most once, only when something is missing.
#
#   debootstrap        builds the offline PostgreSQL image (testenv.EnsurePostgresImage)
#   tar gzip zstd      make storage tarballs as a user would (testenv.TarStorage)
#   postgresql-client  psql, for poking at test databases by hand
#
# Run as root (or with sudo available).
set -eu

# command:package pairs; a package is installed when its command is missing.
wanted="debootstrap:debootstrap tar:tar gzip:gzip zstd:zstd psql:postgresql-client"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "setup-test-deps: need root or sudo to install packages" >&2
		exit 1
	fi
fi

missing=""
for pair in $wanted; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	# debootstrap lives in /usr/sbin, which a non-root PATH may lack.
	if command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ]; then
		continue
	fi
	missing="$missing $pkg"
done

if [ -n "$missing" ]; then
	echo "setup-test-deps: installing:$missing"
	$sudo apt-get update
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
else
	echo "setup-test-deps: packages already installed"
fi

# Without Docker the database tests skip (unless HARBOR_IMPORT_TEST_PG names a
# server) and the demo cannot run. On CI (CI set) that is an error: a green
# run must have run the database tests.
no_docker() {
	if [ -n "${CI:-}" ] && [ -z "${HARBOR_IMPORT_TEST_PG:-}" ]; then
		echo "setup-test-deps: $1; CI needs Docker (or HARBOR_IMPORT_TEST_PG) for the database tests" >&2
		exit 1
	fi
	echo "setup-test-deps: warning: $1; tests that need PostgreSQL will be skipped unless HARBOR_IMPORT_TEST_PG is set, and make demo will not run" >&2
	exit 0
}
if ! command -v docker >/dev/null 2>&1; then
	no_docker "docker CLI not found"
fi
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	no_docker "docker daemon not reachable (docker version failed)"
fi
echo "setup-test-deps: docker $(docker version --format '{{.Server.Version}}') reachable"
