package importer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// plan is everything an import will do, computed before anything is written.
type plan struct {
	// batch holds the rows; the planner spools each repository's to disk
	// once the repository is planned (endRepo), so a plan's memory does
	// not grow with its rows.
	batch *harbordb.Spool
	// blobs of the rows, to place where they have data, in first-use order.
	blobs blobTable
	// links to place, each once, in first-use order; linkRepos are their
	// repositories' names.
	links     []planLink
	linkRepos []string

	// Report material.
	repos    []RepoSummary
	excluded []string
	skipped  []Problem // invalid names or unsupported content skipped by --skip-invalid
	untagged []string  // "repo@digest" of manifests no tag reaches
	// untaggedImported: "repo@digest" of untagged manifests imported (--include-untagged).
	untaggedImported []string
	// schema1: "repo@digest" of schema 1 manifests; oldReferrers counts
	// referrers of imported artifacts left out for a Harbor before 2.8.
	schema1      []string
	oldReferrers int
	warnings     []string
	problems     []Problem // what stops the import
	projects     map[string]bool
	totalSize    int64
}

// planLink is a link file to place (8 bytes: a 50,000-tag plan has
// ~180,000); its path is computed when it is staged (planLink.rel).
type planLink struct {
	blob uint32 // id in plan.blobs
	// repoKind is the index of its repository in plan.linkRepos, shifted
	// past the 4 bits of its regpath.Kind.
	repoKind uint32
}

// maxLinkRepos bounds the repositories a plan can place links in (planLink).
const maxLinkRepos = 1 << 28

func (l planLink) kind() regpath.Kind { return regpath.Kind(l.repoKind & 15) }
func (l planLink) repo() int          { return int(l.repoKind >> 4) }

// rel is the link's path relative to the v2 root, and its target.
func (p *plan) rel(l planLink) (string, digest.Digest, error) {
	d := p.blobs.digest(l.blob)
	rel, err := regpath.For(regpath.Spec{Kind: l.kind(), Repo: p.linkRepos[l.repo()], Digest: d})
	return rel, d, err
}

