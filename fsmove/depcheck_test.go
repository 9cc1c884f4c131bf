package fsmove_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps fsmove free of the database side (style #15): it
// must not import harbordb, pgx or the importer.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/harbordb", "/importer", "github.com/jackc/pgx"} {
			if strings.Contains(pkg, banned) {
				t.Errorf("fsmove depends on %s; want no dependency on %s", pkg, banned)
			}
		}
	}
}
