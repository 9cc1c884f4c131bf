package importer

import (
	"slices"
	"testing"

	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
)

// TestInventorySeal: links come in any order (and twice from a tarball
// appended to); after seal a repository's tags are by name with the last
// link of a tag winning, and its revisions sorted and each once.
func TestInventorySeal(t *testing.T) {
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	sorted := []digest.Digest{a, b, c}
	slices.Sort(sorted)
	inv := newInventory()
	add := func(spec regpath.Spec, d digest.Digest) {
		t.Helper()
		spec.Repo = "team/app"
		if err := inv.addLink("x", spec, regpath.LinkContent(d)); err != nil {
			t.Fatal(err)
		}
	}
	add(regpath.Spec{Kind: regpath.TagCurrentLink, Tag: "v2"}, a)
	add(regpath.Spec{Kind: regpath.TagCurrentLink, Tag: "v1"}, b)
	add(regpath.Spec{Kind: regpath.TagCurrentLink, Tag: "v2"}, c) // appended later: wins
	for _, d := range []digest.Digest{sorted[2], sorted[0], sorted[1], sorted[0]} {
		add(regpath.Spec{Kind: regpath.RevisionLink, Digest: d}, d)
	}
	inv.seal()
	r := inv.repos["team/app"]
	var tags []string
	for _, tl := range r.tags {
		tags = append(tags, tl.name+"="+tl.target().String())
	}
	if want := []string{"v1=" + b.String(), "v2=" + c.String()}; !slices.Equal(tags, want) {
		t.Errorf("tags: got %v, want %v", tags, want)
	}
	if got := r.revisionDigests(); !slices.Equal(got, sorted) {
		t.Errorf("revisions: got %v, want %v", got, sorted)
	}
	if inv.linkFiles != 7 {
		t.Errorf("counted %d link files, want 7", inv.linkFiles)
	}
}
