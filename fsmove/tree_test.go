package fsmove_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
)

// stagedDir returns the one path matching rel in the placer's staging trees.
func stagedDir(t *testing.T, p *fsmove.Placer, rel string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(p.StagingDir(), "tree-*", rel))
	if err != nil || len(m) != 1 {
		t.Fatalf("staging trees holding %s: got %q, %v; want one", rel, m, err)
	}
	return m[0]
}

func mustStage(t *testing.T) func(*fsmove.Staged, error) *fsmove.Staged {
	return func(s *fsmove.Staged, err error) *fsmove.Staged {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// TestStagingTreeMirrorsLayout: a staged file sits at its destination path
// below a private staging tree, already owned and moded as in the v2 tree.
func TestStagingTreeMirrorsLayout(t *testing.T) {
	p := newPlacer(t, fsmove.Auto)
	must := mustStage(t)
	data, d := blob(30, 1234)
	s := must(p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)))
	l := must(p.StageLink(t.Context(), layerLink(t, "team/app", d), d))
	want := testOwner()
	for _, s := range []*fsmove.Staged{s, l} {
		path := stagedDir(t, p, s.Rel())
		if got := readFile(t, path); int64(len(got)) != s.Size {
			t.Errorf("%s: got %d bytes, want %d", path, len(got), s.Size)
		}
		for dir := path; dir != p.StagingDir(); dir = filepath.Dir(dir) {
			st := stat(t, dir)
			wantMode := uint32(0o644)
			switch {
			case dir == path:
			case filepath.Dir(dir) == p.StagingDir():
				continue // the tree's own root: private, 0700
			default:
				wantMode = 0o755
			}
			if int(st.Uid) != want.UID || int(st.Gid) != want.GID || st.Mode&0o7777 != wantMode {
				t.Errorf("%s: got %d:%d %o, want %d:%d %o", dir, st.Uid, st.Gid, st.Mode&0o7777, want.UID, want.GID, wantMode)
			}
		}
	}
	if got := tree(t, p.V2Root()); len(got) != 0 {
		t.Errorf("v2 tree before Commit: got %q, want nothing", got)
	}
}

// TestCommitMovesNewDirectoriesWhole: into a fresh v2 tree, blobs/ and
// repositories/ arrive with one rename each (the v2 directories are the
// staged inodes), and every count is right.
func TestCommitMovesNewDirectoriesWhole(t *testing.T) {
	p := newPlacer(t, fsmove.Auto)
	must := mustStage(t)
	var staged []*fsmove.Staged
	var wantBytes int64
	for i := range 20 {
		data, d := blob(200+i, 100+i)
		wantBytes += int64(len(data))
		staged = append(staged, must(p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data))))
		staged = append(staged, must(p.StageLink(t.Context(), layerLink(t, "team/app", d), d)))
	}
	ino := map[string]uint64{}
	for _, top := range []string{"blobs", "repositories"} {
		ino[top] = stat(t, stagedDir(t, p, top)).Ino
	}
	// directories staged: blobs/ sha256/ + one <xx>/ per prefix + 20 <hex>/,
	// repositories/ team/ app/ _layers/ sha256/ + 20 <hex>/
	prefixes := map[string]bool{}
	for _, s := range staged {
		if s.How == fsmove.Streamed {
			prefixes[s.Digest.Encoded()[:2]] = true
		}
	}
	wantDirs := 2 + len(prefixes) + 20 + 5 + 20

	var calls [][2]int
	res, err := p.Commit(t.Context(), func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if want := (fsmove.Result{Streamed: 20, Links: 20, Bytes: wantBytes, DirsCreated: wantDirs}); res != want {
		t.Errorf("Result: got %+v, want %+v", res, want)
	}
	for top, want := range ino {
		if got := stat(t, filepath.Join(p.V2Root(), top)).Ino; got != want {
			t.Errorf("%s: got inode %d, want the staged directory's %d (moved whole)", top, got, want)
		}
	}
	if want := [][2]int{{40, 40}}; !slices.Equal(calls, want) {
		t.Errorf("progress: got %v, want %v (directories moved whole: one call at the end)", calls, want)
	}
	for _, s := range staged {
		if fi, err := os.Stat(filepath.Join(p.V2Root(), s.Rel())); err != nil || fi.Size() != s.Size {
			t.Errorf("%s: got %v, %v; want %d bytes", s.Rel(), fi, err, s.Size)
		}
	}
	if got := tree(t, p.StagingDir()); len(got) != 0 {
		t.Errorf("staging after Commit: got %q, want nothing", got)
	}
}

