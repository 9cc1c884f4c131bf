package harborschema

import (
	"context"
	_ "embed"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgconn"
)

// schemaTemplate holds every version's script; render picks the lines of one.
//
//go:embed schema.sql
var schemaTemplate string

// releases lists the schema versions this package can create, ascending,
// with the Harbor releases whose fresh install ends at that version
// (harbor-facts.md §3.1). 181 and 190 come from Harbor's main branch: no
// release was tagged with them when the schema was written.
var releases = []release{
	{30, "2.0.0-2.0.2"},
	{31, "2.0.3-2.0.6"},
	{40, "2.1.0-2.1.3"},
	{41, "2.1.4-2.1.6"},
	{50, "2.2.0"},
	{51, "2.2.1"},
	{52, "2.2.2"},
	{53, "2.2.3-2.2.4"},
	{60, "2.3.0-2.3.3"},
	{61, "2.3.4-2.3.5"},
	{70, "2.4.0-2.4.1"},
	{71, "2.4.2-2.4.3"},
	{80, "2.5.0-2.5.1"},
	{81, "2.5.2"},
	{82, "2.5.3-2.5.6"},
	{90, "2.6.0-2.6.1"},
	{91, "2.6.2-2.6.4"},
	{100, "2.7.0-2.7.4"},
	{110, "2.8.0"},
	{111, "2.8.1-2.8.6"},
	{120, "2.9.0-2.9.5"},
	{130, "2.10.0-2.10.3"},
	{140, "2.11.0-2.11.2"},
	{150, "2.12.0-2.12.4"},
	{160, "2.13.0-2.13.5"},
	{170, "2.14.0"},
	{171, "2.14.1-2.14.4"},
	{180, "2.15.0-2.15.2"},
	{181, "2.15.3"},
	{190, "2.16.0"},
}

type release struct {
	version  int
	releases string
}

// Execer runs SQL. *pgx.Conn, *pgxpool.Pool and pgx.Tx all satisfy it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Versions lists the schema versions this package can create, in ascending
// order: every schema_migrations version of a Harbor 2.x release, 30 (2.0.0)
// to 180 (2.15.x), and those of Harbor's main branch, 181 (2.15.3) and 190
// (2.16.0).
func Versions() []int {
	versions := make([]int, len(releases))
	for i, r := range releases {
		versions[i] = r.version
	}
	return versions
}

// ReleaseOf returns the Harbor releases whose schema is version, as
// "2.15.0-2.15.2" or "2.8.0", or "" for a version Versions does not list.
func ReleaseOf(version int) string {
	i, ok := slices.BinarySearchFunc(releases, version, func(r release, v int) int {
		return r.version - v
	})
	if !ok {
		return ""
	}
	return releases[i].releases
}

// Script returns the SQL Apply sends for version.
func Script(version int) (string, error) {
	if ReleaseOf(version) == "" {
		return "", fmt.Errorf("%w: %d (have %v)", ErrUnknownVersion, version, Versions())
	}
	return render(schemaTemplate, version)
}

// Apply creates Harbor's schema of the given version in an empty database,
// as a fresh install of the release (ReleaseOf) has it after all its
// migrations ran, and seeds it like that install once core has started:
//
//   - schema_migrations: (version, dirty=false); before 40 also
//     data_version 30;
//   - harbor_user: admin (user_id 1, sysadmin_flag true) and anonymous
//     (user_id 2, deleted true), with the empty password core replaces on its
//     first start;
//   - role: projectAdmin, developer, guest, maintainer (master before 40),
//     limitedGuest (ids 1-5);
//   - project library (id 1, owner 1, registry_id NULL from 40), its
//     project_member (1, 1, 'u', 1), project_metadata public=true, from 50 a
//     cve_allowlist row '[]', and quota / quota_usage id 1 ('project', '1',
//     {"storage": -1} / {"storage": 0});
//   - from 40 data_migrations version 30 (0 from 120, when core stopped
//     using it);
//   - from 171 properties skip_audit_log_database=false.
//
// Tables and columns a version lacks are absent; before 40 the CVE allowlist
// table is cve_whitelist. Sequences stand where a fresh install leaves them,
// so the next project gets id 2. The whole script is sent as one statement
// batch; without an enclosing transaction PostgreSQL runs it as one, so a
// failure leaves nothing behind.
func Apply(ctx context.Context, db Execer, version int) error {
	script, err := Script(version)
	if err != nil {
		return err
	}
	// Without arguments pgx sends the text with the simple protocol, which
	// accepts many statements at once.
	if _, err := db.Exec(ctx, script); err != nil {
		return fmt.Errorf("applying Harbor schema %d: %w", version, err)
	}
	return nil
}
