package fsmove_test

import (
	"crypto/sha256"
	"encoding/binary"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
)

var strategies = []fsmove.Strategy{fsmove.Auto, fsmove.Link, fsmove.Copy}

// testOwner is an unusual owner when running as root (to see it applied),
// else the current user (chown to oneself needs no privilege).
func testOwner() *fsmove.Owner {
	if os.Geteuid() == 0 {
		return &fsmove.Owner{UID: 12345, GID: 12346}
	}
	return &fsmove.Owner{UID: os.Geteuid(), GID: os.Getegid()}
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newPlacer returns a Placer on a fresh root in t.TempDir, closed at cleanup.
func newPlacer(t testing.TB, st fsmove.Strategy) *fsmove.Placer {
	t.Helper()
	return newPlacerAt(t, t.TempDir(), st)
}

func newPlacerAt(t testing.TB, root string, st fsmove.Strategy) *fsmove.Placer {
	t.Helper()
	p, err := fsmove.New(t.Context(), fsmove.Options{Root: root, Owner: testOwner(), Strategy: st, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// blob returns n deterministic bytes for seed and their digest.
func blob(seed, n int) ([]byte, digest.Digest) {
	b := make([]byte, n)
	var x [8]byte
	binary.LittleEndian.PutUint64(x[:], uint64(seed))
	s := sha256.Sum256(x[:])
	for i := 0; i < n; i += len(s) {
		copy(b[i:], s[:])
		s = sha256.Sum256(s[:])
	}
	return b, digest.FromBytes(b)
}

func writeFile(t testing.TB, dir string, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "src-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func blobPath(t testing.TB, p *fsmove.Placer, d digest.Digest) string {
	t.Helper()
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(p.V2Root(), rel)
}

func layerLink(t testing.TB, repo string, d digest.Digest) string {
	t.Helper()
	rel, err := regpath.For(regpath.Spec{Kind: regpath.LayerLink, Repo: repo, Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// tree lists every path under dir (relative, "/" suffix for directories).
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// assertEmpty fails unless the v2 tree and the staging directory are empty.
func assertEmpty(t testing.TB, p *fsmove.Placer) {
	t.Helper()
	if got := tree(t, p.V2Root()); len(got) != 0 {
		t.Errorf("v2 tree: got %q, want nothing", got)
	}
	if got := tree(t, p.StagingDir()); len(got) != 0 {
		t.Errorf("staging: got %q, want nothing", got)
	}
}

func stat(t testing.TB, path string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stagedFiles lists the files (not directories) in the staging directory.
func stagedFiles(t testing.TB, p *fsmove.Placer) []string {
	t.Helper()
	var out []string
	for _, rel := range tree(t, p.StagingDir()) {
		if !strings.HasSuffix(rel, "/") {
			out = append(out, rel)
		}
	}
	return out
}