// linkKey identifies a link within one repository.
type linkKey struct {
	kind regpath.Kind
	blob uint32
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

// head returns the first bytes (up to sniffLen) of blob d for content
// sniffing, ok false when neither the source nor Harbor holds it.
func (br blobReader) head(ctx context.Context, d digest.Digest) ([]byte, bool, error) {
	_, ok, inHarbor, err := br.size(d)
	if err != nil || !ok {
		return nil, false, err
	}
	if h, isHead := br.src.(headReader); isHead && !inHarbor {
		if b, found, err := h.head(d); err != nil || found {
			return b, found, err
		}
	}
	b, err := br.read(ctx, d)
	if err != nil {
		return nil, false, err
	}
	return b[:min(len(b), sniffLen)], true, nil
}

var errNoSuchBlob = errors.New("no such blob")

// planner builds a plan from an inventory.
type planner struct {
	opts   *Options
	flavor flavor
	br     blobReader
	p      *plan
	// nodes holds the artifacts planned, by target repository and digest.
	// Only the repository being planned needs them: the others' are
	// dropped, except for a target that several source repositories feed
	// ("app" and "library/app"; sharedTargets).
	nodes         map[string]map[digest.Digest]*artNode
	sharedTargets map[string]bool
	// nodeKeys are the digests added to nodes[repo] in order (for rollbackTo).
	nodeKeys []digest.Digest
	// accessories holds the accessory rows' keys planned, accessoryKeys in order.
	accessories   map[string]bool
	accessoryKeys []string
	// failed holds "repo@digest" of manifests that could not be planned.
	failed map[string]bool
	// repoLinks holds the links planned for the repository being planned.
	repoLinks map[linkKey]bool
	// projectBlobs holds, per project, the ids of the blobs it has a
	// project_blob row for.
	projectBlobs map[string]*idSet
	// strs holds one copy of each media type and artifact type: every
	// manifest decoded repeats them (intern).
	strs map[string]string
	// linksPlanned, when set, is handed each repository's links once the
	// repository is planned for good (nothing rolls them back after that).
	linksPlanned func(first int, links []planLink) error
}

// intern returns the planner's copy of s.
func (pl *planner) intern(s string) string {
	if c, ok := pl.strs[s]; ok {
		return c
	}
	if pl.strs == nil {
		pl.strs = map[string]string{}
	}
	pl.strs[s] = s
	return s
}

// artNode is one artifact being planned.
type artNode struct {
	digest digest.Digest
	size   int64
	// manifestLen is the manifest's length; cosign whether it holds a
	// cosign simple-signing layer.
	manifestLen int64
	cosign      bool
}

// refError is a problem found while resolving one reference.
type refError struct {
	kind string
	err  error
}

func (e *refError) Error() string { return e.err.Error() }
func (e *refError) Unwrap() error { return e.err }

// newPlan returns an empty plan whose rows spool to files in dir (the
// system's temporary directory when ""); close releases them.
func newPlan(dir string) (*plan, error) {
	rows, err := harbordb.NewSpool(dir)
	if err != nil {
		return nil, err
	}
	return &plan{batch: rows, projects: map[string]bool{}}, nil
}

// close removes the spooled rows and drops the blob table and the links,
// which only planning and placing need; calling it again does nothing.
func (p *plan) close() {
	p.batch.Close()
	p.blobs, p.links, p.linkRepos = blobTable{}, nil, nil
}

// build plans the import of every selected repository of inv.
func (pl *planner) build(ctx context.Context, inv *inventory) error {
	sel := selector{include: pl.opts.Include, exclude: pl.opts.Exclude}
	if err := sel.validate(); err != nil {
		return err
	}
	p := pl.p
	pl.nodes, pl.sharedTargets = map[string]map[digest.Digest]*artNode{}, map[string]bool{}
	seenTarget := map[string]bool{}
	for src := range inv.repos {
		target, _ := targetName(src, pl.opts.defaultProject())
		pl.sharedTargets[target] = seenTarget[target]
		seenTarget[target] = true
	}
	for target, shared := range pl.sharedTargets {
		if !shared {
			delete(pl.sharedTargets, target)
		}
	}
	repos := inv.sortedRepos()
	for i, src := range repos {
		if err := ctx.Err(); err != nil {
			return err
		}
		pl.opts.progress("plan", int64(i), int64(len(repos)), "repositories")
		for target := range pl.nodes {
			if !pl.sharedTargets[target] {
				delete(pl.nodes, target)
			}
		}
		pl.nodeKeys = pl.nodeKeys[:0]
		firstLink := len(p.links)
		links := inv.take(src) // dropped once planned: the inventory shrinks as the plan grows
		if r, ok := pl.br.src.(interface{ startRepo(tags int) }); ok {
			r.startRepo(len(links.tags))
		}
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
		pl.repoLinks = map[linkKey]bool{}
		reached := map[digest.Digest]bool{}
		for _, tl := range links.tags {
			tag, d := tl.name, tl.target()
			if err := checkTagName(tag); err != nil {
				pl.problem(Problem{Kind: "invalid-name", Repository: src, Tag: tag, Message: err.Error()})
				continue
			}
			node, n, ok := pl.resolveRef(ctx, src, target, project, tag, d, reached)
			if !ok {
				continue
			}
			sum.Artifacts += n
			sum.Tags++
			p.batch.Tags = append(p.batch.Tags, harbordb.Tag{Repository: target, Name: tag, Digest: d.String()})
			// A push of tag sha256-<hex>.sig holding a cosign simple-signing
			// layer is a signature of sha256:<hex> (2.5+, cosign.go:101-183).
			if subject, ok := cosignSubject(tag); ok && node.cosign && pl.flavor.version >= 80 {
				pl.addAccessory(target, node, subject, accCosign, "")
			}
		}
		revisions := links.revisionDigests()
		sum.Artifacts += pl.referrers(ctx, src, target, project, revisions, reached)
		for _, d := range revisions {
			if reached[d] || pl.failed[target+"@"+d.String()] {
				continue // imported, or reported as a problem (or skipped) already
			}
			if !pl.opts.IncludeUntagged {
				p.untagged = append(p.untagged, src+"@"+d.String())
				continue
			}
			if _, n, ok := pl.resolveRef(ctx, src, target, project, "", d, reached); ok {
				sum.Artifacts += n
				p.untaggedImported = append(p.untaggedImported, target+"@"+d.String())
			}
		}
		if sum.Tags == 0 && sum.Artifacts == 0 {
			p.batch.Discard() // nothing of it was kept (resolveRef rolls back)
			continue
		}
		p.repos = append(p.repos, sum)
		p.batch.Repositories = append(p.batch.Repositories, harbordb.Repository{Name: target, Project: project})
		if !p.projects[project] {
			p.projects[project] = true
			p.batch.Projects = append(p.batch.Projects, harbordb.Project{Name: project, Public: pl.opts.Public})
		}
		if err := pl.endRepo(project); err != nil {
			return err
		}
		if pl.linksPlanned != nil {
			if err := pl.linksPlanned(firstLink, p.links[firstLink:]); err != nil {
				return err
			}
		}
		if i == len(repos)/2 {
			failpoint(ctx, "planning")
		}
	}
	pl.opts.progress("plan", int64(len(repos)), int64(len(repos)), "repositories")
	// Blob rows last: a blob's content type is the last manifest's that
	// references it (harbor-facts §2.9).
	for i := range uint32(p.blobs.len()) {
		size := p.blobs.size(i)
		p.batch.Blobs = append(p.batch.Blobs, harbordb.Blob{Digest: p.blobs.digest(i).String(), ContentType: p.blobs.contentType(i), Size: size})
		p.totalSize += size
		if i%4096 == 4095 {
			if err := p.batch.Flush(); err != nil {
				return err
			}
		}
	}
	if err := p.batch.Flush(); err != nil {
		return err
	}
	return pl.warn()
}

// endRepo adds the project_blob rows of the repository just planned, every
// blob of its artifacts that the project has no row for yet (harbor-facts
// §2.11), and spools the repository's rows.
func (pl *planner) endRepo(project string) error {
	p := pl.p
	seen := pl.projectBlobs[project]
	if seen == nil {
		if pl.projectBlobs == nil {
			pl.projectBlobs = map[string]*idSet{}
		}
		seen = &idSet{}
		pl.projectBlobs[project] = seen
	}
	// Artifact blob rows follow their artifacts' order: the same first
	// uses as walking the artifacts.
	for _, ab := range p.batch.ArtifactBlobs {
		id, ok := p.blobs.find(digest.Digest(ab.BlobDigest))
		if !ok {
			continue // every digest an artifact_blob row names is a blob of the plan
		}
		if seen.add(id) {
			p.batch.ProjectBlobs = append(p.batch.ProjectBlobs, harbordb.ProjectBlob{Project: project, BlobDigest: ab.BlobDigest})
		}
	}
	return p.batch.Flush()
}

// problem records a reference that cannot be imported: skipped with
// --skip-invalid when the name or the content is what Harbor refuses,
// otherwise a reason to write nothing.
func (pl *planner) problem(pr Problem) {
	if pl.opts.SkipInvalid && (pr.Kind == "invalid-name" || pr.Kind == "unsupported") {
		pl.p.skipped = append(pl.p.skipped, pr)
		return
	}
	pl.p.problems = append(pl.p.problems, pr)
}

// resolveRef plans manifest d of source repository src (reached through
// tag, or untagged when tag is ""), undoing everything on failure. It
// returns the node and how many artifacts it added.
func (pl *planner) resolveRef(ctx context.Context, src, target, project, tag string, d digest.Digest, reached map[digest.Digest]bool) (*artNode, int, bool) {
	before := len(pl.p.batch.Artifacts)
	mark := pl.mark(target)
	node, err := pl.resolve(ctx, target, project, d, reached)
	if err != nil {
		pl.rollbackTo(mark)
		if pl.failed == nil {
			pl.failed = map[string]bool{}
		}
		pl.failed[target+"@"+d.String()] = true
		var re *refError
		kind := "bad-manifest"
		if errors.As(err, &re) {
			kind = re.kind
		}
		pl.problem(Problem{Kind: kind, Repository: src, Tag: tag, Digest: d.String(), Message: err.Error()})
		return nil, 0, false
	}
	return node, len(pl.p.batch.Artifacts) - before, true
}

// referrers plans the OCI referrers of the repository's planned artifacts:
// untagged revisions whose subject is one (repeatedly, so a signature of
// an SBOM follows its SBOM). Such content sits untagged in a registry
// without the referrers API; a push to Harbor 2.8+ (schema 110+) makes
// each an accessory, which Harbor's GC keeps (harbor-facts §2.13, §6).
// Older Harbors had no subject support: a referrer pushed there is a plain
// untagged artifact that GC deletes, so it stays untagged here too (and
// --include-untagged imports it as such). It returns the artifacts added.
func (pl *planner) referrers(ctx context.Context, src, target, project string, revisions []digest.Digest, reached map[digest.Digest]bool) int {
	subjects := map[digest.Digest]digest.Digest{}
	for _, d := range revisions {
		if reached[d] {
			continue
		}
		m, _, err := pl.readManifest(ctx, d)
		if err != nil || m.Subject == nil {
			continue // reported as untagged (or imported with --include-untagged, where errors show)
		}
		subjects[d] = m.Subject.Digest
	}
	added := 0
	for progress := true; progress; {
		progress = false
		for _, d := range slices.Sorted(maps.Keys(subjects)) {
			if reached[d] || pl.nodes[target][subjects[d]] == nil {
				continue
			}
			if pl.flavor.version < 110 {
				if !pl.opts.IncludeUntagged {
					pl.p.oldReferrers++
				}
				delete(subjects, d)
				continue
			}
			if _, n, ok := pl.resolveRef(ctx, src, target, project, "", d, reached); ok {
				added += n
				progress = true
			}
			delete(subjects, d)
		}
	}
	return added
}

// warn adds the plan's warnings: what cannot be reproduced exactly or
// will not survive Harbor's garbage collection.
func (pl *planner) warn() error {
	p := pl.p
	v := pl.flavor.version
	if n := len(p.schema1); n > 0 {
		msg := fmt.Sprintf("%d Docker schema 1 manifests imported (e.g. %s). ", n, p.schema1[0])
		if v >= 50 {
			msg += "Their artifact.size counts the manifest as Harbor's registry serves it, re-signed on every pull; harbor-import computes that length for the key Harbor's registry generates (no schema1 signing key is configured by Harbor's prepare): with another key the size differs by a few hundred bytes (nothing depends on it)."
		} else {
			msg += "Harbor 2.0–2.1 record size 0 for them, and so does harbor-import."
		}
		if v >= 180 {
			msg += " Harbor 2.15+ refuses to push a schema 1 manifest by tag (DIGEST_INVALID, harbor-facts §7); the tags are written as earlier Harbors wrote them, and pulls by tag work."
		}
		p.warnings = append(p.warnings, msg)
	}
	if p.oldReferrers > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%d OCI referrers (signatures, SBOMs: manifests with a subject) of imported artifacts were not imported: Harbor %s has no referrers support (it came with 2.8), so a push leaves them untagged and its garbage collection deletes them; --include-untagged imports them as plain untagged artifacts", p.oldReferrers, harbordb.ReleasesOf(v)))
	}
	if v == 120 {
		local := false
		err := harbordb.Each(p.batch, func(a harbordb.Accessory) error {
			local = local || a.Source == "local"
			return nil
		})
		if err != nil {
			return err
		}
		if local {
			p.warnings = append(p.warnings, "schema 120 covers Harbor 2.9.0–2.9.5: accessories are written as 2.9.2+ writes them (2.9.0–2.9.1 did not back-fill subject ids of accessories pushed before their subject)")
		}
	}
	if len(p.untaggedImported) == 0 {
		return nil
	}
	safe := map[string]bool{}
	err := harbordb.Each(p.batch, func(t harbordb.Tag) error { safe[t.Repository+"@"+t.Digest] = true; return nil })
	if err == nil {
		err = harbordb.Each(p.batch, func(r harbordb.ArtifactReference) error { safe[r.Repository+"@"+r.ChildDigest] = true; return nil })
	}
	if err == nil && v >= 80 {
		subjects := map[string]bool{}
		err = harbordb.Each(p.batch, func(a harbordb.Artifact) error { subjects[a.Repository+"@"+a.Digest] = true; return nil })
		if err == nil {
			err = harbordb.Each(p.batch, func(a harbordb.Accessory) error {
				// Before 2.8 the row needs its subject (harbor-facts §2.13).
				if v >= 110 || subjects[a.Repository+"@"+a.SubjectDigest] {
					safe[a.Repository+"@"+a.Digest] = true
				}
				return nil
			})
		}
	}
	if err != nil {
		return err
	}
	var exposed []string
	for _, u := range p.untaggedImported {
		if !safe[u] {
			exposed = append(exposed, u)
		}
	}
	msg := fmt.Sprintf("--include-untagged: %d untagged manifests imported", len(p.untaggedImported))
	if len(exposed) > 0 {
		msg += fmt.Sprintf("; %d of them are neither index children nor accessories, so Harbor's garbage collection with \"delete untagged\" deletes them (harbor-facts §6), e.g. %s", len(exposed), exposed[0])
	}
	p.warnings = append(p.warnings, msg)
	return nil
}

