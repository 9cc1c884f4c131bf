package importer

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
)

// inventory is what the link files of a registry storage say.
type inventory struct {
	// repos is written by the scan alone; once it is over, the planner
	// takes each repository out as it plans it (take), so what is left
	// shrinks as the plan grows, and the prefetcher reads ahead under mu.
	mu    sync.Mutex
	repos map[string]*repoLinks
	// linkFiles counts the link files read.
	linkFiles int
}

// repoLinks are one repository's links. They are kept compact, a digest
// as its 32 bytes (regpath.ParseLink takes sha256 only): a 50,000-tag
// storage has ~95,000 tag and revision links, which maps of digest strings
// held in ~20 MB. Both lists are in the order links were read until
// inventory.seal sorts them.
type repoLinks struct {
	tags      []tagLink  // by name after seal, each name once
	revisions [][32]byte // sha256 sums, sorted after seal, each once
}

// tagLink is a tag's current link and the sha256 sum it holds.
type tagLink struct {
	name string
	sum  [32]byte
}

// target returns the digest t's link holds (a new string each call).
func (t tagLink) target() digest.Digest { return sumDigest(t.sum) }

// sumDigest spells a sha256 sum as a digest.
func sumDigest(sum [32]byte) digest.Digest { return digest.NewDigestFromBytes(digest.SHA256, sum[:]) }

func newInventory() *inventory { return &inventory{repos: map[string]*repoLinks{}} }

func (inv *inventory) repo(name string) *repoLinks {
	r := inv.repos[name]
	if r == nil {
		r = &repoLinks{}
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
	sum, ok := sha256Key(d)
	if !ok {
		return fmt.Errorf("%w: link file %s holds %s, not a sha256 digest", ErrCorruptSource, rel, d)
	}
	inv.linkFiles++
	switch spec.Kind {
	case regpath.TagCurrentLink:
		// The tag is cut from the link's path: a copy keeps the path
		// from staying in memory with it.
		r := inv.repo(spec.Repo)
		r.tags = append(r.tags, tagLink{name: strings.Clone(spec.Tag), sum: sum})
	case regpath.RevisionLink:
		if d != spec.Digest {
			return fmt.Errorf("%w: link file %s holds %s, not the digest its path names", ErrCorruptSource, rel, d)
		}
		r := inv.repo(spec.Repo)
		r.revisions = append(r.revisions, sum)
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

// seal sorts every repository's links, once the scan is over. A tag read
// twice (a tarball appended to) keeps its last link, as extracting the
// archive would; a revision read twice is one.
func (inv *inventory) seal() {
	for _, r := range inv.repos {
		slices.SortStableFunc(r.tags, func(a, b tagLink) int { return strings.Compare(a.name, b.name) })
		kept := r.tags[:0]
		for i, t := range r.tags {
			if i+1 < len(r.tags) && r.tags[i+1].name == t.name {
				continue // a later link of the same tag wins
			}
			kept = append(kept, t)
		}
		slices.SortFunc(r.revisions, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		// Exact copies: what appending left spare would stay with them.
		r.tags, r.revisions = slices.Clone(kept), slices.Clone(slices.Compact(r.revisions))
	}
}

// revisionDigests returns r's revisions, sorted (after seal).
func (r *repoLinks) revisionDigests() []digest.Digest {
	out := make([]digest.Digest, len(r.revisions))
	for i, sum := range r.revisions {
		out[i] = sumDigest(sum)
	}
	return out
}

// take removes repository name's links from inv and returns them (nil
// when taken already or unknown).
func (inv *inventory) take(name string) *repoLinks {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	r := inv.repos[name]
	delete(inv.repos, name)
	return r
}

// tagTargets returns the digests repository name's tags hold, in tag
// order, or nil once the planner took the repository.
func (inv *inventory) tagTargets(name string) []digest.Digest {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	r := inv.repos[name]
	if r == nil {
		return nil
	}
	out := make([]digest.Digest, len(r.tags))
	for i, t := range r.tags {
		out[i] = t.target()
	}
	return out
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
