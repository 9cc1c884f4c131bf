package harbordb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Counts says how many rows Load wrote; rows that already existed are not counted.
type Counts struct {
	ProjectsCreated int64 `json:"projects_created"`
	Repositories    int64 `json:"repositories"`
	Artifacts       int64 `json:"artifacts"`
	References      int64 `json:"artifact_references"`
	Accessories     int64 `json:"artifact_accessories"`
	Tags            int64 `json:"tags"`
	TagsMoved       int64 `json:"tags_moved"`
	Blobs           int64 `json:"blobs"`
	ProjectBlobs    int64 `json:"project_blobs"`
	ArtifactBlobs   int64 `json:"artifact_blobs"`
	QuotasUpdated   int64 `json:"quotas_updated"`
}

// Total is the number of rows written.
func (c Counts) Total() int64 {
	return c.ProjectsCreated + c.Repositories + c.Artifacts + c.References + c.Accessories + c.Tags + c.TagsMoved +
		c.Blobs + c.ProjectBlobs + c.ArtifactBlobs + c.QuotasUpdated
}

// Load writes b into tx, which must be a transaction the caller commits or
// rolls back: either every row lands or none does. The staging tables are
// dropped at commit. Errors raised by the guards (schema, conflicts, quota)
// wrap ErrUnsupportedSchema, ErrConflict or ErrQuotaExceeded.
func Load(ctx context.Context, tx pgx.Tx, s Schema, b Rows, log *slog.Logger) (Counts, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var c Counts
	if err := validate(b); err != nil {
		return c, err
	}
	for _, t := range append(append([]staging{}, stagingTables...), workTables...) {
		if _, err := tx.Exec(ctx, createStaging(t, true)); err != nil {
			return c, fmt.Errorf("creating staging table %s: %w", t.table, err)
		}
	}
	for _, t := range stagingTables {
		if b.count(t) == 0 {
			continue
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{t.table}, t.columnNames(), copySource{b.cursor(t)})
		if err != nil {
			return c, fmt.Errorf("loading %s: %w", t.table, err)
		}
		log.Debug("staged rows", "table", t.table, "rows", n)
	}
	for _, st := range steps(s) {
		tag, err := tx.Exec(ctx, st.sql)
		if err != nil {
			return c, fmt.Errorf("step %q: %w", st.name, interpret(err))
		}
		if st.counts != nil {
			*st.counts(&c) += tag.RowsAffected()
		}
		log.Debug("step done", "step", st.name, "rows", tag.RowsAffected())
	}
	return c, nil
}

func createStaging(t staging, onCommitDrop bool) string {
	var cols []string
	for _, c := range t.columns {
		cols = append(cols, c.name+" "+c.typ)
	}
	s := "CREATE TEMP TABLE " + t.table + " (" + strings.Join(cols, ", ") + ")"
	if onCommitDrop {
		s += " ON COMMIT DROP"
	}
	return s
}

func (t staging) columnNames() []string {
	out := make([]string, len(t.columns))
	for i, c := range t.columns {
		out[i] = c.name
	}
	return out
}

// interpret converts the guards' exceptions to this package's sentinels so
// callers never compare pgx errors (style #10).
func interpret(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "P0001" { // raise_exception
		return err
	}
	msg := strings.TrimPrefix(pgErr.Message, "harbor-import: ")
	switch {
	case strings.Contains(msg, "schema version"):
		return fmt.Errorf("%w: %s", ErrUnsupportedSchema, msg)
	case strings.Contains(msg, "quota"):
		return fmt.Errorf("%w: %s", ErrQuotaExceeded, msg)
	default:
		return fmt.Errorf("%w: %s", ErrConflict, msg)
	}
}

// copySource streams one staging table's rows to COPY.
type copySource struct{ c *cursor }

func (c copySource) Next() bool             { return c.c.next() }
func (c copySource) Values() ([]any, error) { return c.c.r, nil }
func (c copySource) Err() error             { return c.c.err }