// planMark remembers plan lengths so a failed reference leaves no rows.
// Everything a reference adds is appended, so a mark is a set of lengths
// (constant time, whatever the plan's size).
type planMark struct {
	repo                                                              string
	arts, refs, abs, links, blobOrder, nodeKeys, accessories, schema1 int
}

func (pl *planner) mark(repo string) planMark {
	p := pl.p
	return planMark{repo, len(p.batch.Artifacts), len(p.batch.References), len(p.batch.ArtifactBlobs), len(p.links), p.blobs.len(),
		len(pl.nodeKeys), len(pl.accessoryKeys), len(p.schema1)}
}

func (pl *planner) rollbackTo(m planMark) {
	p := pl.p
	p.batch.Artifacts = p.batch.Artifacts[:m.arts]
	p.batch.References = p.batch.References[:m.refs]
	p.batch.ArtifactBlobs = p.batch.ArtifactBlobs[:m.abs]
	for _, l := range p.links[m.links:] {
		delete(pl.repoLinks, linkKey{l.kind(), l.blob})
	}
	p.links = p.links[:m.links]
	p.blobs.truncate(m.blobOrder)
	for _, k := range pl.nodeKeys[m.nodeKeys:] {
		delete(pl.nodes[m.repo], k)
	}
	pl.nodeKeys = pl.nodeKeys[:m.nodeKeys]
	for _, k := range pl.accessoryKeys[m.accessories:] {
		delete(pl.accessories, k)
	}
	pl.accessoryKeys = pl.accessoryKeys[:m.accessories]
	p.batch.Accessories = p.batch.Accessories[:m.accessories]
	p.schema1 = p.schema1[:m.schema1]
}

