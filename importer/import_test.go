package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/jackc/pgx/v5"
)

func classic(t *testing.T) *fixtureSet {
	return sharedFixture(t, "classic", func(ctx context.Context, host string) (*testenv.Fixture, error) {
		return testenv.PushClassic(ctx, host, 42)
	})
}

// targetRepo is where the importer puts a source repository.
func targetRepo(src string) string {
	if strings.Contains(src, "/") {
		return src
	}
	return "library/" + src
}

func TestImportClassic(t *testing.T) {
	fs := classic(t)
	for _, tc := range []struct {
		name string
		src  func(t *testing.T) string
		copy bool // --strategy copy --verify: every blob copied and hashed by the stage workers
	}{
		{"tarball", func(t *testing.T) string { return fs.tarball }, false},
		{"directory", func(t *testing.T) string { return copyTree(t, fs.root) }, false},
		{"directory copied", func(t *testing.T) string { return copyTree(t, fs.root) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := harborDB(t)
			data := harborData(t)
			src := tc.src(t)
			var prog progressLog
			opts := importer.Options{Source: src, HarborData: data, DSN: dsn, Logger: testLogger(t), Progress: prog.record}
			if tc.copy {
				opts.Strategy, opts.Verify = fsmove.Copy, true
			}
			rep, err := importer.Run(ctx, opts)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if tc.copy && (rep.Blobs.Copied == 0 || rep.Blobs.Linked != 0) {
				t.Errorf("--strategy copy: %d blobs copied, %d linked; want all copied", rep.Blobs.Copied, rep.Blobs.Linked)
			}
			prog.check(t, fixtureRepos(fs.fx))
			if rep.Rows == nil || rep.Rows.Artifacts == 0 {
				t.Fatalf("report says no artifacts were written: %+v", rep.Rows)
			}
			if rep.Verify == nil || rep.Verify.Artifacts != int(rep.Rows.Artifacts) || len(rep.Verify.Problems) != 0 {
				t.Errorf("post-import verify: got %+v, want %d artifacts checked and no problem", rep.Verify, rep.Rows.Artifacts)
			}
			conn := connect(t, dsn)
			checkTags(t, conn, fs.fx)
			checkInvariants(t, conn)
			checkStorageOwner(t, data, 10000, 10000)
			checkBlobFilesHaveRows(t, conn, fs.root, data)
			if tc.name == "directory" {
				checkHardlinked(t, src, data)
			}
			pullAll(t, conn, data, fs.fx)

			// A second run changes no row and no file.
			before, beforeTree := dbState(t, conn), treeState(t, filepath.Join(data, "registry", "docker"))
			rep2, err := importer.Run(ctx, importer.Options{Source: src, HarborData: data, DSN: dsn, Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("second import: %v", err)
			}
			if rep2.Rows == nil || rep2.Rows.Total() != 0 {
				t.Errorf("second run wrote rows: %+v", rep2.Rows)
			}
			if rep2.Present != len(fs.fx.Images) || rep2.NewTags != 0 {
				t.Errorf("second run: got %d tags present, %d new; want %d present, 0 new", rep2.Present, rep2.NewTags, len(fs.fx.Images))
			}
			if after := dbState(t, conn); !reflect.DeepEqual(before, after) {
				t.Errorf("second run changed rows:\n%s", diffStates(before, after))
			}
			if afterTree := treeState(t, filepath.Join(data, "registry", "docker")); !reflect.DeepEqual(beforeTree, afterTree) {
				t.Errorf("second run changed files:\n%s", diffLines(beforeTree, afterTree))
			}
		})
	}
}

// checkTags: every fixture tag is a tag row on an artifact with its digest,
// in the mapped repository; index children are untagged artifacts with
// artifact_reference rows; untagged manifests were not imported.
func checkTags(t *testing.T, conn *pgx.Conn, fx *testenv.Fixture) {
	t.Helper()
	ctx := context.Background()
	for _, im := range fx.Images {
		repo := targetRepo(im.Repo)
		var d, mt string
		err := conn.QueryRow(ctx, `SELECT a.digest, a.manifest_media_type FROM tag t JOIN repository r ON r.repository_id = t.repository_id
			JOIN artifact a ON a.id = t.artifact_id WHERE r.name = $1 AND t.name = $2`, repo, im.Tag).Scan(&d, &mt)
		if err != nil {
			t.Errorf("tag %s:%s: %v", repo, im.Tag, err)
			continue
		}
		if d != im.Digest || mt != im.MediaType {
			t.Errorf("tag %s:%s: got %s (%s), want %s (%s)", repo, im.Tag, d, mt, im.Digest, im.MediaType)
		}
		for _, c := range im.Children {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact_reference ar JOIN artifact p ON p.id = ar.parent_id
				JOIN artifact c ON c.id = ar.child_id WHERE p.repository_name = $1 AND p.digest = $2 AND c.digest = $3 AND c.repository_name = $1`,
				repo, im.Digest, c).Scan(&n); err != nil || n != 1 {
				t.Errorf("index %s@%s: child %s: got %d reference rows (%v), want 1", repo, im.Digest, c, n, err)
			}
		}
	}
	for _, u := range fx.Untagged {
		repo, d, _ := strings.Cut(u, "@")
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact WHERE repository_name = $1 AND digest = $2`, targetRepo(repo), d).Scan(&n); err != nil || n != 0 {
			t.Errorf("untagged %s was imported (%d rows, %v); Harbor's GC would delete it", u, n, err)
		}
	}
}

// checkBlobFilesHaveRows: every blob placed in Harbor's storage has a
// blob row (a file without one is what Harbor's GC deletes), and the
// source's blobs that no imported artifact uses (the untagged manifests')
// were left out, which the fixture must have for the check to mean
// anything.
func checkBlobFilesHaveRows(t *testing.T, conn *pgx.Conn, srcRoot, data string) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT digest FROM blob`)
	if err != nil {
		t.Fatal(err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	placed := blobFiles(t, filepath.Join(data, "registry", "docker", "registry", "v2"))
	for _, d := range placed {
		if !slices.Contains(have, d) {
			t.Errorf("blob %s was placed in Harbor's storage without a blob row", d)
		}
	}
	unused := 0
	for _, d := range blobFiles(t, filepath.Join(srcRoot, "docker", "registry", "v2")) {
		if !slices.Contains(placed, d) {
			unused++
		}
	}
	if unused == 0 {
		t.Errorf("the source holds no blob left out of the import: the check above proves nothing")
	}
}

// blobFiles lists the digests of the blob data files under v2.
func blobFiles(t *testing.T, v2 string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(v2, "blobs", "sha256", "*", "*", "data"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		out = append(out, "sha256:"+filepath.Base(filepath.Dir(p)))
	}
	if len(out) == 0 {
		t.Fatalf("no blob under %s", v2)
	}
	return out
}

// checkInvariants checks what Harbor's GC and quota rely on (harbor-facts §6, §2.5).
func checkInvariants(t *testing.T, db testenv.Querier) {
	t.Helper()
	bad, err := testenv.HarborInvariants(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

func checkStorageOwner(t *testing.T, data string, uid, gid uint32) {
	t.Helper()
	v2 := filepath.Join(data, "registry", "docker", "registry", "v2")
	n := 0
	err := filepath.Walk(v2, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		want := os.FileMode(0o644)
		if fi.IsDir() {
			want = 0o755 | os.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("only %d paths under %s", n, v2)
	}
	for _, tmp := range []string{".harbor-import/staging"} {
		entries, _ := os.ReadDir(filepath.Join(data, "registry", tmp))
		if len(entries) > 0 {
			t.Errorf("staging leftovers in %s: %d entries", tmp, len(entries))
		}
	}
}

// checkHardlinked: blob data in Harbor shares inodes with the source.
func checkHardlinked(t *testing.T, src, data string) {
	t.Helper()
	blobs := filepath.Join(data, "registry", "docker", "registry", "v2", "blobs")
	linked := 0
	_ = filepath.Walk(blobs, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(data, "registry"), p)
		sfi, err := os.Stat(filepath.Join(src, rel))
		if err != nil {
			t.Errorf("%s: not in source: %v", rel, err)
			return nil
		}
		if os.SameFile(fi, sfi) {
			linked++
		} else {
			t.Errorf("%s was not hardlinked from the source", rel)
		}
		return nil
	})
	if linked == 0 {
		t.Error("no blob was hardlinked")
	}
}

// pullAll serves Harbor's storage with a real registry and pulls every
// imported tag by the digest Harbor's database resolves it to (Harbor
// resolves tags in its database and asks the registry by digest).
func pullAll(t *testing.T, conn *pgx.Conn, data string, fx *testenv.Fixture) {
	t.Helper()
	ctx := context.Background()
	reg, err := testenv.StartRegistry(ctx, filepath.Join(data, "registry"))
	if err != nil {
		t.Fatalf("starting a registry on Harbor's storage: %v", err)
	}
	defer reg.Close()
	rows, err := conn.Query(ctx, `SELECT r.name, t.name, a.digest FROM tag t JOIN repository r ON r.repository_id = t.repository_id
		JOIN artifact a ON a.id = t.artifact_id ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type ref struct{ Repo, Tag, Digest string }
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ref])
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < len(fx.Images) {
		t.Errorf("database has %d tags, fixture %d", len(refs), len(fx.Images))
	}
	for _, r := range refs {
		if err := testenv.PullAndVerify(ctx, reg.Host(), r.Repo, r.Digest, r.Digest); err != nil {
			t.Errorf("pulling %s:%s: %v", r.Repo, r.Tag, err)
		}
	}
}

