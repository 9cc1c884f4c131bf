package importer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// plan is everything an import will do, computed before anything is written.
type plan struct {
	batch harbordb.Batch
	// blobs to place, by digest, in first-use order (blobOrder).
	blobs     map[digest.Digest]*planBlob
	blobOrder []digest.Digest
	// links to place (relative to the v2 root) and their targets.
	links []planLink

	// Report material.
	repos     []RepoSummary
	excluded  []string
	skipped   []Problem // invalid names or unsupported content skipped by --skip-invalid
	untagged  []string  // "repo@digest" of manifests no tag reaches
	problems  []Problem // what stops the import
	projects  map[string]bool
	totalSize int64
}

type planBlob struct {
	size int64
	// file is false for foreign layers and empty configs the source does
	// not hold: a blob row without data, as a push leaves it.
	file        bool
	contentType string
	fromHarbor  bool // Harbor's storage already holds the data
}

type planLink struct {
	rel    string
	target digest.Digest
}

// Problem is one reason a reference cannot be imported as it is.
type Problem struct {
	Kind       string `json:"kind"` // "invalid-name", "unsupported", "missing-blob", "digest-mismatch", "bad-manifest", "conflict"
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Message    string `json:"message"`
}

func (p Problem) String() string {
	ref := p.Repository
	if p.Tag != "" {
		ref += ":" + p.Tag
	}
	if p.Digest != "" {
		ref += "@" + p.Digest
	}
	return ref + ": " + p.Message
}

// RepoSummary is one repository of the plan.
type RepoSummary struct {
	Source    string `json:"source"`
	Target    string `json:"target"`
	Project   string `json:"project"`
	Tags      int    `json:"tags"`
	Artifacts int    `json:"artifacts"`
}

// blobReader is how the planner reads blob content and sizes: from the
// source, else from Harbor's storage (a blob an earlier import placed).
type blobReader struct {
	src        source
	inHarbor   func(d digest.Digest) (int64, bool, error)
	readHarbor func(d digest.Digest) ([]byte, error)
}

func (br blobReader) size(d digest.Digest) (size int64, ok, inHarbor bool, err error) {
	size, ok, err = br.src.stat(d)
	if err != nil || ok {
		return size, ok, false, err
	}
	size, ok, err = br.inHarbor(d)
	return size, ok, ok, err
}

func (br blobReader) read(ctx context.Context, d digest.Digest) ([]byte, error) {
	b, err := br.src.read(ctx, d)
	if err == nil {
		return b, nil
	}
	if errors.Is(err, errNotCaptured) || errors.Is(err, ErrMissingBlob) || errors.Is(err, errNoSuchBlob) {
		if _, ok, herr := br.inHarbor(d); herr == nil && ok {
			hb, herr := br.readHarbor(d)
			if herr != nil {
				return nil, herr
			}
			return hb, verifyBytes(d, hb)
		}
		if errors.Is(err, errNotCaptured) {
			return nil, fmt.Errorf("blob %s was not kept while reading the archive (not JSON, or larger than %d bytes)", d, maxJSONBlob)
		}
	}
	return nil, err
}

var errNoSuchBlob = errors.New("no such blob")

// planner builds a plan from an inventory.
type planner struct {
	opts   *Options
	flavor flavor
	br     blobReader
	p      *plan
	nodes  map[string]*artNode // by "targetRepo@digest"
	// nodeKeys are nodes' keys in the order they were added (for rollbackTo).
	nodeKeys []string
}

// artNode is one artifact being planned.
type artNode struct {
	digest digest.Digest
	size   int64
}

// refError is a problem found while resolving one reference.
type refError struct {
	kind string
	err  error
}

func (e *refError) Error() string { return e.err.Error() }
func (e *refError) Unwrap() error { return e.err }

func newPlan() *plan {
	return &plan{blobs: map[digest.Digest]*planBlob{}, projects: map[string]bool{}}
}

