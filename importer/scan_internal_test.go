package importer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
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
