package importer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
)

// inventory is what the link files of a registry storage say.
type inventory struct {
	repos map[string]*repoLinks
	// linkFiles counts the link files read.
	linkFiles int
}

// repoLinks are one repository's links.
type repoLinks struct {
	tags      map[string]digest.Digest
	revisions map[digest.Digest]bool
}

func newInventory() *inventory { return &inventory{repos: map[string]*repoLinks{}} }

func (inv *inventory) repo(name string) *repoLinks {
	r := inv.repos[name]
	if r == nil {
		r = &repoLinks{tags: map[string]digest.Digest{}, revisions: map[digest.Digest]bool{}}
		inv.repos[name] = r
	}
	return r
}

// addLink records a link file found at rel (relative to the v2 root) with
// content b. Other paths are ignored; a bad link file is an error naming it.
func (inv *inventory) addLink(rel string, spec regpath.Spec, b []byte) error {
	d, err := regpath.ParseLink(b)
	if err != nil {
		return fmt.Errorf("%w: link file %s: %w", ErrCorruptSource, rel, err)
	}
	inv.linkFiles++
	switch spec.Kind {
	case regpath.TagCurrentLink:
		// The tag is cut from the link's path: a copy keeps the path
		// from staying in memory with it.
		inv.repo(spec.Repo).tags[strings.Clone(spec.Tag)] = d
	case regpath.RevisionLink:
		if d != spec.Digest {
			return fmt.Errorf("%w: link file %s holds %s, not the digest its path names", ErrCorruptSource, rel, d)
		}
		inv.repo(spec.Repo).revisions[d] = true
	case regpath.LayerLink, regpath.TagIndexLink:
		// Layer links are rewritten from manifests; tag index links are history.
		inv.repo(spec.Repo)
	}
	return nil
}

// merge moves the repositories of part, which inv does not have, into inv.
func (inv *inventory) merge(part *inventory) {
	for name, r := range part.repos {
		inv.repos[name] = r
	}
	inv.linkFiles += part.linkFiles
}

// wantsLink says whether a link of this kind must be read.
func wantsLink(k regpath.Kind) bool {
	return k == regpath.TagCurrentLink || k == regpath.RevisionLink
}

func (inv *inventory) sortedRepos() []string {
	out := make([]string, 0, len(inv.repos))
	for r := range inv.repos {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func sortedTags(m map[string]digest.Digest) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