// build plans the import of every selected repository of inv.
func (pl *planner) build(ctx context.Context, inv *inventory) error {
	sel := selector{include: pl.opts.Include, exclude: pl.opts.Exclude}
	if err := sel.validate(); err != nil {
		return err
	}
	p := pl.p
	projectBlobs := map[string]map[digest.Digest]bool{}
	for _, src := range inv.sortedRepos() {
		if err := ctx.Err(); err != nil {
			return err
		}
		links := inv.repos[src]
		if !sel.selected(src) {
			p.excluded = append(p.excluded, src)
			continue
		}
		if len(links.tags) == 0 && len(links.revisions) == 0 {
			continue
		}
		target, project := targetName(src, pl.opts.defaultProject())
		var nameErrs []string
		if err := checkProjectName(project); err != nil {
			nameErrs = append(nameErrs, err.Error())
		}
		if err := checkRepoName(target); err != nil {
			nameErrs = append(nameErrs, err.Error())
		}
		if len(nameErrs) > 0 {
			pr := Problem{Kind: "invalid-name", Repository: src, Message: strings.Join(nameErrs, "; ")}
			if pl.opts.SkipInvalid {
				p.skipped = append(p.skipped, pr)
			} else {
				p.problems = append(p.problems, pr)
			}
			continue
		}
		sum := RepoSummary{Source: src, Target: target, Project: project}
		reached := map[digest.Digest]bool{}
		for _, tag := range sortedTags(links.tags) {
			d := links.tags[tag]
			if err := checkTagName(tag); err != nil {
				pr := Problem{Kind: "invalid-name", Repository: src, Tag: tag, Message: err.Error()}
				if pl.opts.SkipInvalid {
					p.skipped = append(p.skipped, pr)
				} else {
					p.problems = append(p.problems, pr)
				}
				continue
			}
			before := len(p.batch.Artifacts)
			mark := pl.mark()
			_, err := pl.resolve(ctx, target, project, d, reached)
			if err != nil {
				pl.rollbackTo(mark)
				var re *refError
				kind := "bad-manifest"
				if errors.As(err, &re) {
					kind = re.kind
				}
				pr := Problem{Kind: kind, Repository: src, Tag: tag, Digest: d.String(), Message: err.Error()}
				if kind == "unsupported" && pl.opts.SkipInvalid {
					p.skipped = append(p.skipped, pr)
				} else {
					p.problems = append(p.problems, pr)
				}
				continue
			}
			sum.Artifacts += len(p.batch.Artifacts) - before
			sum.Tags++
			p.batch.Tags = append(p.batch.Tags, harbordb.Tag{Repository: target, Name: tag, Digest: d.String()})
		}
		for _, d := range sortedDigests(links.revisions) {
			if !reached[d] {
				p.untagged = append(p.untagged, src+"@"+d.String())
			}
		}
		if sum.Tags == 0 {
			continue
		}
		p.repos = append(p.repos, sum)
		p.batch.Repositories = append(p.batch.Repositories, harbordb.Repository{Name: target, Project: project})
		if !p.projects[project] {
			p.projects[project] = true
			p.batch.Projects = append(p.batch.Projects, harbordb.Project{Name: project, Public: pl.opts.Public})
			projectBlobs[project] = map[digest.Digest]bool{}
		}
	}
	// project_blob rows: every blob of every artifact of the project (harbor-facts §2.11).
	repoProject := map[string]string{}
	for _, r := range p.batch.Repositories {
		repoProject[r.Name] = r.Project
	}
	manifestBlobs := map[string][]string{}
	for _, ab := range p.batch.ArtifactBlobs {
		manifestBlobs[ab.ArtifactDigest] = append(manifestBlobs[ab.ArtifactDigest], ab.BlobDigest)
	}
	for _, a := range p.batch.Artifacts {
		proj, ok := repoProject[a.Repository]
		if !ok {
			continue
		}
		for _, b := range manifestBlobs[a.Digest] {
			if !projectBlobs[proj][digest.Digest(b)] {
				projectBlobs[proj][digest.Digest(b)] = true
				p.batch.ProjectBlobs = append(p.batch.ProjectBlobs, harbordb.ProjectBlob{Project: proj, BlobDigest: b})
			}
		}
	}
	// Keep only rows of repositories that made it into the plan.
	p.batch.Artifacts = filter(p.batch.Artifacts, func(a harbordb.Artifact) bool { _, ok := repoProject[a.Repository]; return ok })
	for _, d := range p.blobOrder {
		b := p.blobs[d]
		p.batch.Blobs = append(p.batch.Blobs, harbordb.Blob{Digest: d.String(), ContentType: b.contentType, Size: b.size})
		p.totalSize += b.size
	}
	return nil
}

