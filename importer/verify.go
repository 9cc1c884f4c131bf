package importer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/harbor-import/harbor-import/internal/smallfile"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// VerifyOptions configure Verify. Zero values mean the documented defaults.
type VerifyOptions struct {
	// HarborData is Harbor's data_volume. Required.
	HarborData string
	// DSN of Harbor's PostgreSQL. Required.
	DSN string
	// Projects to check; all when empty.
	Projects []string
	// Repositories to check (full names); all of Projects when empty.
	Repositories []string
	// Deep also hashes every blob's data.
	Deep bool
	// Owner every file must have. Default 10000:10000.
	Owner *fsmove.Owner
	// Logger; nil discards.
	Logger *slog.Logger
	// Progress is called every 100 artifacts.
	Progress func(Progress)
}

// VerifyReport lists what Verify found.
type VerifyReport struct {
	Artifacts int             `json:"artifacts"`
	Blobs     int             `json:"blobs"`
	Problems  []VerifyProblem `json:"problems"`
	Warnings  []VerifyProblem `json:"warnings"`
}

// VerifyProblem is one finding about one artifact.
type VerifyProblem struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Problem    string `json:"problem"`
}

func (p VerifyProblem) String() string { return p.Repository + "@" + p.Digest + ": " + p.Problem }

// ErrVerifyFailed means Verify found problems.
var ErrVerifyFailed = errors.New("verification found problems")

// manifestTypes are the content types of manifest blobs (index children
// are linked as revisions, not layers).
var manifestTypes = map[string]bool{
	"application/vnd.oci.image.manifest.v1+json": true, "application/vnd.oci.image.index.v1+json": true,
	mtDockerManifest: true, mtDockerList: true, mtSchema1Signed: true, mtSchema1: true,
}

// Verify checks Harbor's database against its storage: every artifact's
// manifest, config and layers present with the right size (and digest when
// Deep), every link file present and right, the blob, artifact_blob and
// project_blob rows Harbor's GC needs (harbor-facts §6), and ownership.
func Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	if opts.HarborData == "" || opts.DSN == "" {
		return nil, errors.New("verify needs --harbor-data and --db")
	}
	conn, err := pgx.Connect(ctx, opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("connecting to Harbor's database: %w", redactErr(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return verifyWith(ctx, conn, opts)
}

func verifyWith(ctx context.Context, db harbordb.DBTX, opts VerifyOptions) (*VerifyReport, error) {
	owner := fsmove.DefaultOwner
	if opts.Owner != nil {
		owner = *opts.Owner
	}
	v := &verifier{
		v2:    filepath.Join(opts.HarborData, "registry", "docker", "registry", "v2"),
		owner: owner, deep: opts.Deep, rep: &VerifyReport{},
		fine: map[[32]byte]struct{}{}, bad: map[string]string{}, checking: map[string]chan struct{}{},
		links: map[string]string{},
	}
	// The rows stream in on this goroutine while stageWorkers check the
	// files: each check waits for the disk on a cold cache (and hashes
	// with Deep), and one at a time kept one core and one request busy.
	arts := make(chan harbordb.StoredArtifact, stageWorkers)
	var wg sync.WaitGroup
	for range stageWorkers {
		wg.Go(func() {
			for a := range arts {
				v.artifact(a)
			}
		})
	}
	err := harbordb.StoredArtifacts(ctx, db, opts.Projects, opts.Repositories, func(a harbordb.StoredArtifact) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		arts <- a
		v.rep.Artifacts++
		if opts.Progress != nil && v.rep.Artifacts%100 == 0 {
			opts.Progress(Progress{Phase: "verify", Done: int64(v.rep.Artifacts), Unit: "artifacts"})
		}
		return nil
	})
	close(arts)
	wg.Wait()
	v.rep.Blobs = len(v.fine) + len(v.bad)
	// In the order the rows came (repository, digest, bytewise), whichever
	// worker found what: an artifact's findings are one worker's, in order.
	byRow := func(a, b VerifyProblem) int {
		return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(a.Digest, b.Digest))
	}
	slices.SortStableFunc(v.rep.Problems, byRow)
	slices.SortStableFunc(v.rep.Warnings, byRow)
	if err != nil {
		return v.rep, err
	}
	if opts.Progress != nil {
		n := int64(v.rep.Artifacts)
		opts.Progress(Progress{Phase: "verify", Done: n, Total: n, Unit: "artifacts"})
	}
	if len(v.rep.Problems) > 0 {
		return v.rep, fmt.Errorf("%w: %d problems in %d artifacts", ErrVerifyFailed, len(v.rep.Problems), v.rep.Artifacts)
	}
	return v.rep, nil
}

// verifier checks artifacts on several goroutines; mu guards everything
// below it.
type verifier struct {
	v2    string
	owner fsmove.Owner
	deep  bool

	mu  sync.Mutex
	rep *VerifyReport
	// fine holds the sha256 sums of the blobs whose data checked out, bad
	// the other blobs' findings by digest ("" = fine: a digest that is not
	// a plain sha256). Every blob is checked once however many artifacts
	// share it, in a few dozen bytes each; checking holds the blobs being
	// checked, closed when done, for the artifacts that share one.
	fine     map[[32]byte]struct{}
	bad      map[string]string
	checking map[string]chan struct{}
	// links memoises link file checks by path for the repository checked
	// last (repo): artifacts arrive ordered by repository, and a link path
	// names its repository, so the memo never needs older ones.
	repo  string
	links map[string]string
}

// problems records an artifact's findings together.
func (v *verifier) problems(found []VerifyProblem) {
	if len(found) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rep.Problems = append(v.rep.Problems, found...)
}

