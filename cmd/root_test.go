package cmd_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/testenv"
	"math"
	"runtime/debug"
)

// registryStorage pushes the reference images into a fresh registry
// storage directory (a real in-process registry, no network) and returns it.
func registryStorage(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	reg, err := testenv.StartRegistry(ctx, root)
	if err != nil {
		t.Fatalf("starting registry: %v", err)
	}
	defer reg.Close()
	if _, err := testenv.PushReferenceCases(ctx, reg.Host()); err != nil {
		t.Fatalf("pushing fixture: %v", err)
	}
	return root
}

// generated is the script header line that holds the time it was made.
var generated = regexp.MustCompile(`(?m)^-- Generated: .*\n`)

// checkScript: s is a whole SQL script and nothing else.
func checkScript(t *testing.T, what, s string) {
	t.Helper()
	if !strings.HasPrefix(s, "-- harbor-import plan:") {
		t.Errorf("%s does not start with the script header: %.200q", what, s)
	}
	if !strings.HasSuffix(s, "DROP TABLE harbor_import_quota;\n") {
		t.Errorf("%s does not end with the script's last statement: ...%q", what, s[max(0, len(s)-200):])
	}
	for _, report := range []string{"DRY RUN", "\nSource:", "\nBlobs:", "\nTime:", "SQL script written", `"mode"`} {
		if strings.Contains(s, report) {
			t.Errorf("%s holds report text %q", what, report)
		}
	}
	if !strings.Contains(s, "INSERT INTO harbor_import_artifact") {
		t.Errorf("%s inserts no artifact", what)
	}
}

// checkJSONReport: s is exactly one JSON report of a dry run that wrote SQL.
func checkJSONReport(t *testing.T, what, s string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var rep struct {
		Mode         string            `json:"mode"`
		SQLWritten   bool              `json:"sql_written"`
		Projects     []json.RawMessage `json:"projects"`
		Repositories []json.RawMessage `json:"repositories"`
		Tags         int               `json:"tags"`
	}
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%s is not a JSON report: %v\n%s", what, err, s)
	}
	if dec.More() {
		t.Errorf("%s holds more than one JSON value", what)
	}
	if rep.Mode != "dry-run" || !rep.SQLWritten {
		t.Errorf("%s: got mode %q, sql_written %v; want dry-run, true", what, rep.Mode, rep.SQLWritten)
	}
	if len(rep.Projects) != 1 || len(rep.Repositories) != 3 || rep.Tags != 3 {
		t.Errorf("%s: got %d projects, %d repositories, %d tags; want 1, 3, 3", what, len(rep.Projects), len(rep.Repositories), rep.Tags)
	}
}