func filter[T any](in []T, keep func(T) bool) []T {
	out := in[:0]
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func sortedDigests(m map[digest.Digest]bool) []digest.Digest {
	out := make([]digest.Digest, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// planMark remembers plan lengths so a failed reference leaves no rows.
// Everything a reference adds is appended, so a mark is a set of lengths
// (constant time, whatever the plan's size).
type planMark struct {
	arts, refs, abs, links, blobOrder, nodeKeys int
}

func (pl *planner) mark() planMark {
	p := pl.p
	return planMark{len(p.batch.Artifacts), len(p.batch.References), len(p.batch.ArtifactBlobs), len(p.links), len(p.blobOrder), len(pl.nodeKeys)}
}

func (pl *planner) rollbackTo(m planMark) {
	p := pl.p
	p.batch.Artifacts = p.batch.Artifacts[:m.arts]
	p.batch.References = p.batch.References[:m.refs]
	p.batch.ArtifactBlobs = p.batch.ArtifactBlobs[:m.abs]
	p.links = p.links[:m.links]
	for _, d := range p.blobOrder[m.blobOrder:] {
		delete(p.blobs, d)
	}
	p.blobOrder = p.blobOrder[:m.blobOrder]
	for _, k := range pl.nodeKeys[m.nodeKeys:] {
		delete(pl.nodes, k)
	}
	pl.nodeKeys = pl.nodeKeys[:m.nodeKeys]
}

func (pl *planner) addBlob(d digest.Digest, size int64, contentType string, file, fromHarbor bool) {
	b := pl.p.blobs[d]
	if b == nil {
		b = &planBlob{size: size}
		pl.p.blobs[d] = b
		pl.p.blobOrder = append(pl.p.blobOrder, d)
	}
	// content_type follows the most recent manifest referencing the blob (harbor-facts §2.9).
	b.contentType = contentType
	b.file = b.file || file
	b.fromHarbor = b.fromHarbor || fromHarbor
}

func (pl *planner) addLink(kind regpath.Kind, repo string, d digest.Digest) error {
	rel, err := regpath.For(regpath.Spec{Kind: kind, Repo: repo, Digest: d})
	if err != nil {
		return err
	}
	pl.p.links = append(pl.p.links, planLink{rel: rel, target: d})
	return nil
}

// resolve plans the artifact d in repository repo (and, for an index, its
// children first, as a push creates them) and returns it.
func (pl *planner) resolve(ctx context.Context, repo, project string, d digest.Digest, reached map[digest.Digest]bool) (*artNode, error) {
	key := repo + "@" + d.String()
	if n := pl.nodes[key]; n != nil {
		reached[d] = true
		return n, nil
	}
	if pl.nodes == nil {
		pl.nodes = map[string]*artNode{}
	}
	if err := d.Validate(); err != nil {
		return nil, &refError{"bad-manifest", fmt.Errorf("bad digest %q: %w", d, err)}
	}
	_, ok, inHarbor, err := pl.br.size(d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &refError{"missing-blob", fmt.Errorf("%w: manifest %s is not in the source's blobs", ErrMissingBlob, d)}
	}
	raw, err := pl.br.read(ctx, d)
	if err != nil {
		kind := "bad-manifest"
		if errors.Is(err, ErrDigestMismatch) {
			kind = "digest-mismatch"
		}
		return nil, &refError{kind, fmt.Errorf("reading manifest %s: %w", d, err)}
	}
	m, err := parseManifest(d, raw)
	if err != nil {
		kind := "bad-manifest"
		if strings.Contains(err.Error(), "not supported yet") || strings.Contains(err.Error(), "does not accept") {
			kind = "unsupported"
		}
		return nil, &refError{kind, err}
	}
	node := &artNode{digest: d, size: int64(len(raw))}
	var config []byte
	if m.IsIndex {
		for _, c := range m.Manifests {
			child, err := pl.resolve(ctx, repo, project, c.Digest, reached)
			if err != nil {
				return nil, fmt.Errorf("child %s of index %s: %w", c.Digest, d, err)
			}
			node.size += child.size
		}
	} else {
		for i, desc := range m.references() {
			what := "layer"
			if i == 0 {
				what = "config"
			}
			size, ok, inH, err := pl.br.size(desc.Digest)
			if err != nil {
				return nil, err
			}
			switch {
			case !ok && (isForeign(desc) || (i == 0 && desc.Size == 0)):
				// No data, as in any registry: a row without a file.
				pl.addBlob(desc.Digest, desc.Size, desc.MediaType, false, false)
			case !ok:
				return nil, &refError{"missing-blob", fmt.Errorf("%w: %s %s of manifest %s is not in the source", ErrMissingBlob, what, desc.Digest, d)}
			case size != desc.Size:
				// Data of another size cannot hash to the digest (or the manifest lies).
				return nil, &refError{"digest-mismatch", fmt.Errorf("%w: %s %s of manifest %s: the manifest says %d bytes, the blob has %d (truncated or corrupt)", ErrDigestMismatch, what, desc.Digest, d, desc.Size, size)}
			default:
				pl.addBlob(desc.Digest, desc.Size, desc.MediaType, true, inH)
				if err := pl.addLink(regpath.LayerLink, repo, desc.Digest); err != nil {
					return nil, err
				}
			}
			node.size += desc.Size
		}
		if m.Config.Size > 0 && m.Config.Size <= maxJSONBlob {
			config, err = pl.br.read(ctx, m.Config.Digest)
			if err != nil {
				kind := "bad-manifest"
				if errors.Is(err, ErrDigestMismatch) {
					kind = "digest-mismatch"
				}
				return nil, &refError{kind, fmt.Errorf("reading config %s of manifest %s: %w", m.Config.Digest, d, err)}
			}
		}
	}
	row, err := deriveArtifact(m, config, pl.flavor)
	if err != nil {
		kind := "bad-manifest"
		if strings.Contains(err.Error(), "not supported yet") {
			kind = "unsupported"
		}
		return nil, &refError{kind, err}
	}
	// The manifest blob itself: row, file and revision link (harbor-facts §2.9, §4.2).
	pl.addBlob(d, int64(len(raw)), m.MediaType, true, inHarbor)
	if err := pl.addLink(regpath.RevisionLink, repo, d); err != nil {
		return nil, err
	}
	p := pl.p
	p.batch.Artifacts = append(p.batch.Artifacts, harbordb.Artifact{
		Repository: repo, Digest: d.String(), Type: row.Type, MediaType: row.MediaType,
		ManifestMediaType: m.MediaType, ArtifactType: row.ArtifactType, Size: node.size,
		ExtraAttrs: row.ExtraAttrs, Annotations: row.Annotations, Icon: row.Icon,
	})
	for _, ref := range m.references() {
		p.batch.ArtifactBlobs = append(p.batch.ArtifactBlobs, harbordb.ArtifactBlob{ArtifactDigest: d.String(), BlobDigest: ref.Digest.String()})
	}
	p.batch.ArtifactBlobs = append(p.batch.ArtifactBlobs, harbordb.ArtifactBlob{ArtifactDigest: d.String(), BlobDigest: d.String()})
	if m.IsIndex {
		for _, c := range m.Manifests {
			if err := pl.indexChild(repo, d, c); err != nil {
				return nil, err
			}
		}
	}
	pl.nodes[key] = node
	pl.nodeKeys = append(pl.nodeKeys, key)
	reached[d] = true
	return node, nil
}

// indexChild adds the artifact_reference row of one index entry and makes
// the index's descriptor media type the child blob's content type, as the
// index push's Sync does (harbor-facts §2.9, §2.12).
func (pl *planner) indexChild(repo string, parent digest.Digest, c ocispec.Descriptor) error {
	platform, err := platformJSON(c.Platform)
	if err != nil {
		return err
	}
	urls, err := urlsJSON(c.URLs)
	if err != nil {
		return err
	}
	ann, err := annotationsJSON(c.Annotations)
	if err != nil {
		return err
	}
	pl.p.batch.References = append(pl.p.batch.References, harbordb.ArtifactReference{
		Repository: repo, ParentDigest: parent.String(), ChildDigest: c.Digest.String(),
		Platform: platform, URLs: urls, Annotations: ann,
	})
	if b := pl.p.blobs[c.Digest]; b != nil && c.MediaType != "" {
		b.contentType = c.MediaType
	}
	return nil
}