// TestCommitMergesIntoExistingTree: existing directories are descended
// into and keep their inodes, new directories below them are moved in
// whole, existing files keep inode and mtime.
func TestCommitMergesIntoExistingTree(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.String(), func(t *testing.T) {
			root := t.TempDir()
			must := mustStage(t)
			first := newPlacerAt(t, root, st)
			oldData, oldD := blob(40, 500)
			oldLink := layerLink(t, "team/app", oldD)
			must(first.StageReader(t.Context(), oldD, int64(len(oldData)), bytes.NewReader(oldData)))
			must(first.StageLink(t.Context(), oldLink, oldD))
			if _, err := first.Commit(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			v2 := first.V2Root()
			existing := []string{"blobs", "blobs/sha256", "repositories", "repositories/team", "repositories/team/app",
				"repositories/team/app/_layers/sha256", filepath.Dir(blobPath(t, first, oldD))[len(v2)+1:], oldLink}
			old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			before := map[string]*syscall.Stat_t{}
			for _, rel := range existing {
				if err := os.Chtimes(filepath.Join(v2, rel), old, old); err != nil {
					t.Fatal(err)
				}
				before[rel] = stat(t, filepath.Join(v2, rel))
			}

			// A new blob with the old one's <xx> prefix, one with another, the
			// old blob and link again, and links in the old and a new repository.
			var same, other []byte
			var sameD, otherD digest.Digest
			for i := 41; sameD == "" || otherD == ""; i++ {
				data, d := blob(i, 600)
				if d.Encoded()[:2] == oldD.Encoded()[:2] && sameD == "" {
					same, sameD = data, d
				} else if d.Encoded()[:2] != oldD.Encoded()[:2] && otherD == "" {
					other, otherD = data, d
				}
			}
			p := newPlacerAt(t, root, st)
			src := func(b []byte) string { return writeFile(t, t.TempDir(), b) }
			staged := []*fsmove.Staged{
				must(p.StageFile(t.Context(), sameD, int64(len(same)), src(same), false)),
				must(p.StageFile(t.Context(), otherD, int64(len(other)), src(other), false)),
				must(p.StageFile(t.Context(), oldD, int64(len(oldData)), src(oldData), false)),
				must(p.StageLink(t.Context(), oldLink, oldD)),
				must(p.StageLink(t.Context(), layerLink(t, "team/app", sameD), sameD)),
				must(p.StageLink(t.Context(), layerLink(t, "team/web", otherD), otherD)),
			}
			newDirs := map[string]uint64{}
			for _, rel := range []string{
				filepath.Dir(staged[0].Rel()),               // <hex>/ below the existing <xx>/
				filepath.Dir(filepath.Dir(staged[1].Rel())), // a new <xx>/
				"repositories/team/app/_layers/sha256/" + sameD.Encoded(),
				"repositories/team/web",
			} {
				newDirs[rel] = stat(t, stagedDir(t, p, rel)).Ino
			}
			res, err := p.Commit(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			how := staged[0].How
			want := fsmove.Result{Existing: 2, Links: 2, DirsCreated: 1 + 2 + 1 + 4}
			if how == fsmove.Linked {
				want.Linked = 2
			} else {
				want.Copied, want.Bytes = 2, int64(len(same)+len(other))
			}
			if res != want {
				t.Errorf("Result: got %+v, want %+v", res, want)
			}
			for rel, b := range before {
				if a := stat(t, filepath.Join(v2, rel)); a.Ino != b.Ino {
					t.Errorf("%s: got inode %d, want %d (kept)", rel, a.Ino, b.Ino)
				}
			}
			for _, rel := range []string{oldLink, blobPath(t, p, oldD)[len(v2)+1:]} {
				a := stat(t, filepath.Join(v2, rel))
				if b := before[rel]; b != nil && (a.Ino != b.Ino || a.Mtim != b.Mtim) {
					t.Errorf("existing %s: got inode %d mtime %v, want %d %v", rel, a.Ino, a.Mtim, b.Ino, b.Mtim)
				}
			}
			for rel, ino := range newDirs {
				if got := stat(t, filepath.Join(v2, rel)).Ino; got != ino {
					t.Errorf("%s: got inode %d, want the staged directory's %d (moved whole)", rel, got, ino)
				}
			}
			for _, s := range staged {
				if fi, err := os.Stat(filepath.Join(v2, s.Rel())); err != nil || fi.Size() != s.Size {
					t.Errorf("%s: got %v, %v; want %d bytes", s.Rel(), fi, err, s.Size)
				}
			}
			if got := tree(t, p.StagingDir()); len(got) != 0 {
				t.Errorf("staging after Commit: got %q, want nothing", got)
			}
		})
	}
}

