package harbordb

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ScriptInfo is printed in the script's header for the reviewer.
type ScriptInfo struct {
	// Source and Generated describe where the plan came from.
	Source    string
	Generated time.Time
	Version   string
}

// WriteScript writes the import of b into schema s as a psql script that
// applies with `psql -v ON_ERROR_STOP=1 -1 -f plan.sql` and writes the same
// rows Load would. It holds no ids: every key is resolved inside the script,
// so applying it twice changes nothing the second time. Every value is a
// quoted literal (QuoteLiteral); a NUL byte is refused with ErrInvalidValue.
func WriteScript(w io.Writer, s Schema, b Rows, info ScriptInfo) error {
	if err := validate(b); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p("-- harbor-import plan: the rows a push of these images would have written into Harbor.\n")
	p("-- Source: %s\n", commentSafe(info.Source))
	if !info.Generated.IsZero() {
		p("-- Generated: %s by harbor-import %s\n", info.Generated.UTC().Format(time.RFC3339), commentSafe(info.Version))
	}
	p("-- Harbor schema version: %d (Harbor %s)\n", s.Version, s.Releases)
	p("-- %d projects, %d repositories, %d artifacts, %d tags, %d blobs\n",
		len(b.small().Projects), len(b.small().Repositories), b.count(tableArtifact), b.count(tableTag), b.count(tableBlob))
	p("--\n-- Place the files first (harbor-import --files-only), then apply in ONE transaction:\n")
	p("--   psql -v ON_ERROR_STOP=1 -1 -f plan.sql\n")
	p("--   docker exec -i harbor-db psql -U postgres -d registry -v ON_ERROR_STOP=1 -1 < plan.sql\n")
	p("-- It refuses any other schema version, and stops on tag conflicts and exceeded quotas.\n")
	p("-- Applying it twice changes nothing the second time.\n\n")
	p("SET standard_conforming_strings = on;\n")
	p("SET client_encoding = 'UTF8';\n")
	p("-- Refuse to run outside a transaction (psql -1): a partial import must never happen.\n")
	p("SAVEPOINT harbor_import_needs_a_transaction;\nRELEASE SAVEPOINT harbor_import_needs_a_transaction;\n\n")
	for _, t := range append(append([]staging{}, stagingTables...), workTables...) {
		p("%s;\n", createStaging(t, false))
	}
	for _, t := range stagingTables {
		// INSERTs of up to 500 rows each.
		n, cols := b.count(t), strings.Join(t.columnNames(), ", ")
		err := each(b, t, func(i int, row []any) error {
			if i%500 == 0 {
				p("\nINSERT INTO %s (%s) VALUES\n", t.table, cols)
			}
			bw.WriteString("  (")
			for j, v := range row {
				if j > 0 {
					bw.WriteString(", ")
				}
				bw.WriteString(literal(v))
			}
			if i%500 == 499 || i == n-1 {
				bw.WriteString(");\n")
			} else {
				bw.WriteString("),\n")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, st := range steps(s) {
		p("\n-- %s\n%s;\n", st.name, st.sql)
	}
	p("\n")
	for _, t := range append(append([]staging{}, stagingTables...), workTables...) {
		p("DROP TABLE %s;\n", t.table)
	}
	return bw.Flush()
}

func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return QuoteLiteral(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	}
	panic(fmt.Sprintf("harbordb: no literal for %T", v))
}

// QuoteLiteral quotes s as an SQL string literal for a session with
// standard_conforming_strings on (the script sets it): single quotes are
// doubled and nothing else is special, so no content (backslashes, $$,
// semicolons, newlines, any unicode) can end the literal. A NUL byte cannot be
// stored in PostgreSQL text at all; callers refuse it first (Batch.validate).
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// commentSafe keeps a value on its comment line.
func commentSafe(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "\x00", "").Replace(s)
}
