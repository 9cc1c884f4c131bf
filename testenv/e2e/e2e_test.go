package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/harbor-import/harbor-import/testenv"
)

// fixtureSeed draws the fixture's content; equal seeds give equal digests,
// so re-runs against an attached Harbor find their tags already present.
const fixtureSeed = 20241

// TestImportIntoHarbor is the end-to-end suite (see the package
// documentation). Its subtest is named after the mode that ran.
func TestImportIntoHarbor(t *testing.T) {
	ctx := context.Background()
	if os.Getenv(testenv.HarborModeEnv) != testenv.ModeAttach {
		if err := testenv.DockerAvailable(ctx); err != nil {
			t.Skipf("e2e skipped: Docker is not available (%v); the standin and goharbor modes need it", err)
		}
	}
	mode, reason, err := testenv.SelectHarborMode(ctx)
	switch {
	case errors.Is(err, testenv.ErrHarborImagesMissing):
		t.Skipf("e2e skipped: %s, but %v", reason, err)
	case err != nil:
		t.Fatalf("e2e: choosing the Harbor mode (%s): %v", reason, err)
	}
	t.Logf("e2e: mode %s (%s)", mode, reason)
	t.Run(mode, func(t *testing.T) { runSuite(t, mode) })
}

// imported is one tag of the fixture as it must appear in Harbor.
type imported struct {
	testenv.FixtureImage
	target string // repository in Harbor, e.g. library/alpine
}

func runSuite(t *testing.T, mode string) {
	ctx := context.Background()
	start := time.Now()
	waitBinary := buildBinary(t)

	// 1. A registry storage made by real pushes, packed as a user would.
	storage, fx, refs := makeSource(t)
	tarball := filepath.Join(t.TempDir(), "docker.tar")
	if err := testenv.TarStorage(ctx, storage, tarball); err != nil {
		t.Fatal(err)
	}
	t.Logf("e2e: source ready after %s: %d tags and %d referrers", since(start), len(fx.Images), len(refs))

	// 2. The Harbor.
	h, err := testenv.RunHarbor(ctx, testenv.WithHarborMode(mode), testenv.WithHarborLogf(t.Logf))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("e2e: logs of every container (%s mode):\n%s", h.Mode, h.Logs(context.Background()))
		}
		if err := h.Terminate(context.Background()); err != nil {
			t.Errorf("terminating harbor: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("starting harbor (%s mode): %v", mode, err)
	}
	t.Logf("e2e: %s harbor ready after %s: registry %s, data %s", h.Mode, since(start), h.RegistryHost, h.DataDir)

	// 3. The import, with the binary, as a user runs it.
	bin, err := waitBinary()
	if err != nil {
		t.Fatalf("building harbor-import: %v", err)
	}
	rep := runImport(t, bin, tarball, h)
	t.Logf("e2e: imported after %s: %d artifacts, %d tags, rows %v", since(start), rep.Artifacts, rep.Tags, rep.Rows)

	conn := connect(t, h.DSN)
	var images []imported
	for _, im := range fx.Images {
		images = append(images, imported{FixtureImage: im, target: targetRepo(im.Repo)})
	}
	var accessories []testenv.Referrer // referrers imported as accessories of their subject
	for _, ref := range refs {
		accessory, extra := checkReferrer(t, conn, rep, ref)
		if accessory {
			accessories = append(accessories, ref)
		}
		images = append(images, extra...)
	}
	checkTagRows(t, conn, images, fx)

	// 4. Verify like a user.
	switch h.Mode {
	case testenv.ModeStandin:
		verifyStandin(t, h, conn, images, bin, tarball)
	default:
		verifyHarbor(t, h, conn, images, refs, accessories)
	}
	t.Logf("e2e: %s mode done in %s", h.Mode, since(start))
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// buildBinary starts building the harbor-import command in the
// background, as a user builds it; the returned function waits for it.
func buildBinary(t *testing.T) func() (string, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "harbor-import-e2e-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "harbor-import")
	done := make(chan struct{})
	var buildErr error
	go func() {
		defer close(done)
		if b, err := exec.Command("go", "build", "-o", out, "github.com/harbor-import/harbor-import").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%w: %s", err, b)
		}
	}()
	t.Cleanup(func() {
		<-done
		os.RemoveAll(dir)
	})
	return func() (string, error) {
		<-done
		return out, buildErr
	}
}