// addBlob plans blob d.
func (pl *planner) addBlob(d digest.Digest, size int64, contentType string, file, fromHarbor bool) {
	id, _ := pl.p.blobs.add(d, size)
	// content_type follows the most recent manifest referencing the blob (harbor-facts §2.9).
	pl.p.blobs.setType(id, contentType)
	pl.p.blobs.at(id).mark(file, fromHarbor)
}

// size is blobReader.size, answered by the plan for a blob with data it
// holds already (shared layers are looked up once).
func (pl *planner) size(d digest.Digest) (size int64, ok, inHarbor bool, err error) {
	if id, b := pl.p.blobs.get(d); b != nil && b.file() {
		return pl.p.blobs.size(id), true, b.fromHarbor(), nil
	}
	return pl.br.size(d)
}

// addLink plans the link of kind to blob d (planned already) in repo,
// once per repository.
func (pl *planner) addLink(kind regpath.Kind, repo string, d digest.Digest) error {
	id, ok := pl.p.blobs.find(d)
	if !ok {
		return fmt.Errorf("internal error: link to %s, which is no blob of the plan", d)
	}
	k := linkKey{kind, id}
	if pl.repoLinks[k] {
		return nil
	}
	p := pl.p
	if n := len(p.linkRepos); n == 0 || p.linkRepos[n-1] != repo {
		if n == maxLinkRepos {
			return fmt.Errorf("more than %d repositories to place links in", maxLinkRepos)
		}
		p.linkRepos = append(p.linkRepos, repo)
	}
	l := planLink{blob: id, repoKind: uint32(len(p.linkRepos)-1)<<4 | uint32(kind)}
	if _, _, err := p.rel(l); err != nil {
		return err
	}
	if pl.repoLinks == nil {
		pl.repoLinks = map[linkKey]bool{}
	}
	pl.repoLinks[k] = true
	p.links = append(p.links, l)
	return nil
}

