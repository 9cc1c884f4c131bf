package fsmove_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
)

// TestPlacer runs the suite once per placement strategy.
func TestPlacer(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.String(), func(t *testing.T) { testSuite(t, st) })
	}
}

func testSuite(t *testing.T, st fsmove.Strategy) {
	wantHow := fsmove.Linked
	if st == fsmove.Copy {
		wantHow = fsmove.Copied
	}

	t.Run("stage file and commit", func(t *testing.T) {
		for _, verify := range []bool{false, true} {
			p := newPlacer(t, st)
			data, d := blob(1, 3<<20+17)
			src := writeFile(t, t.TempDir(), data)
			s, err := p.StageFile(t.Context(), d, int64(len(data)), src, verify)
			if err != nil {
				t.Fatalf("StageFile(verify=%v): %v", verify, err)
			}
			if s.How != wantHow {
				t.Errorf("How: got %v, want %v", s.How, wantHow)
			}
			if got := tree(t, p.V2Root()); len(got) != 0 {
				t.Errorf("v2 tree before Commit: got %q, want nothing", got)
			}
			res, err := p.Commit(t.Context(), nil)
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			dst := blobPath(t, p, d)
			if got := readFile(t, dst); !bytes.Equal(got, data) {
				t.Errorf("content of %s differs from source", dst)
			}
			sameInode := stat(t, dst).Ino == stat(t, src).Ino
			if want := wantHow == fsmove.Linked; sameInode != want {
				t.Errorf("same inode as source: got %v, want %v", sameInode, want)
			}
			want := fsmove.Result{Linked: 1, DirsCreated: 4}
			if wantHow == fsmove.Copied {
				want = fsmove.Result{Copied: 1, Bytes: int64(len(data)), DirsCreated: 4}
			}
			if res != want {
				t.Errorf("Result: got %+v, want %+v", res, want)
			}
			if got := tree(t, p.StagingDir()); len(got) != 0 {
				t.Errorf("staging after Commit: got %q, want nothing", got)
			}
		}
	})

	t.Run("stage file refuses", func(t *testing.T) {
		data, d := blob(2, 1000)
		_, other := blob(3, 1000)
		cases := []struct {
			name    string
			d       digest.Digest
			size    int64
			verify  bool
			symlink bool
			want    error
		}{
			{"short size", d, 999, false, false, fsmove.ErrSizeMismatch},
			{"long size", d, 1001, true, false, fsmove.ErrSizeMismatch},
			{"wrong digest verified", other, 1000, true, false, fsmove.ErrDigestMismatch},
			{"symlink", d, 1000, false, true, fsmove.ErrNotRegular},
			{"bad digest", "sha256:abc", 1000, false, false, regpath.ErrInvalid},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := newPlacer(t, st)
				src := writeFile(t, t.TempDir(), data)
				if tc.symlink {
					l := src + ".symlink"
					if err := os.Symlink(src, l); err != nil {
						t.Fatal(err)
					}
					src = l
				}
				s, err := p.StageFile(t.Context(), tc.d, tc.size, src, tc.verify)
				if !errors.Is(err, tc.want) {
					t.Fatalf("StageFile: got %v (staged %v), want %v", err, s, tc.want)
				}
				var pe *fsmove.PathError
				if tc.want != regpath.ErrInvalid && (!errors.As(err, &pe) || pe.Digest != tc.d) {
					t.Errorf("error: got %#v, want a *PathError naming %s", err, tc.d)
				}
				assertEmpty(t, p)
			})
		}
	})

	t.Run("stage reader", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(4, 5<<20+3)
		s, err := p.StageReader(t.Context(), d, int64(len(data)), iotestOneByteThenRest(data))
		if err != nil {
			t.Fatalf("StageReader: %v", err)
		}
		if s.How != fsmove.Streamed {
			t.Errorf("How: got %v, want %v", s.How, fsmove.Streamed)
		}
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if want := (fsmove.Result{Streamed: 1, Bytes: int64(len(data)), DirsCreated: 4}); res != want {
			t.Errorf("Result: got %+v, want %+v", res, want)
		}
		if got := readFile(t, blobPath(t, p, d)); !bytes.Equal(got, data) {
			t.Errorf("placed content differs from stream")
		}
	})

	t.Run("stage reader refuses", func(t *testing.T) {
		data, d := blob(5, 2<<20)
		_, other := blob(6, 2<<20)
		n := int64(len(data))
		cases := []struct {
			name string
			d    digest.Digest
			size int64
			r    io.Reader
			want []error
		}{
			{"digest mismatch", other, n, bytes.NewReader(data), []error{fsmove.ErrDigestMismatch}},
			{"truncated", d, n, io.LimitReader(bytes.NewReader(data), n-10), []error{fsmove.ErrSizeMismatch}},
			{"unexpected EOF", d, n, &failingReader{data[:n/2], io.ErrUnexpectedEOF}, []error{fsmove.ErrSizeMismatch, io.ErrUnexpectedEOF}},
			{"too long", d, n - 1, bytes.NewReader(data), []error{fsmove.ErrSizeMismatch}},
			{"read error", d, n, &failingReader{data[:100], syscall.EIO}, []error{syscall.EIO}},
			{"empty with size", d, n, bytes.NewReader(nil), []error{fsmove.ErrSizeMismatch}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := newPlacer(t, st)
				_, err := p.StageReader(t.Context(), tc.d, tc.size, tc.r)
				for _, w := range tc.want {
					if !errors.Is(err, w) {
						t.Errorf("StageReader: got %v, want %v", err, w)
					}
				}
				var pe *fsmove.PathError
				if !errors.As(err, &pe) || pe.Digest != tc.d {
					t.Errorf("error: got %#v, want a *PathError naming %s", err, tc.d)
				}
				assertEmpty(t, p)
			})
		}
	})

	t.Run("stage reader cancelled", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(7, 4<<20)
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{r: bytes.NewReader(data), after: 1 << 20, cancel: cancel}
		_, err := p.StageReader(ctx, d, int64(len(data)), r)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("StageReader: got %v, want %v", err, context.Canceled)
		}
		assertEmpty(t, p)
	})

	t.Run("empty blob", func(t *testing.T) {
		p := newPlacer(t, st)
		d := digest.FromBytes(nil)
		if _, err := p.StageReader(t.Context(), d, 0, bytes.NewReader(nil)); err != nil {
			t.Fatalf("StageReader: %v", err)
		}
		if _, err := p.Commit(t.Context(), nil); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if fi, err := os.Stat(blobPath(t, p, d)); err != nil || fi.Size() != 0 {
			t.Errorf("placed empty blob: got %v, %v; want a 0-byte file", fi, err)
		}
	})

	t.Run("link file content", func(t *testing.T) {
		p := newPlacer(t, st)
		_, d := blob(8, 10)
		rel := layerLink(t, "library/app", d)
		s, err := p.StageLink(t.Context(), rel, d)
		if err != nil {
			t.Fatalf("StageLink: %v", err)
		}
		if s.How != fsmove.LinkFile || s.Size != 71 {
			t.Errorf("Staged: got How %v Size %d, want %v 71", s.How, s.Size, fsmove.LinkFile)
		}
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if res.Links != 1 {
			t.Errorf("Result.Links: got %d, want 1", res.Links)
		}
		got := readFile(t, filepath.Join(p.V2Root(), rel))
		if want := "sha256:" + d.Encoded(); string(got) != want || len(got) != 71 {
			t.Errorf("link content: got %q (%d bytes), want %q (71 bytes, no newline)", got, len(got), want)
		}
	})

	t.Run("stage link refuses", func(t *testing.T) {
		_, d := blob(9, 10)
		_, other := blob(10, 10)
		blobRel, _ := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
		tagRel, _ := regpath.For(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "a", Tag: "v1"})
		cases := []struct {
			name   string
			rel    string
			target digest.Digest
			want   error
		}{
			{"blob data path", blobRel, d, regpath.ErrInvalid},
			{"escaping path", "repositories/../../etc/link", d, regpath.ErrInvalid},
			{"target differs from path", layerLink(t, "a", d), other, fsmove.ErrConflict},
			{"bad target", tagRel, "sha256:zz", regpath.ErrInvalid},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := newPlacer(t, st)
				if _, err := p.StageLink(t.Context(), tc.rel, tc.target); !errors.Is(err, tc.want) {
					t.Errorf("StageLink: got %v, want %v", err, tc.want)
				}
				assertEmpty(t, p)
			})
		}
		t.Run("tag current link", func(t *testing.T) {
			p := newPlacer(t, st)
			if _, err := p.StageLink(t.Context(), tagRel, d); err != nil {
				t.Errorf("StageLink: got %v, want nil", err)
			}
		})
	})

	t.Run("existing blob kept", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(11, 1<<20)
		if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		dst := blobPath(t, p, d)
		old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := os.Chtimes(dst, old, old); err != nil {
			t.Fatal(err)
		}
		before := stat(t, dst)

		if ok, err := p.BlobExists(d, int64(len(data))); !ok || err != nil {
			t.Errorf("BlobExists: got %v, %v; want true, nil", ok, err)
		}
		src := writeFile(t, t.TempDir(), data)
		if _, err := p.StageFile(t.Context(), d, int64(len(data)), src, true); err != nil {
			t.Fatal(err)
		}
		var calls []int
		res, err := p.Commit(t.Context(), func(done, total int) { calls = append(calls, done, total) })
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if want := (fsmove.Result{Existing: 1}); res != want {
			t.Errorf("Result: got %+v, want %+v", res, want)
		}
		if want := []int{1, 1}; !slices.Equal(calls, want) {
			t.Errorf("progress calls: got %v, want %v", calls, want)
		}
		after := stat(t, dst)
		if after.Ino != before.Ino || after.Mtim != before.Mtim {
			t.Errorf("existing blob: got inode %d mtime %v, want inode %d mtime %v (not rewritten)",
				after.Ino, after.Mtim, before.Ino, before.Mtim)
		}
		if got := tree(t, p.StagingDir()); len(got) != 0 {
			t.Errorf("staging: got %q, want nothing", got)
		}
	})

	t.Run("existing blob of other size refused", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(12, 4096)
		dst := blobPath(t, p, d)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data[:100], 0o644); err != nil {
			t.Fatal(err)
		}
		ok, err := p.BlobExists(d, int64(len(data)))
		var pe *fsmove.PathError
		if ok || !errors.Is(err, fsmove.ErrSizeMismatch) || !errors.As(err, &pe) || pe.Path != dst {
			t.Errorf("BlobExists: got %v, %v; want false, a *PathError for %s wrapping %v", ok, err, dst, fsmove.ErrSizeMismatch)
		}
		if _, err := p.StageFile(t.Context(), d, int64(len(data)), writeFile(t, t.TempDir(), data), false); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context(), nil); !errors.Is(err, fsmove.ErrSizeMismatch) {
			t.Errorf("Commit: got %v, want %v", err, fsmove.ErrSizeMismatch)
		}
		if got := readFile(t, dst); !bytes.Equal(got, data[:100]) {
			t.Errorf("existing blob: got %d bytes, want the untouched 100", len(got))
		}
	})

	t.Run("existing link", func(t *testing.T) {
		_, d := blob(13, 10)
		_, other := blob(14, 10)
		rel := layerLink(t, "lib/x", d)
		cases := []struct {
			name    string
			content string
			want    error
		}{
			{"identical kept", d.String(), nil},
			{"other digest refused", other.String(), fsmove.ErrConflict},
			{"trailing newline refused", d.String() + "\n", fsmove.ErrConflict},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := newPlacer(t, st)
				dst := filepath.Join(p.V2Root(), rel)
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dst, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := p.StageLink(t.Context(), rel, d); err != nil {
					t.Fatal(err)
				}
				res, err := p.Commit(t.Context(), nil)
				if !errors.Is(err, tc.want) {
					t.Fatalf("Commit: got %v, want %v", err, tc.want)
				}
				if tc.want == nil && res.Existing != 1 {
					t.Errorf("Result.Existing: got %d, want 1", res.Existing)
				}
				if got := string(readFile(t, dst)); got != tc.content {
					t.Errorf("existing link: got %q, want %q (untouched)", got, tc.content)
				}
			})
		}
	})

	t.Run("ownership and modes", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown to 12345:12346")
		}
		p := newPlacer(t, st)
		data, d := blob(15, 1000)
		src := writeFile(t, t.TempDir(), data)
		if err := os.Chmod(src, 0o600); err != nil {
			t.Fatal(err)
		}
		s1, err := p.StageFile(t.Context(), d, int64(len(data)), src, false)
		if err != nil {
			t.Fatal(err)
		}
		rel := layerLink(t, "team/app", d)
		if _, err := p.StageLink(t.Context(), rel, d); err != nil {
			t.Fatal(err)
		}
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		// blobs/ sha256/ xx/ <hex>/ + repositories/ team/ app/ _layers/ sha256/ <hex>/
		if res.DirsCreated != 10 {
			t.Errorf("DirsCreated: got %d, want 10", res.DirsCreated)
		}
		check := func(path string, wantMode os.FileMode) {
			t.Helper()
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != 12345 || st.Gid != 12346 || fi.Mode() != wantMode {
				t.Errorf("%s: got %d:%d %v, want 12345:12346 %v", path, st.Uid, st.Gid, fi.Mode(), wantMode)
			}
		}
		for _, rel := range tree(t, p.V2Root()) {
			if rel[len(rel)-1] == '/' {
				check(filepath.Join(p.V2Root(), rel), os.ModeDir|0o755)
			} else {
				check(filepath.Join(p.V2Root(), rel), 0o644)
			}
		}
		check(p.V2Root(), os.ModeDir|0o755)
		if s1.How == fsmove.Linked {
			check(src, 0o644) // same inode: documented
		}
	})

	t.Run("rollback", func(t *testing.T) {
		p := newPlacer(t, st)
		pre, preD := blob(16, 500)
		preDst := blobPath(t, p, preD)
		preLinkRel := layerLink(t, "lib/app", preD)
		for path, content := range map[string][]byte{preDst: pre, filepath.Join(p.V2Root(), preLinkRel): []byte(preD.String())} {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		before := tree(t, p.V2Root())

		newData, newD := blob(17, 700)
		var staged []*fsmove.Staged
		add := func(s *fsmove.Staged, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			staged = append(staged, s)
		}
		add(p.StageFile(t.Context(), preD, int64(len(pre)), writeFile(t, t.TempDir(), pre), false))
		add(p.StageFile(t.Context(), newD, int64(len(newData)), writeFile(t, t.TempDir(), newData), false))
		add(p.StageLink(t.Context(), preLinkRel, preD))
		add(p.StageLink(t.Context(), layerLink(t, "lib/app", newD), newD))
		add(p.StageLink(t.Context(), layerLink(t, "lib/other", newD), newD))
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Existing != 2 {
			t.Errorf("Result.Existing: got %d, want 2", res.Existing)
		}
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if got := tree(t, p.V2Root()); !slices.Equal(got, before) {
			t.Errorf("after Rollback: got %q, want %q", got, before)
		}
		if got := readFile(t, preDst); !bytes.Equal(got, pre) {
			t.Errorf("pre-existing blob changed by Rollback")
		}
		if err := p.Rollback(t.Context()); err != nil {
			t.Errorf("second Rollback: got %v, want nil", err)
		}
	})

	t.Run("release keeps what was placed", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(20, 300)
		if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.StageLink(t.Context(), layerLink(t, "lib/kept", d), d); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		placed := tree(t, p.V2Root())
		p.Release()
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatalf("Rollback after Release: %v", err)
		}
		if got := tree(t, p.V2Root()); !slices.Equal(got, placed) {
			t.Errorf("after Release and Rollback: got %q, want %q", got, placed)
		}
		if got := readFile(t, blobPath(t, p, d)); !bytes.Equal(got, data) {
			t.Errorf("blob after Release and Rollback: got %d bytes, want the %d placed", len(got), len(data))
		}
		// A Placer released once still stages, commits and rolls back.
		more, md := blob(21, 200)
		if _, err := p.StageReader(t.Context(), md, int64(len(more)), bytes.NewReader(more)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(blobPath(t, p, md)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("blob committed after Release, then rolled back: got %v, want not exist", err)
		}
		if got := tree(t, p.V2Root()); !slices.Equal(got, placed) {
			t.Errorf("after the second Rollback: got %q, want %q", got, placed)
		}
	})

	t.Run("rollback leaves what others added", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(18, 300)
		if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		// Something else writes into a directory Commit created.
		foreign := filepath.Join(filepath.Dir(blobPath(t, p, d)), "foreign")
		if err := os.WriteFile(foreign, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.Rollback(t.Context()); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if _, err := os.Stat(blobPath(t, p, d)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("placed blob after Rollback: got %v, want not exist", err)
		}
		if _, err := os.Stat(foreign); err != nil {
			t.Errorf("foreign file after Rollback: got %v, want it kept", err)
		}
	})

	t.Run("discard and close", func(t *testing.T) {
		p := newPlacer(t, st)
		data, d := blob(19, 100)
		s1, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.StageFile(t.Context(), d, int64(len(data)), writeFile(t, t.TempDir(), data), true); err != nil {
			t.Fatal(err)
		}
		// One destination staged twice: two files, in two staging trees.
		if got := stagedFiles(t, p); len(got) != 2 {
			t.Fatalf("staged files: got %q, want 2", got)
		}
		if err := p.Discard(s1); err != nil {
			t.Fatalf("Discard: %v", err)
		}
		if got := stagedFiles(t, p); len(got) != 1 {
			t.Errorf("staged files after Discard: got %q, want 1", got)
		}
		if err := p.Discard(s1); err != nil {
			t.Errorf("second Discard: got %v, want nil", err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		assertEmpty(t, p)
		if _, err := p.Commit(t.Context(), nil); !errors.Is(err, fsmove.ErrClosed) {
			t.Errorf("Commit after Close: got %v, want %v", err, fsmove.ErrClosed)
		}
		if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); !errors.Is(err, fsmove.ErrClosed) {
			t.Errorf("StageReader after Close: got %v, want %v", err, fsmove.ErrClosed)
		}
	})

	t.Run("concurrent staging", func(t *testing.T) {
		p := newPlacer(t, st)
		const n = 32
		staged := make([]*fsmove.Staged, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				data, d := blob(100+i%8, 1000+i%8) // duplicates on purpose
				if i%2 == 0 {
					staged[i], errs[i] = p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data))
				} else {
					staged[i], errs[i] = p.StageFile(t.Context(), d, int64(len(data)), writeFile(t, t.TempDir(), data), true)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		res, err := p.Commit(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if placed := res.Linked + res.Copied + res.Streamed; placed != 8 || res.Existing != n-8 {
			t.Errorf("Result: got %d placed, %d existing; want 8, %d", placed, res.Existing, n-8)
		}
	})
}

// TestCrossFilesystem stages from a source on another filesystem: Auto and
// Copy copy, Link fails with EXDEV.
func TestCrossFilesystem(t *testing.T) {
	other := otherFilesystemDir(t)
	data, d := blob(20, 1<<20)
	src := writeFile(t, other, data)
	for _, st := range strategies {
		t.Run(st.String(), func(t *testing.T) {
			p := newPlacer(t, st)
			s, err := p.StageFile(t.Context(), d, int64(len(data)), src, true)
			if st == fsmove.Link {
				if !errors.Is(err, syscall.EXDEV) {
					t.Errorf("StageFile: got %v, want %v", err, syscall.EXDEV)
				}
				assertEmpty(t, p)
				return
			}
			if err != nil {
				t.Fatalf("StageFile: %v", err)
			}
			if s.How != fsmove.Copied {
				t.Errorf("How: got %v, want %v", s.How, fsmove.Copied)
			}
			if _, err := p.Commit(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, blobPath(t, p, d)); !bytes.Equal(got, data) {
				t.Errorf("copied content differs from source")
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name string
		opts fsmove.Options
		want error
	}{
		{"no root", fsmove.Options{}, nil},
		{"relative root", fsmove.Options{Root: "data/registry"}, nil},
		{"missing root", fsmove.Options{Root: filepath.Join(root, "missing")}, fs.ErrNotExist},
		{"staging inside v2", fsmove.Options{Root: root, StagingDir: filepath.Join(root, "docker/registry/v2/tmp")}, nil},
		{"negative owner", fsmove.Options{Root: root, Owner: &fsmove.Owner{UID: -1}}, nil},
		{"unknown strategy", fsmove.Options{Root: root, Strategy: 7}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := fsmove.New(t.Context(), tc.opts)
			if err == nil {
				p.Close()
				t.Fatalf("New: got nil error, want one")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("New: got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("staging on other filesystem", func(t *testing.T) {
		other := otherFilesystemDir(t)
		_, err := fsmove.New(t.Context(), fsmove.Options{Root: t.TempDir(), StagingDir: filepath.Join(other, "staging"), Owner: testOwner()})
		if !errors.Is(err, fsmove.ErrNotSameFilesystem) {
			t.Errorf("New: got %v, want %v", err, fsmove.ErrNotSameFilesystem)
		}
	})
}

func TestCleanStaging(t *testing.T) {
	root := t.TempDir()
	opts := fsmove.Options{Root: root, Owner: testOwner(), Logger: testLogger(t)}
	if n, err := fsmove.CleanStaging(t.Context(), opts); n != 0 || err != nil {
		t.Errorf("CleanStaging without staging dir: got %d, %v; want 0, nil", n, err)
	}
	// A killed run: staged files, no Close.
	killed, err := fsmove.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	data, d := blob(21, 1000)
	if _, err := killed.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := killed.StageLink(t.Context(), layerLink(t, "a", d), d); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(killed.StagingDir(), "notes.txt")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := fsmove.CleanStaging(t.Context(), opts)
	if n != 2 || err != nil {
		t.Errorf("CleanStaging: got %d, %v; want 2, nil", n, err)
	}
	if got, want := tree(t, killed.StagingDir()), []string{"notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("staging after CleanStaging: got %q, want %q", got, want)
	}
}

// otherFilesystemDir returns a fresh directory on a filesystem other than
// t.TempDir()'s, or skips.
func otherFilesystemDir(t *testing.T) string {
	t.Helper()
	base := stat(t, t.TempDir()).Dev
	for _, dir := range []string{"/dev/shm", "/run", "/var/tmp", os.Getenv("FSMOVE_OTHER_FS")} {
		if dir == "" {
			continue
		}
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Sys().(*syscall.Stat_t).Dev == base {
			continue
		}
		tmp, err := os.MkdirTemp(dir, "fsmove-test-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(tmp) })
		return tmp
	}
	t.Skip("no writable directory on another filesystem than t.TempDir() (tried /dev/shm, /run, /var/tmp, $FSMOVE_OTHER_FS)")
	return ""
}

// iotestOneByteThenRest returns a reader that first yields one byte, then
// the rest in odd-sized reads, like a tar reader across record boundaries.
func iotestOneByteThenRest(b []byte) io.Reader {
	return &chunkReader{b: b, sizes: []int{1, 7, 511, 1 << 20, 3}}
}

type chunkReader struct {
	b     []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.b), r.sizes[r.i%len(r.sizes)])
	r.i++
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// failingReader yields b, then err.
type failingReader struct {
	b   []byte
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// cancellingReader cancels its context after some bytes.
type cancellingReader struct {
	r      io.Reader
	n      int
	after  int
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += n
	if r.n >= r.after {
		r.cancel()
	}
	return n, err
}

func TestNewDefaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the default owner 10000:10000 is applied to the v2 root")
	}
	root := t.TempDir()
	p, err := fsmove.New(t.Context(), fsmove.Options{Root: root})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer p.Close()
	if got, want := p.V2Root(), filepath.Join(root, "docker/registry/v2"); got != want {
		t.Errorf("V2Root: got %q, want %q", got, want)
	}
	if got, want := p.StagingDir(), filepath.Join(root, ".harbor-import/staging"); got != want {
		t.Errorf("StagingDir: got %q, want %q", got, want)
	}
	if fi, err := os.Stat(p.StagingDir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("staging dir: got %v, %v; want mode 0700", fi, err)
	}
	for _, dir := range []string{"docker", "docker/registry", "docker/registry/v2"} {
		st := stat(t, filepath.Join(root, dir))
		if st.Uid != 10000 || st.Gid != 10000 || st.Mode&0o7777 != 0o755 {
			t.Errorf("%s: got %d:%d %o, want 10000:10000 755", dir, st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
}

// TestSymlinkedDirectoryRefused: Commit never follows a symlink in the v2
// tree out of it.
func TestSymlinkedDirectoryRefused(t *testing.T) {
	p := newPlacer(t, fsmove.Auto)
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(p.V2Root(), "blobs")); err != nil {
		t.Fatal(err)
	}
	data, d := blob(22, 10)
	if _, err := p.StageReader(t.Context(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(t.Context(), nil); !errors.Is(err, fsmove.ErrConflict) {
		t.Errorf("Commit: got %v, want %v", err, fsmove.ErrConflict)
	}
	if got := tree(t, elsewhere); len(got) != 0 {
		t.Errorf("symlink target: got %q, want nothing written", got)
	}
}