// TestDuplicateStage: staging one destination twice gives two staged files
// in two staging trees; committing both places one and counts the other as
// Existing, whichever Commit sees first; a stage after a Commit finds the
// destination taken; discarding one leaves the other whole.
func TestDuplicateStage(t *testing.T) {
	data, d := blob(50, 321)
	stageTwice := func(t *testing.T, p *fsmove.Placer) (a, la *fsmove.Staged) {
		must := mustStage(t)
		a = must(p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)))
		b := must(p.StageFile(t.Context(), d, int64(len(data)), writeFile(t, t.TempDir(), data), true))
		rel := layerLink(t, "lib/x", d)
		la = must(p.StageLink(t.Context(), rel, d))
		lb := must(p.StageLink(t.Context(), rel, d))
		if a == b || la == lb {
			t.Fatal("a second stage of one destination returned the first *Staged")
		}
		if got := stagedFiles(t, p); len(got) != 4 {
			t.Fatalf("staged files: got %q, want 4", got)
		}
		return a, la
	}
	t.Run("both committed", func(t *testing.T) {
		p := newPlacer(t, fsmove.Auto)
		stageTwice(t, p)
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Streamed+res.Linked != 1 || res.Links != 1 || res.Existing != 2 {
			t.Errorf("Result: got %+v, want 1 blob, 1 link, 2 existing", res)
		}
		if got := readFile(t, blobPath(t, p, d)); !bytes.Equal(got, data) {
			t.Errorf("placed blob differs")
		}
		if got := tree(t, p.StagingDir()); len(got) != 0 {
			t.Errorf("staging after Commit: got %q, want nothing", got)
		}
	})
	t.Run("after a commit", func(t *testing.T) {
		p := newPlacer(t, fsmove.Auto)
		must := mustStage(t)
		must(p.StageFile(t.Context(), d, int64(len(data)), writeFile(t, t.TempDir(), data), true))
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := (fsmove.Result{Linked: 1, DirsCreated: 4}); res != want {
			t.Errorf("first Result: got %+v, want %+v", res, want)
		}
		must(p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)))
		res, err = p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := (fsmove.Result{Existing: 1}); res != want {
			t.Errorf("second Result: got %+v, want %+v", res, want)
		}
		if got := tree(t, p.StagingDir()); len(got) != 0 {
			t.Errorf("staging: got %q, want nothing", got)
		}
	})
	t.Run("first discarded", func(t *testing.T) {
		p := newPlacer(t, fsmove.Auto)
		a, la := stageTwice(t, p)
		for _, s := range []*fsmove.Staged{a, la} {
			if err := p.Discard(s); err != nil {
				t.Fatal(err)
			}
		}
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Linked != 1 || res.Links != 1 || res.Existing != 0 {
			t.Errorf("Result: got %+v, want 1 linked, 1 link", res)
		}
		if got := readFile(t, blobPath(t, p, d)); !bytes.Equal(got, data) {
			t.Errorf("placed blob differs")
		}
		if got := tree(t, p.StagingDir()); len(got) != 0 {
			t.Errorf("staging after Commit: got %q, want nothing", got)
		}
	})
}