func (v *verifier) artifact(a harbordb.StoredArtifact) {
	if !a.Tagged && !a.Child && !a.Accessory {
		v.mu.Lock()
		v.rep.Warnings = append(v.rep.Warnings, VerifyProblem{a.Repository, a.Digest,
			"untagged and neither an index child nor an accessory: garbage collection with \"delete untagged\" removes it"})
		v.mu.Unlock()
	}
	var found []VerifyProblem
	problem := func(format string, args ...any) {
		found = append(found, VerifyProblem{a.Repository, a.Digest, fmt.Sprintf(format, args...)})
	}
	self := false
	for _, b := range a.Blobs {
		if b.Digest == a.Digest {
			self = true
		}
		if !b.HasRow {
			problem("artifact_blob names %s, which has no blob row", b.Digest)
			continue
		}
		if !b.InProject {
			problem("blob %s has no project_blob row for project %s: garbage collection would delete it", b.Digest, a.Project)
		}
		d := digest.Digest(b.Digest)
		foreign := isForeignType(b.ContentType)
		if !foreign {
			if msg := v.blobData(d, b.Size); msg != "" {
				problem("%s", msg)
			}
		}
		var msg string
		switch {
		case b.Digest == a.Digest || manifestTypes[b.ContentType]:
			msg = v.link(a.Repository, regpath.RevisionLink, d)
		case !foreign:
			msg = v.link(a.Repository, regpath.LayerLink, d)
		}
		if msg != "" {
			problem("%s", msg)
		}
	}
	if !self {
		problem("no artifact_blob row (manifest, manifest): garbage collection would delete the manifest")
	}
	v.problems(found)
}

// blobData checks blob d's data once, whichever worker asks first; the
// others wait for that check rather than repeat it.
func (v *verifier) blobData(d digest.Digest, size int64) string {
	sum, plain := sha256Key(d)
	v.mu.Lock()
	for {
		if _, ok := v.fine[sum]; ok && plain {
			v.mu.Unlock()
			return ""
		}
		if msg, ok := v.bad[string(d)]; ok {
			v.mu.Unlock()
			return msg
		}
		ch, busy := v.checking[string(d)]
		if !busy {
			break
		}
		v.mu.Unlock()
		<-ch
		v.mu.Lock()
	}
	ch := make(chan struct{})
	v.checking[string(d)] = ch
	v.mu.Unlock()

	msg := v.checkBlob(d, size)

	v.mu.Lock()
	if msg == "" && plain {
		v.fine[sum] = struct{}{}
	} else {
		v.bad[string(d)] = msg
	}
	delete(v.checking, string(d))
	v.mu.Unlock()
	close(ch)
	return msg
}

func (v *verifier) checkBlob(d digest.Digest, size int64) string {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return err.Error()
	}
	p := filepath.Join(v.v2, filepath.FromSlash(rel))
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Sprintf("blob %s: data missing (%v)", d, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("blob %s: %s is not a regular file", d, p)
	}
	if fi.Size() != size {
		return fmt.Sprintf("blob %s: data has %d bytes, the blob row says %d", d, fi.Size(), size)
	}
	if msg := v.ownership(fi, p); msg != "" {
		return msg
	}
	if v.deep {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Sprintf("blob %s: %v", d, err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Sprintf("blob %s: reading: %v", d, err)
		}
		if got := digest.NewDigest(digest.SHA256, h); got != d {
			return fmt.Sprintf("blob %s: data hashes to %s", d, got)
		}
	}
	return ""
}

// link checks repository repo's link file of kind to d, and returns what
// is wrong with it ("" when nothing is).
func (v *verifier) link(repo string, kind regpath.Kind, d digest.Digest) string {
	rel, err := regpath.For(regpath.Spec{Kind: kind, Repo: repo, Digest: d})
	if err != nil {
		return err.Error()
	}
	v.mu.Lock()
	if repo != v.repo {
		v.repo = repo
		clear(v.links)
	}
	msg, ok := v.links[rel]
	v.mu.Unlock()
	if ok {
		return msg
	}
	p := filepath.Join(v.v2, filepath.FromSlash(rel))
	b, st, err := smallfile.Read(unix.AT_FDCWD, p, maxLinkFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = fmt.Sprintf("%s missing: the registry will not serve %s from %s", kind, d, repo)
	case errors.Is(err, smallfile.ErrNotRegular):
		msg = fmt.Sprintf("%s %s is not a regular file", kind, p)
	case errors.Is(err, smallfile.ErrTooLarge):
		msg = fmt.Sprintf("%s %s holds %d bytes, want %s", kind, p, st.Size, d)
	case err != nil:
		msg = fmt.Sprintf("%s %s: %v", kind, p, errors.Unwrap(err))
	default:
		if got, err := regpath.ParseLink(b); err != nil || got != d {
			msg = fmt.Sprintf("%s %s holds %q, want %s", kind, p, b, d)
		} else {
			msg = v.owned(st.Uid, st.Gid, p)
		}
	}
	v.mu.Lock()
	if repo == v.repo {
		v.links[rel] = msg
	}
	v.mu.Unlock()
	return msg
}

func (v *verifier) ownership(fi os.FileInfo, p string) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return v.owned(st.Uid, st.Gid, p)
}

func (v *verifier) owned(uid, gid uint32, p string) string {
	if int(uid) != v.owner.UID || int(gid) != v.owner.GID {
		return fmt.Sprintf("%s is owned by %d:%d, Harbor's registry runs as %d:%d", p, uid, gid, v.owner.UID, v.owner.GID)
	}
	return ""
}
