package importer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// TestScanNamesCalledIndex: a repository component or a tag named "index"
// is read; only a tag's history directory (_manifests/tags/<tag>/index) is
// skipped.
func TestScanNamesCalledIndex(t *testing.T) {
	v2 := t.TempDir()
	d := digest.FromString("m")
	old := digest.FromString("old")
	write := func(spec regpath.Spec, target digest.Digest) {
		rel, err := regpath.For(spec)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(v2, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, regpath.LinkContent(target), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "team/index/app", Tag: "v1"}, d)
	write(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "index", Tag: "index"}, d)
	write(regpath.Spec{Kind: regpath.TagIndexLink, Repo: "index", Tag: "index", Digest: old}, old)
	write(regpath.Spec{Kind: regpath.RevisionLink, Repo: "index", Digest: d}, d)
	inv := newInventory()
	if err := (&dirSource{root: v2, v2: v2}).scan(context.Background(), inv, scanEnv{}); err != nil {
		t.Fatal(err)
	}
	inv.seal()
	if got := inv.repos["team/index/app"]; got == nil || len(got.tags) != 1 || got.tags[0].name != "v1" || got.tags[0].target() != d {
		t.Errorf("team/index/app: got %+v, want tag v1 -> %s", got, d)
	}
	if got := inv.repos["index"]; got == nil || len(got.tags) != 1 || got.tags[0].name != "index" || got.tags[0].target() != d ||
		!slices.Equal(got.revisionDigests(), []digest.Digest{d}) {
		t.Errorf("index: got %+v, want tag index -> %s and one revision", got, d)
	}
	if inv.linkFiles != 3 {
		t.Errorf("read %d link files, want 3 (the tag history link is not read)", inv.linkFiles)
	}
}

// TestScanWalk: the directory scan reads exactly the tag and revision links
// a walk of the whole tree that enters no symlinked directory would; a
// link file that is a symlink or a device is corrupt, and named so.
func TestScanWalk(t *testing.T) {
	d := digest.FromString("m")
	build := func(t *testing.T) (v2 string, write func(spec regpath.Spec) string, at func(rel string) string) {
		v2 = t.TempDir()
		at = func(rel string) string {
			p := filepath.Join(v2, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}
		write = func(spec regpath.Spec) string {
			rel, err := regpath.For(spec)
			if err != nil {
				t.Fatal(err)
			}
			p := at(rel)
			if err := os.WriteFile(p, regpath.LinkContent(d), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		return v2, write, at
	}
	scan := func(v2 string) (*inventory, error) {
		inv := newInventory()
		err := (&dirSource{root: v2, v2: v2}).scan(context.Background(), inv, scanEnv{})
		inv.seal()
		return inv, err
	}
	symlink := func(t *testing.T, target, p string) {
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("what is read", func(t *testing.T) {
		v2, write, at := build(t)
		write(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "a", Tag: "v1"})
		write(regpath.Spec{Kind: regpath.RevisionLink, Repo: "a", Digest: d})
		write(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "a/b", Tag: "v1"})
		write(regpath.Spec{Kind: regpath.LayerLink, Repo: "a", Digest: digest.FromString("layer")})
		write(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "top", Tag: "v1"})
		// Not read: a symlinked repository, a symlinked tag and
		// revision, a directory called link, a tag without current/,
		// a file among the tags, an upload session, links in the
		// wrong place.
		symlink(t, "a", at("repositories/c"))
		symlink(t, "top", at("repositories/team/d"))
		symlink(t, filepath.Join("..", "v1", "current"), at("repositories/a/_manifests/tags/v2/current"))
		symlink(t, filepath.Join("..", "..", "..", "..", "top", "_manifests", "tags", "v1"), at("repositories/a/_manifests/tags/v3"))
		hex := digest.FromString("other").Encoded()
		symlink(t, filepath.Join("..", d.Encoded()), at("repositories/a/_manifests/revisions/sha256/"+hex))
		if err := os.MkdirAll(at("repositories/a/_manifests/tags/v4/current/link/x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(at("repositories/a/_manifests/tags/v5/x"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, rel := range []string{
			"repositories/a/_manifests/tags/note",
			"repositories/a/_uploads/u1/link",
			"repositories/a/_manifests/tags/v6/link",
			"repositories/a/_manifests/revisions/link",
			"repositories/_manifests/tags/v1/current/link",
		} {
			if err := os.WriteFile(at(rel), regpath.LinkContent(d), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		inv, err := scan(v2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, name := range inv.sortedRepos() {
			r := inv.repos[name]
			for _, tg := range r.tags {
				got = append(got, name+":"+tg.name)
			}
			for _, rev := range r.revisionDigests() {
				got = append(got, name+"@"+rev.String())
			}
		}
		want := []string{"a:v1", "a@" + d.String(), "a/b:v1", "top:v1"}
		if !slices.Equal(got, want) {
			t.Errorf("read %q, want %q", got, want)
		}
		if inv.linkFiles != len(want) {
			t.Errorf("read %d link files, want %d", inv.linkFiles, len(want))
		}
	})

	for _, tc := range []struct {
		name string
		make func(t *testing.T, p string)
	}{
		{"symlink", func(t *testing.T, p string) { symlink(t, filepath.Join("..", "..", "v1", "current", "link"), p) }},
		{"fifo", func(t *testing.T, p string) {
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run("link file is a "+tc.name, func(t *testing.T) {
			v2, write, at := build(t)
			write(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "a", Tag: "v1"})
			p := at("repositories/a/_manifests/tags/v2/current/link")
			tc.make(t, p)
			_, err := scan(v2)
			if !errors.Is(err, ErrCorruptSource) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want ErrCorruptSource naming %s", err, p)
			}
		})
	}
}