// TestDiscardRemovesEmptyDirectories: what a discarded file needed in its
// staging tree goes with it, so Commit never moves an empty directory into
// the v2 tree, and the counts leave it out; by its *Staged or, for a blob,
// by digest (DiscardBlob, twice: a blob not staged is no error).
func TestDiscardRemovesEmptyDirectories(t *testing.T) {
	for _, by := range []string{"handle", "digest"} {
		t.Run(by, func(t *testing.T) {
			p := newPlacer(t, fsmove.Auto)
			must := mustStage(t)
			keep, keepD := blob(60, 100)
			drop, dropD := blob(61, 200)
			must(p.StageReader(t.Context(), keepD, int64(len(keep)), bytes.NewReader(keep)))
			x := must(p.StageReader(t.Context(), dropD, int64(len(drop)), bytes.NewReader(drop)))
			discard := func() error { return p.Discard(x) }
			if by == "digest" {
				discard = func() error { return p.DiscardBlob(dropD) }
			}
			for range 2 {
				if err := discard(); err != nil {
					t.Fatal(err)
				}
			}
			if got := stagedFiles(t, p); len(got) != 1 {
				t.Errorf("staged files: got %q, want the one kept", got)
			}
			res, err := p.Commit(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := (fsmove.Result{Streamed: 1, Bytes: int64(len(keep)), DirsCreated: 4}); res != want {
				t.Errorf("Result: got %+v, want %+v", res, want)
			}
			rel, _ := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: keepD})
			want := []string{"blobs/", "blobs/sha256/", filepath.Dir(filepath.Dir(rel)) + "/", filepath.Dir(rel) + "/", rel}
			if got := tree(t, p.V2Root()); !slices.Equal(got, want) {
				t.Errorf("v2 tree: got %q, want %q", got, want)
			}
		})
	}
}

