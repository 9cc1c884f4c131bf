package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/testcontainers/testcontainers-go"
)

// PostgresImage is the local tag of the PostgreSQL 15 image EnsurePostgresImage builds.
const PostgresImage = "harbor-import-test/postgres:15-bookworm"

// MirrorEnv names an environment variable that, when set, overrides the
// Debian mirror read from apt's sources.
const MirrorEnv = "HARBOR_IMPORT_DEBIAN_MIRROR"

const (
	// pgdataPath is the cluster's directory in the container, the
	// entrypoint's PGDATA (a tmpfs: RunPostgres).
	pgdataPath = "/tmp/pgdata"
	// imageLockPath serialises image builds across test processes.
	imageLockPath = "/tmp/harbor-import-testenv-postgres-image.lock"
	// entrypointPath is where the start script lives inside the image.
	entrypointPath = "/usr/local/bin/harbor-import-postgres"
	// debianSuite is the release PostgreSQL 15 comes from (as in Harbor's harbor-db image).
	debianSuite = "bookworm"
)

// entrypoint starts a fresh cluster on every container start. initdb and
// postgres run as the postgres user, which postgres insists on; durability
// is traded for speed since every database is thrown away.
const entrypoint = `#!/bin/sh
# Written by harbor-import's testenv: a throwaway PostgreSQL 15 for tests.
set -eu
export PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin
PGDATA=` + pgdataPath + `
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	pwfile=$(mktemp)
	echo postgres >"$pwfile"
	chown postgres "$pwfile"
	setpriv --reuid=postgres --regid=postgres --init-groups \
		initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C --no-sync
	rm -f "$pwfile"
	printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
	postgres -D "$PGDATA" \
	-c listen_addresses='*' \
	-c fsync=off \
	-c synchronous_commit=off \
	-c full_page_writes=off \
	-c max_connections=200
`

// EnsurePostgresImage makes sure PostgresImage exists in the local Docker
// engine, building it offline if it does not: debootstrap installs Debian
// bookworm with postgresql-15 from the mirror apt already uses (see
// DebianMirror), a start script is added, and the tree is imported with
// `docker import`. Builds are serialised with a lock file under /tmp so
// parallel test packages build once. logf receives progress lines; nil
// discards them.
//
// The first build takes about a minute and needs root and debootstrap
// (scripts/setup-test-deps.sh installs it).
func EnsurePostgresImage(ctx context.Context, logf func(format string, args ...any)) error {
	return ensureDebianImage(ctx, debianImage{
		ref:     PostgresImage,
		lock:    imageLockPath,
		include: "postgresql-15",
		check:   "usr/lib/postgresql/15/bin/postgres",
		startAt: entrypointPath,
		start:   entrypoint,
		changes: []string{fmt.Sprintf("CMD [%q]", entrypointPath), "EXPOSE 5432/tcp"},
		message: "harbor-import testenv: debootstrap bookworm postgresql-15",
		// The cluster the package created is not used: the start script makes one.
		trimming: []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*",
			"var/lib/postgresql/15/main", "etc/postgresql/15/main"},
	}, logf)
}

func imageExists(ctx context.Context, cli *testcontainers.DockerClient, ref string) (bool, error) {
	_, err := cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
}

func findDebootstrap() (string, error) {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p, nil
	}
	// /usr/sbin is often missing from a non-login PATH.
	for _, p := range []string{"/usr/sbin/debootstrap", "/sbin/debootstrap"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", ErrDebootstrapMissing
}

// readJSONMessages drains a Docker progress stream and returns the first
// error it reports.
func readJSONMessages(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading docker import progress: %w", err)
		}
		if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
			return fmt.Errorf("docker import: %s", msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return fmt.Errorf("docker import: %s", msg.Error)
		}
	}
}

// runLogged runs cmd, sending each output line to logf and keeping the last
// lines for the error.
func runLogged(cmd *exec.Cmd, logf func(string, ...any)) error {
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			logf("%s: %s", filepath.Base(cmd.Path), line)
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%w; last output:\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

// DebianMirror returns the Debian mirror URL apt uses for bookworm on this
// machine, so image builds reach the same (possibly local) mirror apt does.
// MirrorEnv overrides it. Otherwise it reads, in order, the deb822 files
// /etc/apt/sources.list.d/*.sources (the URIs of the first enabled "deb"
// entry whose Suites include bookworm), then the one-line
// /etc/apt/sources.list and /etc/apt/sources.list.d/*.list
// ("deb [options] URL bookworm ..."). It returns ErrNoMirror if none matches.
func DebianMirror() (string, error) {
	if m := os.Getenv(MirrorEnv); m != "" {
		return m, nil
	}
	return mirrorFromApt("/etc/apt")
}

// mirrorFromApt implements DebianMirror over the apt configuration directory aptDir.
func mirrorFromApt(aptDir string) (string, error) {
	deb822, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.sources"))
	for _, f := range deb822 {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading apt sources: %w", err)
		}
		if m := mirrorFromDeb822(string(b), debianSuite); m != "" {
			return m, nil
		}
	}
	oneLine, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.list"))
	oneLine = append([]string{filepath.Join(aptDir, "sources.list")}, oneLine...)
	for _, f := range oneLine {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading apt sources: %w", err)
		}
		if m := mirrorFromOneLine(string(b), debianSuite); m != "" {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %s; set %s to override)", ErrNoMirror, aptDir, MirrorEnv)
}

// mirrorFromDeb822 returns the first URI of the first enabled deb entry of
// a deb822 sources file whose Suites include suite, or "".
func mirrorFromDeb822(text, suite string) string {
	for _, stanza := range deb822Stanzas(text) {
		if strings.EqualFold(stanza["enabled"], "no") {
			continue
		}
		if !hasField(stanza["types"], "deb") || !hasField(stanza["suites"], suite) {
			continue
		}
		if uris := strings.Fields(stanza["uris"]); len(uris) > 0 {
			return uris[0]
		}
	}
	return ""
}

// deb822Stanzas splits text into stanzas of lower-cased field names to
// values; comment lines are dropped and continuation lines joined.
func deb822Stanzas(text string) []map[string]string {
	var stanzas []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			stanzas = append(stanzas, cur)
		}
		cur, last = map[string]string{}, ""
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return stanzas
}

// mirrorFromOneLine returns the URL of the first "deb" line of a one-line
// sources file for suite, or "".
func mirrorFromOneLine(text, suite string) string {
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			// Options: "[arch=amd64 signed-by=...]", possibly several fields.
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && f[1] == suite {
			return f[0]
		}
	}
	return ""
}

func hasField(list, want string) bool {
	for _, f := range strings.Fields(list) {
		if f == want {
			return true
		}
	}
	return false
}