// progressLog records an import's progress events (from any goroutine).
type progressLog struct {
	mu     sync.Mutex
	events []importer.Progress
}

func (l *progressLog) record(p importer.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, p)
}

// check wants every phase of an import, first reported in the order they
// start (the rows load while the files are staged and placed), the planning
// counted per repository up to repos of repos, and no count past its total.
func (l *progressLog) check(t *testing.T, repos int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var order []string
	lastPlan := importer.Progress{Done: -1}
	for _, e := range l.events {
		if !slices.Contains(order, e.Phase) {
			order = append(order, e.Phase)
		}
		if e.Total > 0 && e.Done > e.Total {
			t.Errorf("progress: %+v counts past its total", e)
		}
		if e.Phase == "plan" {
			if e.Unit != "repositories" || e.Total != int64(repos) || e.Done < lastPlan.Done {
				t.Errorf("progress: plan event %+v after %+v; want repositories counted up to %d", e, lastPlan, repos)
			}
			lastPlan = e
		}
	}
	if want := []string{"scan", "plan", "database", "stage", "place", "verify"}; !slices.Equal(order, want) {
		t.Errorf("progress: phases first reported in the order %v, want %v", order, want)
	}
	if lastPlan.Done != int64(repos) {
		t.Errorf("progress: the last plan event is %+v, want %d of %d repositories", lastPlan, repos, repos)
	}
	if last := l.events[len(l.events)-1]; last.Phase != "verify" || last.Done == 0 || last.Done != last.Total {
		t.Errorf("progress: the last event is %+v, want every artifact verified", last)
	}
}

// fixtureRepos counts the repositories of fx's tags and untagged manifests.
func fixtureRepos(fx *testenv.Fixture) int {
	repos := map[string]bool{}
	for _, im := range fx.Images {
		repos[im.Repo] = true
	}
	for _, u := range fx.Untagged {
		repo, _, _ := strings.Cut(u, "@")
		repos[repo] = true
	}
	return len(repos)
}