// TestDryRunSQLOut runs `harbor-import --dry-run --sql-out` in-process
// without a database: with "-" standard output is the SQL script alone and
// the report goes to standard error (text or JSON); with a file, standard
// output is the report (a valid JSON one with --output json) and the file
// the script. Both scripts are the same but for the time in the header.
func TestDryRunSQLOut(t *testing.T) {
	t.Setenv("HARBOR_IMPORT_DB", "")
	src := registryStorage(t)
	data := t.TempDir()
	if err := os.Mkdir(filepath.Join(data, "registry"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{"--src", src, "--harbor-data", data, "--dry-run", "--no-progress"}
	scripts := map[string]string{}

	t.Run("--sql-out - (text report)", func(t *testing.T) {
		stdout, stderr, err := runHarborImport(t, append(base, "--sql-out", "-")...)
		if err != nil {
			t.Fatalf("harbor-import: %v\nstderr:\n%s", err, stderr)
		}
		checkScript(t, "standard output", stdout)
		for _, w := range []string{"DRY RUN: nothing was written", "library", "3 repositories", "Blobs:", "SQL script written."} {
			if !strings.Contains(stderr, w) {
				t.Errorf("standard error lacks %q; got:\n%s", w, stderr)
			}
		}
		scripts["stdout"] = stdout
	})

	t.Run("--sql-out - --output json", func(t *testing.T) {
		stdout, stderr, err := runHarborImport(t, append(base, "--sql-out", "-", "--output", "json")...)
		if err != nil {
			t.Fatalf("harbor-import: %v\nstderr:\n%s", err, stderr)
		}
		checkScript(t, "standard output", stdout)
		checkJSONReport(t, "standard error", stderr)
	})

	t.Run("--sql-out FILE --output json", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "plan.sql")
		stdout, stderr, err := runHarborImport(t, append(base, "--sql-out", file, "--output", "json")...)
		if err != nil {
			t.Fatalf("harbor-import: %v\nstderr:\n%s", err, stderr)
		}
		checkJSONReport(t, "standard output", stdout)
		if stderr != "" {
			t.Errorf("standard error: got %q, want nothing", stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		checkScript(t, file, string(b))
		scripts["file"] = string(b)
	})

	if a, b := generated.ReplaceAllString(scripts["stdout"], ""), generated.ReplaceAllString(scripts["file"], ""); a == "" || a != b {
		t.Errorf("the script on standard output and the one in the file differ beyond the Generated line (%d and %d bytes)", len(a), len(b))
	}
	if entries, err := os.ReadDir(filepath.Join(data, "registry")); err != nil || len(entries) != 0 {
		t.Errorf("dry runs wrote into --harbor-data/registry: %d entries (%v)", len(entries), err)
	}
}

// TestSQLOutNeedsDryRun: --sql-out without --dry-run is refused before
// anything is read or written.
func TestSQLOutNeedsDryRun(t *testing.T) {
	data := t.TempDir()
	stdout, _, err := runHarborImport(t, "--src", t.TempDir(), "--harbor-data", data, "--files-only", "--sql-out", "-")
	if err == nil || !strings.Contains(err.Error(), "--sql-out goes with --dry-run") {
		t.Errorf("got error %v, want one saying --sql-out goes with --dry-run", err)
	}
	if stdout != "" {
		t.Errorf("standard output: got %q, want nothing", stdout)
	}
}

// TestMemoryLimit: --memory-limit sets the runtime's soft limit (by
// default too), GOMEMLIMIT wins unless the flag is given, the collector's
// target is 25 unless GOGC is set, and a bad value is refused before
// anything is read.
func TestMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	storage := registryStorage(t)
	dry := func(args ...string) error {
		data := t.TempDir()
		if err := os.Mkdir(filepath.Join(data, "registry"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, err := runHarborImport(t, append([]string{"--src", storage, "--harbor-data", data, "--dry-run"}, args...)...)
		return err
	}
	for _, tc := range []struct {
		env  string
		args []string
		want int64
	}{
		{"", nil, 192 << 20},
		{"", []string{"--memory-limit", "512MiB"}, 512 << 20},
		{"", []string{"--memory-limit", "0"}, math.MaxInt64},
		{"1GiB", nil, 1 << 30}, // GOMEMLIMIT as the runtime read it at start
		{"1GiB", []string{"--memory-limit", "64MiB"}, 64 << 20},
	} {
		t.Setenv("GOMEMLIMIT", tc.env)
		debug.SetMemoryLimit(1 << 30) // stands in for what the runtime set from GOMEMLIMIT
		if err := dry(tc.args...); err != nil {
			t.Fatalf("GOMEMLIMIT=%q %v: %v", tc.env, tc.args, err)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("GOMEMLIMIT=%q %v: limit %d, want %d", tc.env, tc.args, got, tc.want)
		}
	}
	// The collector's target: 25 unless GOGC is set.
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		env  string
		want int
	}{{"", 25}, {"200", 100}} {
		t.Setenv("GOGC", tc.env)
		debug.SetGCPercent(100) // stands in for what the runtime set from GOGC
		if err := dry(); err != nil {
			t.Fatalf("GOGC=%q: %v", tc.env, err)
		}
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: GC percent %d, want %d", tc.env, got, tc.want)
		}
	}
	if err := dry("--memory-limit", "lots"); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
		t.Errorf("--memory-limit lots: got %v, want an error naming the flag", err)
	}
}