// TestRollbackMovedDirectories: Rollback takes directories moved in whole
// back out (leaving the hardlinked sources alone), keeps a file that was
// replaced, and keeps what others added.
func TestRollbackMovedDirectories(t *testing.T) {
	setup := func(t *testing.T) (*fsmove.Placer, []*fsmove.Staged, []string) {
		p := newPlacer(t, fsmove.Link)
		must := mustStage(t)
		var staged []*fsmove.Staged
		var srcs []string
		for i := range 5 {
			data, d := blob(70+i, 200)
			src := writeFile(t, t.TempDir(), data)
			srcs = append(srcs, src)
			staged = append(staged, must(p.StageFile(t.Context(), d, int64(len(data)), src, false)))
			staged = append(staged, must(p.StageLink(t.Context(), layerLink(t, "a/b", d), d)))
		}
		if _, err := p.Commit(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		return p, staged, srcs
	}
	t.Run("untouched", func(t *testing.T) {
		p, _, srcs := setup(t)
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		assertEmpty(t, p)
		for _, src := range srcs {
			if fi, err := os.Stat(src); err != nil || fi.Size() != 200 {
				t.Errorf("hardlinked source %s after Rollback: got %v, %v; want it kept", src, fi, err)
			}
		}
	})
	t.Run("file replaced", func(t *testing.T) {
		p, staged, _ := setup(t)
		replaced := filepath.Join(p.V2Root(), staged[1].Rel())
		tmp := replaced + ".new"
		if err := os.WriteFile(tmp, readFile(t, replaced), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, replaced); err != nil {
			t.Fatal(err)
		}
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := []string{"repositories/", "repositories/a/", "repositories/a/b/", "repositories/a/b/_layers/",
			"repositories/a/b/_layers/sha256/", filepath.Dir(staged[1].Rel()) + "/", staged[1].Rel()}
		if got := tree(t, p.V2Root()); !slices.Equal(got, want) {
			t.Errorf("v2 tree after Rollback: got %q, want %q", got, want)
		}
		if got := tree(t, p.StagingDir()); len(got) != 0 {
			t.Errorf("staging after Rollback: got %q, want nothing", got)
		}
	})
	t.Run("directory added", func(t *testing.T) {
		p, _, _ := setup(t)
		// A push into a repository directory this run created.
		added := filepath.Join(p.V2Root(), "repositories/a/b/_manifests/tags/v1/current/link")
		if err := os.MkdirAll(filepath.Dir(added), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(added, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		want := []string{"repositories/", "repositories/a/", "repositories/a/b/", "repositories/a/b/_manifests/",
			"repositories/a/b/_manifests/tags/", "repositories/a/b/_manifests/tags/v1/",
			"repositories/a/b/_manifests/tags/v1/current/", "repositories/a/b/_manifests/tags/v1/current/link"}
		if got := tree(t, p.V2Root()); !slices.Equal(got, want) {
			t.Errorf("v2 tree after Rollback: got %q, want %q", got, want)
		}
	})
}

// TestCleanStagingTrees: the staging trees a killed run leaves (partly
// written files included), directory temps and old flat temps go; other
// entries stay.
func TestCleanStagingTrees(t *testing.T) {
	root := t.TempDir()
	opts := fsmove.Options{Root: root, Owner: testOwner(), Logger: testLogger(t)}
	killed, err := fsmove.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	must := mustStage(t)
	var staged []*fsmove.Staged
	for i := range 3 {
		data, d := blob(80+i, 100)
		staged = append(staged, must(killed.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data))))
	}
	// The same blob twice: a second tree.
	data, d := blob(80, 100)
	staged = append(staged, must(killed.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data))))
	staging := killed.StagingDir()
	trees, _ := filepath.Glob(filepath.Join(staging, "tree-*"))
	if len(trees) != 2 {
		t.Fatalf("staging trees: got %q, want 2", trees)
	}
	// A file being written when the kill came, and an empty tree.
	if err := os.WriteFile(filepath.Join(trees[0], "blobs", "partial"), []byte("par"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(staging, "tree-0123456789abcdef"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(staging, "dir-77.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(staging, d.Encoded()+".0123456789abcdef.tmp")
	if err := os.WriteFile(flat, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"notes.txt", "tree-x", "tree-0123456789abcdef.bak"} {
		if err := os.WriteFile(filepath.Join(staging, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// 4 staged + 1 partial, 1 empty tree, 1 directory temp, 1 flat temp.
	n, err := fsmove.CleanStaging(t.Context(), opts)
	if n != 8 || err != nil {
		t.Errorf("CleanStaging: got %d, %v; want 8, nil", n, err)
	}
	want := []string{"notes.txt", "tree-0123456789abcdef.bak", "tree-x"}
	if got := tree(t, staging); !slices.Equal(got, want) {
		t.Errorf("staging after CleanStaging: got %q, want %q", got, want)
	}
	if got := tree(t, killed.V2Root()); len(got) != 0 {
		t.Errorf("v2 tree: got %q, want nothing", got)
	}
}

// TestConflictsBelowTheTop: a symlink or a file where Commit must descend
// is ErrConflict; nothing is written through it.
func TestConflictsBelowTheTop(t *testing.T) {
	data, d := blob(90, 10)
	for _, kind := range []string{"symlink", "file"} {
		t.Run(kind, func(t *testing.T) {
			p := newPlacer(t, fsmove.Auto)
			dst := blobPath(t, p, d)
			xx := filepath.Dir(filepath.Dir(dst))
			if err := os.MkdirAll(filepath.Dir(xx), 0o755); err != nil {
				t.Fatal(err)
			}
			elsewhere := t.TempDir()
			if kind == "symlink" {
				if err := os.Symlink(elsewhere, xx); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(xx, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			_, err := p.Commit(t.Context(), nil)
			var pe *fsmove.PathError
			if !errors.Is(err, fsmove.ErrConflict) || !errors.As(err, &pe) || pe.Path != xx {
				t.Errorf("Commit: got %v, want a *PathError for %s wrapping %v", err, xx, fsmove.ErrConflict)
			}
			if got := tree(t, elsewhere); len(got) != 0 {
				t.Errorf("symlink target: got %q, want nothing written", got)
			}
			// Still staged: a later Commit can place it once the path is fixed.
			if err := os.Remove(xx); err != nil {
				t.Fatal(err)
			}
			res, err := p.Commit(t.Context(), nil)
			if err != nil || res.Streamed != 1 {
				t.Errorf("Commit after the fix: got %+v, %v; want 1 streamed", res, err)
			}
		})
	}
}

// TestLinkAlreadyInPlace: a link file the v2 tree holds is not staged
// again; Commit checks it once more, and stages it after all when it has
// gone, refuses it when it changed, and never trusts one reached through a
// symlink.
func TestLinkAlreadyInPlace(t *testing.T) {
	_, d := blob(95, 10)
	_, other := blob(96, 10)
	rel := layerLink(t, "lib/app", d)
	place := func(t *testing.T, p *fsmove.Placer) string {
		dst := filepath.Join(p.V2Root(), rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(d.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	cases := []struct {
		name   string
		change func(t *testing.T, dst string)
		want   fsmove.Result
		err    error
	}{
		{"still there", func(*testing.T, string) {}, fsmove.Result{Existing: 1}, nil},
		{"gone", func(t *testing.T, dst string) {
			if err := os.Remove(dst); err != nil {
				t.Fatal(err)
			}
		}, fsmove.Result{Links: 1}, nil},
		{"changed", func(t *testing.T, dst string) {
			if err := os.WriteFile(dst, []byte(other.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}, fsmove.Result{}, fsmove.ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlacer(t, fsmove.Auto)
			dst := place(t, p)
			before := stat(t, dst)
			if _, err := p.StageLink(t.Context(), rel, d); err != nil {
				t.Fatal(err)
			}
			if got := stagedFiles(t, p); len(got) != 0 {
				t.Errorf("staged files for a link in place: got %q, want none", got)
			}
			tc.change(t, dst)
			res, err := p.Commit(t.Context(), nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Commit: got %v, want %v", err, tc.err)
			}
			if err == nil && res != tc.want {
				t.Errorf("Result: got %+v, want %+v", res, tc.want)
			}
			if got := string(readFile(t, dst)); tc.err == nil && got != d.String() {
				t.Errorf("link: got %q, want %q", got, d.String())
			}
			if after := stat(t, dst); tc.name == "still there" && (after.Ino != before.Ino || after.Mtim != before.Mtim) {
				t.Errorf("link in place rewritten: inode %d mtime %v, want %d %v", after.Ino, after.Mtim, before.Ino, before.Mtim)
			}
		})
	}
	t.Run("discarded", func(t *testing.T) {
		// A discarded link is not checked again: gone since, it stays gone.
		p := newPlacer(t, fsmove.Auto)
		dst := place(t, p)
		s, err := p.StageLink(t.Context(), rel, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Discard(s); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(dst); err != nil {
			t.Fatal(err)
		}
		if res, err := p.Commit(t.Context(), nil); err != nil || res != (fsmove.Result{}) {
			t.Errorf("Commit after the only link was discarded: got %+v, %v; want nothing placed", res, err)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("discarded link: got %v, want it not placed", err)
		}
	})
	t.Run("through a symlink", func(t *testing.T) {
		p := newPlacer(t, fsmove.Auto)
		elsewhere := t.TempDir()
		target := filepath.Join(elsewhere, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, []byte(d.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(elsewhere, "repositories"), filepath.Join(p.V2Root(), "repositories")); err != nil {
			t.Fatal(err)
		}
		if _, err := p.StageLink(t.Context(), rel, d); err != nil {
			t.Fatal(err)
		}
		if got := stagedFiles(t, p); len(got) != 1 {
			t.Errorf("staged files: got %q, want the link staged", got)
		}
		if _, err := p.Commit(t.Context(), nil); !errors.Is(err, fsmove.ErrConflict) {
			t.Errorf("Commit: got %v, want %v", err, fsmove.ErrConflict)
		}
	})
}