// makeSource pushes testenv.PushClassic into an in-process registry, plus
// two OCI 1.1 referrers (SPDX SBOMs, pushed by digest): one whose subject
// is busybox:latest, pushed as OCI 1.1 clients push to a registry without
// the referrers API (with the "sha256-<subject>" fallback tag), and one
// whose subject is team/app/api:v1, pushed by digest alone. It returns the
// registry's root directory.
func makeSource(t *testing.T) (string, *testenv.Fixture, []testenv.Referrer) {
	t.Helper()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "registry")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	reg, err := testenv.StartRegistry(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	fx, err := testenv.PushClassic(ctx, reg.Host(), fixtureSeed)
	if err != nil {
		t.Fatal(err)
	}
	var refs []testenv.Referrer
	for _, r := range []struct {
		repo, tag string
		opts      testenv.ReferrerOptions
	}{
		{"busybox", "latest", testenv.ReferrerOptions{FallbackTag: true}},
		{"team/app/api", "v1", testenv.ReferrerOptions{}},
	} {
		subject, ok := fx.Image(r.repo, r.tag)
		if !ok {
			t.Fatalf("fixture has no %s:%s", r.repo, r.tag)
		}
		ref, err := testenv.PushReferrer(ctx, reg.Host(), r.repo, subject.Digest, r.opts)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	return root, fx, refs
}

// report is the part of harbor-import's JSON report the suite reads.
type report struct {
	Artifacts       int              `json:"artifacts"`
	Tags            int              `json:"tags"`
	UntaggedSkipped []string         `json:"untagged_skipped"`
	Skipped         []problem        `json:"skipped"`
	Problems        []problem        `json:"problems"`
	Rows            map[string]int64 `json:"rows"`
}

type problem struct {
	Kind       string `json:"kind"`
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Message    string `json:"message"`
}

func (r report) rowsWritten() int64 {
	var n int64
	for _, v := range r.Rows {
		n += v
	}
	return n
}

// runImport runs harbor-import --src tarball --harbor-data DataDir --db DSN
// -o json and returns its report; it fails t on a non-zero exit.
func runImport(t *testing.T, bin, tarball string, h *testenv.Harbor) report {
	t.Helper()
	cmd := exec.Command(bin, "--src", tarball, "--harbor-data", h.DataDir, "--db", h.DSN, "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("e2e: harbor-import --src %s --harbor-data %s --db %s -o json: %v in %s; stderr:\n%s",
		filepath.Base(tarball), h.DataDir, redact(h.DSN), exitStatus(err), since(start), stderr.String())
	if err != nil {
		t.Fatalf("harbor-import failed: %v\nstdout:\n%s", err, stdout.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("parsing the JSON report: %v\n%s", err, stdout.String())
	}
	if len(rep.Problems) > 0 {
		t.Errorf("report lists problems: %+v", rep.Problems)
	}
	return rep
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(dsn)"
}

// targetRepo is the repository a source name lands in: single-component
// names go to the default project, library.
func targetRepo(src string) string {
	if !strings.Contains(src, "/") {
		return "library/" + src
	}
	return src
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to harbor's database: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// tagDigest resolves repo:tag to its artifact digest in SQL, as Harbor's
// core does (tag → artifact).
func tagDigest(ctx context.Context, conn *pgx.Conn, repo, tag string) (string, error) {
	var d string
	err := conn.QueryRow(ctx, `SELECT a.digest FROM tag t JOIN repository r ON r.repository_id = t.repository_id
		JOIN artifact a ON a.id = t.artifact_id WHERE r.name = $1 AND t.name = $2`, repo, tag).Scan(&d)
	return d, err
}

// checkTagRows: every fixture tag is a tag row on its digest; index
// children are artifacts with artifact_reference rows; untagged manifests
// were not imported.
func checkTagRows(t *testing.T, conn *pgx.Conn, images []imported, fx *testenv.Fixture) {
	t.Helper()
	ctx := context.Background()
	for _, im := range images {
		d, err := tagDigest(ctx, conn, im.target, im.Tag)
		if err != nil {
			t.Errorf("tag %s:%s: %v", im.target, im.Tag, err)
			continue
		}
		if d != im.Digest {
			t.Errorf("tag %s:%s is on %s, want %s", im.target, im.Tag, d, im.Digest)
		}
		for _, c := range im.Children {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact_reference ar JOIN artifact p ON p.id = ar.parent_id
				JOIN artifact c ON c.id = ar.child_id WHERE p.repository_name = $1 AND p.digest = $2 AND c.digest = $3`,
				im.target, im.Digest, c).Scan(&n); err != nil || n != 1 {
				t.Errorf("index %s@%s: child %s has %d artifact_reference rows (%v), want 1", im.target, im.Digest, c, n, err)
			}
		}
	}
	for _, u := range fx.Untagged {
		repo, d, _ := strings.Cut(u, "@")
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact WHERE repository_name = $1 AND digest = $2`, targetRepo(repo), d).Scan(&n); err != nil || n != 0 {
			t.Errorf("untagged manifest %s was imported (%d rows, %v)", u, n, err)
		}
	}
}

// checkReferrer checks what became of a referrer and says whether it was
// imported as an accessory of its subject. README: harbor-import does not
// import OCI referrers as accessories yet; untagged ones are skipped like
// any untagged manifest, and tagged ones are ordinary artifacts. So, while
// that holds:
//
//   - a referrer pushed by digest alone must be reported as skipped and be
//     absent from the database;
//   - a referrer listed by a referrers fallback tag is an ordinary artifact:
//     the child of the tagged fallback index, which extra returns so that it
//     is checked and pulled like the other tags. It has no accessory row, so
//     Harbor's referrers API does not list it (a push through Harbor would
//     have made it an accessory).
//
// Once referrers are imported as accessories, the accessory row is accepted
// instead.
func checkReferrer(t *testing.T, conn *pgx.Conn, rep report, ref testenv.Referrer) (accessory bool, extra []imported) {
	t.Helper()
	ctx := context.Background()
	target := targetRepo(ref.Repo)
	var artifacts, accessories int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact WHERE repository_name = $1 AND digest = $2`, target, ref.Digest).Scan(&artifacts); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact_accessory x JOIN artifact a ON a.id = x.artifact_id
		JOIN artifact s ON s.id = x.subject_artifact_id WHERE a.repository_name = $1 AND a.digest = $2 AND s.digest = $3`,
		target, ref.Digest, ref.Subject).Scan(&accessories); err != nil {
		t.Fatal(err)
	}
	var fallback []imported
	if ref.FallbackTag != "" {
		if d, err := tagDigest(ctx, conn, target, ref.FallbackTag); err == nil && d == ref.FallbackDigest {
			fallback = append(fallback, imported{target: target, FixtureImage: testenv.FixtureImage{
				Repo: ref.Repo, Tag: ref.FallbackTag, Digest: ref.FallbackDigest,
				MediaType: "application/vnd.oci.image.index.v1+json", Children: []string{ref.Digest},
			}})
		}
	}
	what := fmt.Sprintf("referrer %s@%s (%s, subject %s)", ref.Repo, ref.Digest, ref.ArtifactType, ref.Subject)
	switch {
	case accessories == 1:
		t.Logf("e2e: %s imported as an accessory of its subject", what)
		return true, fallback
	case ref.FallbackTag != "":
		if len(fallback) == 0 {
			t.Errorf("%s: its fallback tag %s (%s) was not imported, nor the referrer as an accessory", what, ref.FallbackTag, ref.FallbackDigest)
			return false, nil
		}
		t.Logf("e2e: %s imported as an ordinary artifact, the child of fallback tag %s; not an accessory, so Harbor's referrers API will not list it", what, ref.FallbackTag)
		return false, fallback
	default:
		skipped := slices.Contains(rep.UntaggedSkipped, ref.Repo+"@"+ref.Digest) ||
			slices.ContainsFunc(rep.Skipped, func(p problem) bool { return p.Digest == ref.Digest })
		if !skipped || artifacts != 0 {
			t.Errorf("%s: reported as skipped %v with %d artifact rows; want it skipped and absent (or an accessory)", what, skipped, artifacts)
			return false, nil
		}
		t.Logf("e2e: %s reported as skipped (untagged), as expected while referrers are not imported", what)
		return false, nil
	}
}

// artifactDigests lists every artifact (repository, digest) of the imported
// repositories, index children included.
func artifactDigests(t *testing.T, conn *pgx.Conn, images []imported) [][2]string {
	t.Helper()
	var repos []string
	for _, im := range images {
		if !slices.Contains(repos, im.target) {
			repos = append(repos, im.target)
		}
	}
	rows, err := conn.Query(context.Background(), `SELECT repository_name, digest FROM artifact WHERE repository_name = ANY($1) ORDER BY 1, 2`, repos)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
		var a [2]string
		err := r.Scan(&a[0], &a[1])
		return a, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkInvariants returns the rows that break what Harbor's GC and quota
// rely on (harbor-facts §6, §2.5).
func checkInvariants(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	bad, err := testenv.HarborInvariants(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// verifyStandin pulls everything from the containerised registry, pushes
// into an imported repository as the registry's user, checks the rows GC
// relies on and that a second import changes nothing.
func verifyStandin(t *testing.T, h *testenv.Harbor, conn *pgx.Conn, images []imported, bin, tarball string) {
	ctx := context.Background()
	start := time.Now()
	// Every tag, resolved in SQL as Harbor does, then pulled by digest.
	for _, im := range images {
		d, err := tagDigest(ctx, conn, im.target, im.Tag)
		if err != nil {
			t.Errorf("resolving %s:%s: %v", im.target, im.Tag, err)
			continue
		}
		if err := h.PullAndVerify(ctx, im.target, d, im.Digest); err != nil {
			t.Errorf("pulling tag %s:%s (%s): %v", im.target, im.Tag, d, err)
		}
	}
	// Every artifact row by digest, index children included.
	arts := artifactDigests(t, conn, images)
	for _, a := range arts {
		if err := h.PullAndVerify(ctx, a[0], a[1], a[1]); err != nil {
			t.Errorf("pulling %s@%s: %v", a[0], a[1], err)
		}
	}
	t.Logf("e2e: pulled %d tags and %d artifacts from the registry container in %s", len(images), len(arts), since(start))
	// Harbor's registry keeps blob descriptors in Redis; so does the stand-in's.
	if logs := h.Logs(ctx); !strings.Contains(logs, "using redis blob descriptor cache") {
		t.Errorf("the registry container does not say it uses the Redis blob descriptor cache")
	}

	for _, v := range checkInvariants(t, conn) {
		t.Error(v)
	}
	checkOwner(t, filepath.Join(h.DataDir, "registry", "docker"))

	// The registry (uid 10000) writes into directories harbor-import made.
	pushed, err := h.PushImage(ctx, "team/app/api", "e2e-pushed", fixtureSeed)
	if err != nil {
		t.Fatalf("pushing into an imported repository of the registry container: %v", err)
	}
	if err := h.PullAndVerify(ctx, pushed.Repo, pushed.Digest, pushed.Digest); err != nil {
		t.Errorf("pulling the pushed image: %v", err)
	}
	hex := strings.TrimPrefix(pushed.Digest, "sha256:")
	link := filepath.Join(h.DataDir, "registry", "docker", "registry", "v2", "repositories", "team", "app", "api", "_manifests", "revisions", "sha256", hex, "link")
	if uid, gid, err := owner(link); err != nil || uid != 10000 || gid != 10000 {
		t.Errorf("revision link of the pushed image: owner %d:%d (%v), want 10000:10000 (the registry's user)", uid, gid, err)
	}
	checkOwner(t, filepath.Join(h.DataDir, "registry", "docker"))

	// A second import finds everything in place.
	rep := runImport(t, bin, tarball, h)
	if n := rep.rowsWritten(); n != 0 {
		t.Errorf("second import wrote %d rows: %v", n, rep.Rows)
	}
}

func owner(path string) (uid, gid uint32, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, 0, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, nil
}

// checkOwner: everything under root belongs to Harbor's registry user.
func checkOwner(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		uid, gid, err := owner(p)
		if err != nil {
			return err
		}
		if uid != 10000 || gid != 10000 {
			t.Errorf("%s is owned by %d:%d, want 10000:10000", p, uid, gid)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("only %d paths under %s", n, root)
	}
}

// verifyHarbor checks a real Harbor through its API and /v2/, runs GC,
// pushes and deletes through it, and pulls again after each step.
func verifyHarbor(t *testing.T, h *testenv.Harbor, conn *pgx.Conn, images []imported, refs, accessories []testenv.Referrer) {
	ctx := context.Background()
	api := harborAPI{t: t, h: h}

	if bad := checkInvariants(t, conn); len(bad) > 0 {
		for _, v := range bad {
			if h.Mode == testenv.ModeAttach {
				t.Logf("e2e: attach: %s (may predate this test)", v)
			} else {
				t.Error(v)
			}
		}
	}

	projects := map[string]bool{}
	for _, im := range images {
		project, rest, _ := strings.Cut(im.target, "/")
		projects[project] = true
		var repo struct {
			Name string `json:"name"`
		}
		api.do(http.MethodGet, "/api/v2.0/projects/"+project+"/repositories/"+repoPath(rest), nil, &repo, http.StatusOK)
		if repo.Name != im.target {
			t.Errorf("repository API: got name %q, want %q", repo.Name, im.target)
		}
		var art artifactJSON
		api.do(http.MethodGet, "/api/v2.0/projects/"+project+"/repositories/"+repoPath(rest)+"/artifacts/"+im.Tag+"?with_tag=true", nil, &art, http.StatusOK)
		if art.Digest != im.Digest || art.ManifestMediaType != im.MediaType {
			t.Errorf("artifact %s:%s: got %s (%s), want %s (%s)", im.target, im.Tag, art.Digest, art.ManifestMediaType, im.Digest, im.MediaType)
		}
		if !slices.ContainsFunc(art.Tags, func(tg tagJSON) bool { return tg.Name == im.Tag }) {
			t.Errorf("artifact %s@%s: tags %v lack %s", im.target, im.Digest, art.Tags, im.Tag)
		}
		var children []string
		for _, r := range art.References {
			children = append(children, r.ChildDigest)
		}
		if !slices.Equal(sorted(children), sorted(im.Children)) {
			t.Errorf("artifact %s@%s: references %v, want %v", im.target, im.Digest, children, im.Children)
		}
	}
	for project := range projects {
		var p struct {
			Name string `json:"name"`
		}
		api.do(http.MethodGet, "/api/v2.0/projects/"+project, nil, &p, http.StatusOK)
		var sum struct {
			RepoCount int64 `json:"repo_count"`
			Quota     struct {
				Used map[string]int64 `json:"used"`
			} `json:"quota"`
		}
		api.do(http.MethodGet, "/api/v2.0/projects/"+project+"/summary", nil, &sum, http.StatusOK)
		var dbUsed int64
		if err := conn.QueryRow(ctx, `SELECT (u.used->>'storage')::bigint FROM quota q JOIN quota_usage u ON u.id = q.id
			JOIN project p ON q.reference = 'project' AND q.reference_id = p.project_id::text WHERE p.name = $1`, project).Scan(&dbUsed); err != nil {
			t.Errorf("quota of %s in the database: %v", project, err)
		}
		if sum.Quota.Used["storage"] != dbUsed || dbUsed <= 0 {
			t.Errorf("project %s summary: quota used %d, database %d (want equal and > 0)", project, sum.Quota.Used["storage"], dbUsed)
		}
	}
	// Referrers of each SBOM's subject, through Harbor's /v2/ referrers API,
	// which lists accessories.
	for _, ref := range refs {
		var idx struct {
			Manifests []descriptorJSON `json:"manifests"`
		}
		api.do(http.MethodGet, "/v2/"+targetRepo(ref.Repo)+"/referrers/"+ref.Subject, nil, &idx, http.StatusOK)
		listed := slices.ContainsFunc(idx.Manifests, func(m descriptorJSON) bool { return m.Digest == ref.Digest })
		want := slices.Contains(accessories, ref)
		if listed != want {
			t.Errorf("referrers of %s@%s list the SBOM %s: %v, want %v", ref.Repo, ref.Subject, ref.Digest, listed, want)
		}
	}

	arts := artifactDigests(t, conn, images)
	pullAll := func(step string, skip string) {
		start := time.Now()
		for _, im := range images {
			if im.Digest == skip {
				continue
			}
			if err := h.PullAndVerify(ctx, im.target, im.Tag, im.Digest); err != nil {
				t.Errorf("%s: pulling %s:%s through Harbor: %v", step, im.target, im.Tag, err)
			}
		}
		for _, a := range arts {
			if a[1] == skip {
				continue
			}
			if err := h.PullAndVerify(ctx, a[0], a[1], a[1]); err != nil {
				t.Errorf("%s: pulling %s@%s through Harbor: %v", step, a[0], a[1], err)
			}
		}
		t.Logf("e2e: %s: pulled %d tags and %d digests through Harbor in %s", step, len(images), len(arts), since(start))
	}
	pullAll("after import", "")

	if h.Mode == testenv.ModeAttach && os.Getenv("HARBOR_IMPORT_ATTACH_GC") != "true" {
		t.Logf("e2e: attach: garbage collection not run (it deletes every untagged artifact of that Harbor); set HARBOR_IMPORT_ATTACH_GC=true to run it")
	} else {
		api.runGC()
		pullAll("after garbage collection", "")
	}

	// Push on top through Harbor, delete one imported artifact, pull the rest.
	pushed, err := h.PushImage(ctx, "team/app/api", fmt.Sprintf("e2e-%d", time.Now().Unix()), fixtureSeed)
	if err != nil {
		t.Fatalf("pushing through Harbor: %v", err)
	}
	if err := h.PullAndVerify(ctx, pushed.Repo, pushed.Tag, pushed.Digest); err != nil {
		t.Errorf("pulling the pushed image: %v", err)
	}
	victim := images[0]
	for _, im := range images {
		if im.target == "team/web" {
			victim = im
		}
	}
	project, rest, _ := strings.Cut(victim.target, "/")
	api.do(http.MethodDelete, "/api/v2.0/projects/"+project+"/repositories/"+repoPath(rest)+"/artifacts/"+victim.Digest, nil, nil, http.StatusOK)
	t.Logf("e2e: deleted %s@%s through the API", victim.target, victim.Digest)
	if err := h.PullAndVerify(ctx, victim.target, victim.Digest, victim.Digest); err == nil {
		t.Errorf("the deleted artifact %s@%s still pulls", victim.target, victim.Digest)
	}
	pullAll("after push and delete", victim.Digest)
	if err := h.PullAndVerify(ctx, pushed.Repo, pushed.Digest, pushed.Digest); err != nil {
		t.Errorf("pulling the pushed image after the delete: %v", err)
	}
}

// artifactJSON is the part of Harbor's artifact API model the suite reads.
type artifactJSON struct {
	Digest            string    `json:"digest"`
	ManifestMediaType string    `json:"manifest_media_type"`
	Tags              []tagJSON `json:"tags"`
	References        []struct {
		ChildDigest string `json:"child_digest"`
	} `json:"references"`
}

type tagJSON struct {
	Name string `json:"name"`
}

// descriptorJSON is an entry of an OCI index.
type descriptorJSON struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType"`
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// repoPath is a repository name without its project, as Harbor's API wants
// it in a path: URL-encoded twice, so "app/api" becomes "app%252Fapi".
func repoPath(rest string) string {
	return url.PathEscape(url.PathEscape(rest))
}

// harborAPI calls Harbor's API as admin.
type harborAPI struct {
	t *testing.T
	h *testenv.Harbor
}

// do sends a JSON request and decodes the answer into out (when non-nil);
// it fails the test unless the status is want. It returns the response
// headers.
func (a harborAPI) do(method, path string, body, out any, want int) http.Header {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, a.h.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.SetBasicAuth("admin", a.h.AdminPassword)
	if strings.HasPrefix(path, "/v2/") {
		req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return resp.Header
}

// runGC runs garbage collection now (delete untagged, no time window) and
// waits until it ends; it fails the test unless it succeeds.
func (a harborAPI) runGC() {
	a.t.Helper()
	start := time.Now()
	body := map[string]any{
		"schedule":   map[string]any{"type": "Manual"},
		"parameters": map[string]any{"delete_untagged": true, "time_window": 0, "workers": 1},
	}
	hdr := a.do(http.MethodPost, "/api/v2.0/system/gc/schedule", body, nil, http.StatusCreated)
	loc := hdr.Get("Location")
	if loc == "" {
		a.t.Fatal("POST /api/v2.0/system/gc/schedule answered no Location")
	}
	if u, err := url.Parse(loc); err == nil {
		loc = u.Path
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var gc struct {
			ID     int64  `json:"id"`
			Status string `json:"job_status"`
		}
		a.do(http.MethodGet, loc, nil, &gc, http.StatusOK)
		switch gc.Status {
		case "Success":
			a.t.Logf("e2e: garbage collection %d succeeded in %s", gc.ID, since(start))
			return
		case "Error", "Stopped":
			a.t.Fatalf("garbage collection %d ended %s; log:\n%s", gc.ID, gc.Status, a.text(loc+"/log"))
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("garbage collection %d still %s after 5 minutes", gc.ID, gc.Status)
		}
		time.Sleep(2 * time.Second)
	}
}

// text GETs path and returns the body, or the error.
func (a harborAPI) text(path string) string {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, a.h.URL+path, nil)
	if err != nil {
		return err.Error()
	}
	req.SetBasicAuth("admin", a.h.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
