// Package benchdb gives the benchmarks PostgreSQL databases holding Harbor's
// schema: one server (a testenv.RunPostgres container, or an existing server
// by its admin DSN), a template database with harborschema version 180, and
// fresh databases cloned from it per timed step. It also measures the floor
// of the database phase: a plain COPY of as many rows as an import writes.
package benchdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

// Template is the template database holding Harbor 2.15's schema (version 180).
const Template = "harbor_bench_template_180"

// SchemaVersion is the schema Template holds.
const SchemaVersion = 180

// Server is a PostgreSQL server with Template.
type Server struct {
	// AdminDSN connects to the maintenance database as a superuser.
	AdminDSN string
	pg       *testenv.PostgresContainer
}

// Start starts a PostgreSQL container (adminDSN "") or uses the server at
// adminDSN, and (re)creates Template there. The Server is returned even
// with an error; Close it.
func Start(ctx context.Context, adminDSN string) (*Server, error) {
	s := &Server{AdminDSN: adminDSN}
	if adminDSN == "" {
		pg, err := testenv.RunPostgres(ctx)
		s.pg = pg
		if err != nil {
			return s, err
		}
		s.AdminDSN = pg.ConnString("postgres")
	}
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{Template}.Sanitize()+" WITH (FORCE)"); err != nil {
		return s, err
	}
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{Template}.Sanitize()); err != nil {
		return s, err
	}
	conn, err := pgx.Connect(ctx, s.DSN(Template))
	if err != nil {
		return s, fmt.Errorf("connecting to the template database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := harborschema.Apply(ctx, conn, SchemaVersion); err != nil {
		return s, err
	}
	return s, nil
}

// Close stops the container Start started (an existing server is left alone).
func (s *Server) Close(ctx context.Context) error {
	if s == nil || s.pg == nil {
		return nil
	}
	return s.pg.Terminate(ctx)
}

// DSN returns the DSN of database name on the server.
func (s *Server) DSN(name string) string {
	u, err := url.Parse(s.AdminDSN)
	if err != nil {
		return ""
	}
	u.Path = "/" + name
	return u.String()
}

// Create makes database name from Template (dropping an older one) and
// returns its DSN.
func (s *Server) Create(ctx context.Context, name string) (string, error) {
	if err := s.Drop(ctx, name); err != nil {
		return "", err
	}
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{Template}.Sanitize()); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// Drop drops database name if it exists.
func (s *Server) Drop(ctx context.Context, name string) error {
	return s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

func (s *Server) exec(ctx context.Context, stmt string) (rerr error) {
	if s.AdminDSN == "" {
		return errors.New("benchdb: no server")
	}
	conn, err := pgx.Connect(ctx, s.AdminDSN)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() { rerr = errors.Join(rerr, conn.Close(context.WithoutCancel(ctx))) }()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// CopyFloor creates a table shaped like Harbor's artifact_blob (id serial,
// two 71-byte digests, a timestamp) in the database at dsn and times one
// transaction that COPYs rows rows into it: the least any loader of that
// many rows pays. The table is dropped again.
func CopyFloor(ctx context.Context, dsn string, rows int) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_copy_floor;
CREATE TABLE bench_copy_floor (id SERIAL PRIMARY KEY, digest_af varchar(255) NOT NULL, digest_blob varchar(255) NOT NULL,
  creation_time timestamp default CURRENT_TIMESTAMP, UNIQUE (digest_af, digest_blob))`); err != nil {
		return 0, fmt.Errorf("creating floor table: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS bench_copy_floor")
	start := time.Now()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		i := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i == rows {
				return nil, nil
			}
			i++
			return []any{fmt.Sprintf("sha256:%064x", i/4), fmt.Sprintf("sha256:%064x", i)}, nil
		})
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"bench_copy_floor"}, []string{"digest_af", "digest_blob"}, src)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copying %d rows: %w", rows, err)
	}
	return time.Since(start), nil
}
