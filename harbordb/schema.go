package harbordb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Schema is what Detect learnt of a Harbor database.
type Schema struct {
	// Version is schema_migrations.version (harbor-facts §3.1).
	Version int64
	// Releases names the Harbor releases that use Version, e.g. "2.15.0–2.15.2".
	Releases string
	// Columns holds "table.column" for the optional columns that were probed.
	Columns map[string]bool
	// Tables holds the optional tables that exist (cve_whitelist, cve_allowlist, audit_log_ext, artifact_accessory).
	Tables map[string]bool
}

// supported lists the schema versions harbor-import writes: every Harbor
// 2.x schema (harbor-facts §3.1), including 181 and 190 as on Harbor's main
// branch. What differs between them is probed (columns, tables) and
// derived from the version (processor lookup, audit format).
var supported = func() []struct {
	version  int64
	releases string
} {
	var out []struct {
		version  int64
		releases string
	}
	for v, r := range known {
		out = append(out, struct {
			version  int64
			releases string
		}{v, r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}()

// known maps every released 2.x schema version to its releases (harbor-facts
// §3.1), so that an unsupported one is named precisely.
var known = map[int64]string{
	30: "2.0.0–2.0.2", 31: "2.0.3–2.0.6", 40: "2.1.0–2.1.3", 41: "2.1.4–2.1.6",
	50: "2.2.0", 51: "2.2.1", 52: "2.2.2", 53: "2.2.3–2.2.4", 60: "2.3.0–2.3.3", 61: "2.3.4–2.3.5",
	70: "2.4.0–2.4.1", 71: "2.4.2–2.4.3", 80: "2.5.0–2.5.1", 81: "2.5.2", 82: "2.5.3–2.5.6",
	90: "2.6.0–2.6.1", 91: "2.6.2–2.6.4", 100: "2.7.0–2.7.4", 110: "2.8.0", 111: "2.8.1–2.8.6",
	120: "2.9.0–2.9.5", 130: "2.10.0–2.10.3", 140: "2.11.0–2.11.2", 150: "2.12.0–2.12.4",
	160: "2.13.0–2.13.5", 170: "2.14.0", 171: "2.14.1–2.14.4", 180: "2.15.0–2.15.2",
	181: "2.15.3", 190: "2.16.0",
}

// DefaultVersion is the schema a dry run plans for when it cannot read the
// database: that of the newest Harbor release (181 and 190 exist only on
// Harbor's main branch).
const DefaultVersion = 180

// SupportedVersions returns the schema versions harbor-import can write, oldest first.
func SupportedVersions() []int64 {
	out := make([]int64, 0, len(supported))
	for _, s := range supported {
		out = append(out, s.version)
	}
	return out
}

// SupportedSummary describes the supported versions for messages and --help.
func SupportedSummary() string {
	first, last := supported[0], supported[len(supported)-1]
	return fmt.Sprintf("schema %d to %d (Harbor %s to %s, %d schema versions)", first.version, last.version,
		strings.SplitN(first.releases, "–", 2)[0], last.releases, len(supported))
}

// probedColumns are the optional columns whose presence changes what is
// written (harbor-facts §3.2: probe columns rather than trusting the number alone).
func probedColumns() []string {
	out := make([]string, 0, len(columnsSince))
	for c := range columnsSince {
		out = append(out, c)
	}
	return out
}

func probedTables() []string {
	out := []string{"cve_whitelist"}
	for t := range tablesSince {
		out = append(out, t)
	}
	return out
}

// Detect reads schema_migrations and probes the optional columns. It returns
// ErrNotHarbor, ErrDirtySchema or ErrUnsupportedSchema (wrapped, with the
// version found and the supported ones) when the database must not be written.
func Detect(ctx context.Context, db DBTX) (Schema, error) {
	var s Schema
	rows, err := db.Query(ctx, `SELECT version, dirty FROM schema_migrations`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return s, fmt.Errorf("%w: table schema_migrations does not exist", ErrNotHarbor)
		}
		return s, fmt.Errorf("reading schema_migrations: %w", err)
	}
	type row struct {
		Version int64
		Dirty   bool
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return s, fmt.Errorf("reading schema_migrations: %w", err)
	}
	if len(all) != 1 {
		return s, fmt.Errorf("%w: schema_migrations holds %d rows, want exactly 1", ErrNotHarbor, len(all))
	}
	s.Version = all[0].Version
	s.Releases = known[s.Version]
	if all[0].Dirty {
		return s, fmt.Errorf("%w: version %d is marked dirty (a migration failed); Harbor will not start on it either: restore the backup or fix the migration first", ErrDirtySchema, s.Version)
	}
	s.Columns = map[string]bool{}
	crow, err := db.Query(ctx, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name || '.' || column_name = ANY($1)`, probedColumns())
	if err != nil {
		return s, fmt.Errorf("probing columns: %w", err)
	}
	cols, err := pgx.CollectRows(crow, pgx.RowTo[string])
	if err != nil {
		return s, fmt.Errorf("probing columns: %w", err)
	}
	for _, c := range cols {
		s.Columns[c] = true
	}
	trows, err := db.Query(ctx, `SELECT table_name::text FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = ANY($1)`, probedTables())
	if err != nil {
		return s, fmt.Errorf("probing tables: %w", err)
	}
	tables, err := pgx.CollectRows(trows, pgx.RowTo[string])
	if err != nil {
		return s, fmt.Errorf("probing tables: %w", err)
	}
	s.Tables = map[string]bool{}
	for _, t := range tables {
		s.Tables[t] = true
	}
	return s, s.Check()
}

// Check returns a wrapped ErrUnsupportedSchema unless the schema is one
// harbor-import writes and has the columns that version must have.
func (s Schema) Check() error {
	if !slices.Contains(SupportedVersions(), s.Version) {
		found := fmt.Sprintf("schema version %d", s.Version)
		switch {
		case s.Releases != "":
			found += " (Harbor " + s.Releases + ")"
		case s.Version > 190:
			found += " (newer than any Harbor release harbor-import knows)"
		default:
			found += " (not a Harbor 2.x release)"
		}
		return fmt.Errorf("%w: found %s; this harbor-import supports %s", ErrUnsupportedSchema, found, SupportedSummary())
	}
	if s.Columns == nil {
		return nil
	}
	want := SchemaFor(s.Version)
	for c := range want.Columns {
		if !s.Columns[c] {
			return fmt.Errorf("%w: schema version %d but column %s is missing; the database does not look like an unmodified Harbor %s", ErrUnsupportedSchema, s.Version, c, s.Releases)
		}
	}
	for c := range s.Columns {
		if !want.Columns[c] {
			return fmt.Errorf("%w: schema version %d but column %s, added by a later version, exists; the database does not look like an unmodified Harbor %s", ErrUnsupportedSchema, s.Version, c, s.Releases)
		}
	}
	return nil
}

// ReleasesOf names the Harbor releases using schema version v, or "".
func ReleasesOf(v int64) string { return known[v] }