// resolve plans the artifact d in repository repo (and, for an index, its
// children first, as a push creates them) and returns it. A manifest with a
// subject also gets the accessory row Harbor's subject middleware writes
// (2.8+, harbor-facts §2.13).
func (pl *planner) resolve(ctx context.Context, repo, project string, d digest.Digest, reached map[digest.Digest]bool) (*artNode, error) {
	nodes := pl.nodes[repo]
	if n := nodes[d]; n != nil {
		reached[d] = true
		return n, nil
	}
	if nodes == nil {
		nodes = map[digest.Digest]*artNode{}
		pl.nodes[repo] = nodes
	}
	m, inHarbor, err := pl.readManifest(ctx, d)
	if err != nil {
		return nil, err
	}
	raw := m.Raw
	node := &artNode{digest: d, size: int64(len(raw)), manifestLen: int64(len(raw)), cosign: m.hasCosignLayer()}
	in := abstractInput{blobHead: func(b digest.Digest) ([]byte, bool, error) { return pl.br.head(ctx, b) }}
	switch {
	case m.IsIndex:
		for _, c := range m.Manifests {
			child, err := pl.resolve(ctx, repo, project, c.Digest, reached)
			if err != nil {
				return nil, fmt.Errorf("child %s of index %s: %w", c.Digest, d, err)
			}
			node.size += child.size
		}
		in.child = func(c digest.Digest) (*manifest, abstractInput, error) {
			cm, _, err := pl.readManifest(ctx, c)
			if err != nil {
				return nil, abstractInput{}, err
			}
			return cm, pl.configInput(ctx, cm), nil
		}
	case m.IsSchema1:
		// Harbor 2.2+ counts the manifest as the registry serves it (re-signed)
		// plus the sizes of the distinct fsLayers' blob rows; 2.0–2.1 set no
		// size (abstractor.go:107-117; v2.1.0 abstractor.go abstractManifestV1Metadata).
		served, err := schema1ServedSize(raw)
		if err != nil {
			return nil, &refError{"bad-manifest", err}
		}
		node.size = served
		if pl.flavor.version < 50 {
			node.size = 0
		}
		for _, desc := range m.references() {
			size, ok, inH, err := pl.size(desc.Digest)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, &refError{"missing-blob", fmt.Errorf("%w: layer %s of schema 1 manifest %s is not in the source", ErrMissingBlob, desc.Digest, d)}
			}
			pl.addBlob(desc.Digest, size, desc.MediaType, true, inH)
			if err := pl.addLink(regpath.LayerLink, repo, desc.Digest); err != nil {
				return nil, err
			}
			if pl.flavor.version >= 50 {
				node.size += size
			}
		}
		pl.p.schema1 = append(pl.p.schema1, repo+"@"+d.String())
	default:
		for i, desc := range m.references() {
			what := "layer"
			if i == 0 {
				what = "config"
			}
			size, ok, inH, err := pl.size(desc.Digest)
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
		in.config = pl.configInput(ctx, m).config
	}
	row, err := abstract(m, in, pl.flavor)
	if err != nil {
		kind := "bad-manifest"
		switch {
		case errors.Is(err, errPushFails):
			kind = "unsupported"
		case errors.Is(err, ErrDigestMismatch):
			kind = "digest-mismatch"
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
		Repository: repo, Digest: d.String(), Type: pl.intern(row.Type), MediaType: pl.intern(row.MediaType),
		ManifestMediaType: pl.intern(m.MediaType), ArtifactType: pl.intern(row.ArtifactType), Size: node.size,
		ExtraAttrs: row.ExtraAttrs, Annotations: row.Annotations, Icon: row.Icon,
		FillsSubjects: pl.flavor.backfillsSubjects(m),
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
	// Every manifest PUT passes the subject middleware (2.8+): one with a
	// subject becomes its accessory (subject.go:126-176).
	if m.Subject != nil && pl.flavor.version >= 110 {
		pl.addAccessory(repo, node, m.Subject.Digest, pl.flavor.subjectAccessoryType(m), "local")
	}
	nodes[d] = node
	pl.nodeKeys = append(pl.nodeKeys, d)
	reached[d] = true
	return node, nil
}

// readManifest reads and parses manifest d, classifying failures.
func (pl *planner) readManifest(ctx context.Context, d digest.Digest) (m *manifest, inHarbor bool, err error) {
	if err := d.Validate(); err != nil {
		return nil, false, &refError{"bad-manifest", fmt.Errorf("bad digest %q: %w", d, err)}
	}
	_, ok, inHarbor, err := pl.size(d)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, &refError{"missing-blob", fmt.Errorf("%w: manifest %s is not in the source's blobs", ErrMissingBlob, d)}
	}
	raw, err := pl.br.read(ctx, d)
	if err != nil {
		kind := "bad-manifest"
		if errors.Is(err, ErrDigestMismatch) {
			kind = "digest-mismatch"
		}
		return nil, false, &refError{kind, fmt.Errorf("reading manifest %s: %w", d, err)}
	}
	m, err = parseManifest(d, raw)
	if err != nil {
		kind := "bad-manifest"
		if strings.Contains(err.Error(), "does not accept") {
			kind = "unsupported"
		}
		return nil, false, &refError{kind, err}
	}
	return m, inHarbor, nil
}

// configInput reads m's config blob when a processor asks for it: the
// source's (or Harbor's) data, absent when neither holds it.
func (pl *planner) configInput(ctx context.Context, m *manifest) abstractInput {
	return abstractInput{config: func() ([]byte, bool, error) {
		d := m.Config.Digest
		if err := d.Validate(); err != nil {
			return nil, false, nil
		}
		_, ok, _, err := pl.size(d)
		if err != nil || !ok {
			return nil, false, err
		}
		if m.Config.Size == 0 {
			return []byte{}, true, nil // sizes were checked against the data
		}
		if m.Config.Size > maxJSONBlob {
			return nil, false, fmt.Errorf("config %s is larger than %d bytes", d, maxJSONBlob)
		}
		b, err := pl.br.read(ctx, d)
		if err != nil {
			return nil, false, fmt.Errorf("reading config %s of manifest %s: %w", d, m.Digest, err)
		}
		return b, true, nil
	}}
}

// addAccessory records that node (in repo) is an accessory of subject,
// once per (artifact, subject) as the unique key keeps it.
func (pl *planner) addAccessory(repo string, node *artNode, subject digest.Digest, typ, source string) {
	k := repo + "@" + node.digest.String() + ">" + subject.String()
	if pl.accessories == nil {
		pl.accessories = map[string]bool{}
	}
	if pl.accessories[k] {
		return
	}
	pl.accessories[k] = true
	pl.accessoryKeys = append(pl.accessoryKeys, k)
	pl.p.batch.Accessories = append(pl.p.batch.Accessories, harbordb.Accessory{
		Repository: repo, Digest: node.digest.String(), SubjectDigest: subject.String(),
		Type: typ, ManifestSize: node.manifestLen, Source: source,
	})
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
	if id, ok := pl.p.blobs.find(c.Digest); ok && c.MediaType != "" {
		pl.p.blobs.setType(id, c.MediaType)
	}
	return nil
}
