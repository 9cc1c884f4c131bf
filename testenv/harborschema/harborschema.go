package harborschema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed schema_*.sql
var scripts embed.FS

// Execer runs SQL. *pgx.Conn, *pgxpool.Pool and pgx.Tx all satisfy it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Versions lists the schema versions this package can create, in ascending
// order.
func Versions() []int {
	entries, err := fs.ReadDir(scripts, ".")
	if err != nil {
		panic(fmt.Sprintf("harborschema: reading embedded scripts: %v", err))
	}
	var versions []int
	for _, e := range entries {
		if v, ok := scriptVersion(e.Name()); ok {
			versions = append(versions, v)
		}
	}
	slices.Sort(versions)
	return versions
}

// Apply creates Harbor's schema of the given version in an empty database and
// seeds it like a fresh Harbor install:
//
//   - schema_migrations: (version, dirty=false);
//   - harbor_user: admin (user_id 1, sysadmin_flag true) and anonymous
//     (user_id 2, deleted true), with the empty password core replaces on its
//     first start;
//   - role: projectAdmin, developer, guest, maintainer, limitedGuest (ids 1-5);
//   - project library (id 1, owner 1, registry_id NULL), its project_member
//     (1, 1, 'u', 1), project_metadata public=true, cve_allowlist '[]', and
//     quota / quota_usage id 1 ('project', '1', {"storage": -1} / {"storage": 0});
//   - data_migrations version 0, and properties skip_audit_log_database=false.
//
// Sequences stand where a fresh install leaves them, so the next project gets
// id 2. The whole script is sent as one statement batch; without an enclosing
// transaction PostgreSQL runs it as one, so a failure leaves nothing behind.
func Apply(ctx context.Context, db Execer, version int) error {
	script, err := scripts.ReadFile(scriptName(version))
	if err != nil {
		return fmt.Errorf("%w: %d (have %v)", ErrUnknownVersion, version, Versions())
	}
	// Without arguments pgx sends the text with the simple protocol, which
	// accepts many statements at once.
	if _, err := db.Exec(ctx, string(script)); err != nil {
		return fmt.Errorf("applying Harbor schema %d: %w", version, err)
	}
	return nil
}

func scriptName(version int) string {
	return "schema_" + strconv.Itoa(version) + ".sql"
}

func scriptVersion(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "schema_")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".sql")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || scriptName(v) != name {
		return 0, false
	}
	return v, true
}
