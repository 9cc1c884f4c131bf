package importer

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
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

// repoLinks are one repository's links. They are kept compact, a digest
// as its 32 bytes: a 50,000-tag storage has ~95,000 tag and revision
// links, which maps of digest strings held in ~20 MB. Both lists are in
// the order links were read until inventory.seal sorts them.
type repoLinks struct {
	tags      []tagLink    // by name after seal, each name once
	revisions []linkDigest // sorted after seal, each once
}

// tagLink is a tag's current link.
type tagLink struct {
	name string
	to   linkDigest
}

// linkDigest is the digest a link file holds: a canonical sha256 (what a
// registry writes) as its 32 bytes, any other spelling as text.
type linkDigest struct {
	sum   [32]byte
	other digest.Digest // "" for a canonical sha256
}

func newLinkDigest(d digest.Digest) linkDigest {
	if k, ok := sha256Key(d); ok {
		return linkDigest{sum: k}
	}
	return linkDigest{other: d}
}

// digest returns the digest (a new string for a sha256).
func (l linkDigest) digest() digest.Digest {
	if l.other != "" {
		return l.other
	}
	return digest.Digest("sha256:" + hex.EncodeToString(l.sum[:]))
}

// compare orders link digests as their text.
func (l linkDigest) compare(o linkDigest) int {
	if l.other == "" && o.other == "" {
		return bytes.Compare(l.sum[:], o.sum[:])
	}
	return strings.Compare(string(l.digest()), string(o.digest()))
}

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
	inv.linkFiles++
	switch spec.Kind {
	case regpath.TagCurrentLink:
		// The tag is cut from the link's path: a copy keeps the path
		// from staying in memory with it.
		r := inv.repo(spec.Repo)
		r.tags = append(r.tags, tagLink{name: strings.Clone(spec.Tag), to: newLinkDigest(d)})
	case regpath.RevisionLink:
		if d != spec.Digest {
			return fmt.Errorf("%w: link file %s holds %s, not the digest its path names", ErrCorruptSource, rel, d)
		}
		r := inv.repo(spec.Repo)
		r.revisions = append(r.revisions, newLinkDigest(d))
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
		r.tags = kept
		slices.SortFunc(r.revisions, linkDigest.compare)
		r.revisions = slices.CompactFunc(r.revisions, func(a, b linkDigest) bool { return a.compare(b) == 0 })
	}
}

// revisionDigests returns r's revisions, sorted (after seal).
func (r *repoLinks) revisionDigests() []digest.Digest {
	out := make([]digest.Digest, len(r.revisions))
	for i, l := range r.revisions {
		out[i] = l.digest()
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
