package harbordb_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// unquoteLiteral is a pure check of QuoteLiteral's output: a single-quoted
// literal whose inner quotes all come in pairs, so the literal ends at its
// last byte and nowhere before. It returns the value PostgreSQL reads from
// it with standard_conforming_strings on.
func unquoteLiteral(q string) (string, bool) {
	if len(q) < 2 || q[0] != '\'' || q[len(q)-1] != '\'' {
		return "", false
	}
	inner := q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\'' {
			if i+1 >= len(inner) || inner[i+1] != '\'' {
				return "", false // a lone quote would end the literal early
			}
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String(), true
}

// fuzzConn connects to PostgreSQL for the fuzz target. When the fuzzer's
// coordinator starts a container it exports its DSN, so the worker
// processes (which inherit its environment) use the same server instead of
// starting their own.
func fuzzConn(f *testing.F) (*pgx.Conn, string) {
	srv, skip := startServer(f)
	if skip != "" {
		return nil, skip
	}
	if srv.ctr != nil {
		prev, had := os.LookupEnv(pgEnv)
		os.Setenv(pgEnv, srv.admin)
		f.Cleanup(func() {
			if had {
				os.Setenv(pgEnv, prev)
			} else {
				os.Unsetenv(pgEnv)
			}
		})
	}
	conn := connect(f, srv.admin)
	// QuoteLiteral's contract assumes these, as WriteScript's script sets them.
	if _, err := conn.Exec(context.Background(), "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'"); err != nil {
		f.Fatal(err)
	}
	return conn, ""
}

// FuzzQuoteLiteral: for any string, QuoteLiteral's output is one balanced
// literal that reads back as the string (pure check). Through a real
// PostgreSQL, `SELECT <literal>` sent as a simple query (the wire message
// psql sends; raw, so no client-side rewriting is involved) returns
// exactly the string when it is valid UTF-8, and fails when it is not:
// never a different string. Strings with NUL, which no SQL text can
// carry, get the pure check only. Without a database the DB part is
// skipped (logged once); the pure part still runs.
//
//	go test ./harbordb -run '^$' -fuzz '^FuzzQuoteLiteral$' -fuzztime 60s -fuzzminimizetime 0s
//
// On a loaded machine Go's minimization of new inputs sometimes stalls the
// workers for tens of seconds (0 execs/sec, then resumes);
// -fuzzminimizetime 0s skips it. New corpus entries land in GOCACHE/fuzz;
// copy them to testdata/fuzz/FuzzQuoteLiteral to keep them.
func FuzzQuoteLiteral(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	conn, skip := fuzzConn(f)
	if skip != "" {
		f.Logf("the database part of FuzzQuoteLiteral is skipped: %s", skip)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, s string) {
		q := harbordb.QuoteLiteral(s)
		got, ok := unquoteLiteral(q)
		if !ok {
			t.Fatalf("QuoteLiteral(%q) = %q: not one balanced literal", s, q)
		}
		if got != s {
			t.Fatalf("QuoteLiteral(%q) = %q reads back as %q", s, q, got)
		}
		if conn == nil || strings.IndexByte(s, 0) >= 0 {
			return
		}
		res, err := conn.PgConn().Exec(ctx, "SELECT "+q).ReadAll()
		if !utf8.ValidString(s) {
			if err == nil {
				v, _ := firstValue(res)
				t.Fatalf("PostgreSQL accepted invalid UTF-8 %q and returned %q; it must refuse it", s, v)
			}
			return
		}
		if err != nil {
			t.Fatalf("SELECT %s: %v", q, err)
		}
		if v, ok := firstValue(res); !ok || v != s {
			t.Fatalf("SELECT %s returned %q (ok %v), want %q", q, v, ok, s)
		}
	})
}

// firstValue is the one value of a one-row, one-column result.
func firstValue(res []*pgconn.Result) (string, bool) {
	if len(res) != 1 || len(res[0].Rows) != 1 || len(res[0].Rows[0]) != 1 || res[0].Rows[0][0] == nil {
		return "", false
	}
	return string(res[0].Rows[0][0]), true
}
