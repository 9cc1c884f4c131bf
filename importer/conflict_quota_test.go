package importer_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/jackc/pgx/v5"
)

// movedClassic is the classic storage after alpine:3.19 and alpine:latest
// were pushed again with another image: both tags point at a new digest.
func movedClassic(t *testing.T) *fixtureSet {
	return sharedFixture(t, "classic-moved", func(ctx context.Context, host string) (*testenv.Fixture, error) {
		fx, err := testenv.PushClassic(ctx, host, 42)
		if err != nil {
			return nil, err
		}
		img, err := random.Image(512, 1)
		if err != nil {
			return nil, err
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		for _, tag := range []string{"3.19", "latest"} {
			ref, err := name.NewTag(host+"/alpine:"+tag, name.Insecure)
			if err != nil {
				return nil, err
			}
			if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)); err != nil {
				return nil, err
			}
			for i := range fx.Images {
				if fx.Images[i].Repo == "alpine" && fx.Images[i].Tag == tag {
					fx.Images[i].Digest = d.String()
				}
			}
		}
		return fx, nil
	})
}

// TestTagConflict: a tag Harbor holds on another digest stops the import,
// naming it; with OverwriteTags it moves as a push would move it.
func TestTagConflict(t *testing.T) {
	fs, moved := classic(t), movedClassic(t)
	oldD := fixtureDigest(t, fs.fx, "alpine", "latest")
	newD := fixtureDigest(t, moved.fx, "alpine", "latest")
	ctx := context.Background()

	h := harborTarget{dsn: harborDB(t), data: harborData(t)}
	if _, err := importer.Run(ctx, importer.Options{Source: fs.tarball, HarborData: h.data, DSN: h.dsn, Logger: testLogger(t)}); err != nil {
		t.Fatalf("first import: %v", err)
	}
	mentions := []string{"library/alpine:latest is " + oldD + " in Harbor, " + newD + " in the source", "library/alpine:3.19 is " + oldD}
	runRefusalsOn(t, h, []refusalCase{
		{name: "refused/tarball", want: []error{importer.ErrConflict},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: moved.tarball}, mentions
			}},
		{name: "refused/directory/cli", cli: true, want: []error{importer.ErrConflict}, printed: []string{"Tag conflicts", "library/alpine:latest is " + oldD},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: copyTree(t, moved.root)}, mentions
			}},
	})

	t.Run("overwrite", func(t *testing.T) {
		conn := connect(t, h.dsn)
		usedBefore := quotaUsed(t, conn, "library")
		rep, err := importer.Run(ctx, importer.Options{Source: moved.tarball, HarborData: h.data, DSN: h.dsn, OverwriteTags: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("import with OverwriteTags: %v", err)
		}
		if rep.Rows == nil || rep.Rows.TagsMoved != 2 {
			t.Errorf("got rows %+v, want 2 tags moved", rep.Rows)
		}
		for _, c := range []struct{ repo, tag, want string }{
			{"library/alpine", "latest", newD}, {"library/alpine", "3.19", newD}, {"team/base", "3.19", oldD},
		} {
			var got string
			if err := conn.QueryRow(ctx, `SELECT a.digest FROM tag t JOIN artifact a ON a.id = t.artifact_id
				JOIN repository r ON r.repository_id = t.repository_id WHERE r.name = $1 AND t.name = $2`, c.repo, c.tag).Scan(&got); err != nil {
				t.Errorf("tag %s:%s: %v", c.repo, c.tag, err)
				continue
			}
			if got != c.want {
				t.Errorf("tag %s:%s: got %s, want %s", c.repo, c.tag, got, c.want)
			}
		}
		// The old artifact stays, untagged, as after a push (GC or retention removes it).
		var tags int
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tag t WHERE t.artifact_id = a.id) FROM artifact a
			WHERE a.repository_name = 'library/alpine' AND a.digest = $1`, oldD).Scan(&tags); err != nil {
			t.Errorf("old artifact library/alpine@%s: %v; want it still present", oldD, err)
		} else if tags != 0 {
			t.Errorf("old artifact library/alpine@%s: got %d tags, want 0", oldD, tags)
		}
		// Quota recomputed: the sum of the project's blobs, which grew by the new image.
		used, sum := quotaUsed(t, conn, "library"), projectBlobSum(t, conn, "library")
		if used != sum || used <= usedBefore {
			t.Errorf("library quota: got used %d (before %d), want the project's blob sum %d, above before", used, usedBefore, sum)
		}
	})
}

func quotaUsed(t *testing.T, conn *pgx.Conn, project string) int64 {
	t.Helper()
	var used int64
	if err := conn.QueryRow(context.Background(), `SELECT (u.used->>'storage')::bigint FROM quota_usage u
		JOIN project p ON u.reference = 'project' AND u.reference_id = p.project_id::text WHERE p.name = $1`, project).Scan(&used); err != nil {
		t.Fatalf("quota usage of %s: %v", project, err)
	}
	return used
}

func projectBlobSum(t *testing.T, conn *pgx.Conn, project string) int64 {
	t.Helper()
	var sum int64
	if err := conn.QueryRow(context.Background(), `SELECT COALESCE(sum(b.size), 0)::bigint FROM project_blob pb JOIN blob b ON b.id = pb.blob_id
		JOIN project p ON p.project_id = pb.project_id WHERE p.name = $1
		AND b.content_type <> 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'`, project).Scan(&sum); err != nil {
		t.Fatalf("blob sum of %s: %v", project, err)
	}
	return sum
}

func repositories(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT name FROM repository ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIncludeExclude: globs select source repositories; the others are
// reported as excluded and leave no row.
func TestIncludeExclude(t *testing.T) {
	fs := classic(t)
	for _, tc := range []struct {
		name             string
		include, exclude []string
		cli              bool
		wantNew          []string // repositories added to Harbor
		wantExcluded     []string // source repositories
	}{
		{name: "include team/**", include: []string{"team/**"},
			wantNew: []string{"team/app/api", "team/base", "team/multi", "team/web"}, wantExcluded: []string{"alpine", "busybox"}},
		{name: "exclude alpine", exclude: []string{"alpine"},
			wantNew: []string{"library/busybox", "team/app/api", "team/base", "team/multi", "team/web"}, wantExcluded: []string{"alpine"}},
		{name: "include and exclude/cli", include: []string{"team/**"}, exclude: []string{"team/web", "*/*/api"}, cli: true,
			wantNew: []string{"team/base", "team/multi"}, wantExcluded: []string{"alpine", "busybox", "team/app/api", "team/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seededHarbor(t)
			conn := connect(t, h.dsn)
			before := repositories(t, conn)
			rep, out, err := runImport(t, importer.Options{Source: fs.tarball, HarborData: h.data, DSN: h.dsn, Include: tc.include, Exclude: tc.exclude}, tc.cli)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if tc.cli {
				if want := "Repositories excluded by --include/--exclude: " + strconv.Itoa(len(tc.wantExcluded)); !strings.Contains(out, want) {
					t.Errorf("report does not say %q:\n%s", want, out)
				}
			} else if !reflect.DeepEqual(rep.Excluded, tc.wantExcluded) {
				t.Errorf("got excluded %q, want %q", rep.Excluded, tc.wantExcluded)
			}
			var added []string
			for _, r := range repositories(t, conn) {
				if !contains(before, r) {
					added = append(added, r)
				}
			}
			sort.Strings(added)
			if !reflect.DeepEqual(added, tc.wantNew) {
				t.Errorf("got new repositories %q, want %q", added, tc.wantNew)
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestQuotaExceeded: an import that would take a project over its storage
// quota is refused before anything is written (and, should usage change
// meanwhile, again in the transaction); IgnoreQuota imports anyway.
func TestQuotaExceeded(t *testing.T) {
	fs := classic(t)
	ctx := context.Background()
	h := seededHarbor(t)
	conn := connect(t, h.dsn)
	if _, err := conn.Exec(ctx, `UPDATE quota SET hard = '{"storage": 1000}' WHERE reference = 'project'
		AND reference_id = (SELECT project_id::text FROM project WHERE name = 'library')`); err != nil {
		t.Fatal(err)
	}
	for _, src := range []struct{ name, path string }{{"tarball", fs.tarball}, {"directory", copyTree(t, fs.root)}} {
		t.Run("refused/"+src.name, func(t *testing.T) {
			before := snapshot(t, h)
			_, err := importer.Run(ctx, importer.Options{Source: src.path, HarborData: h.data, DSN: h.dsn, Logger: testLogger(t)})
			if !errors.Is(err, harbordb.ErrQuotaExceeded) {
				t.Fatalf("got error %v, want one matching %q", err, harbordb.ErrQuotaExceeded)
			}
			for _, m := range []string{"library (limit 1000 bytes, used ", "the import adds ", "nothing was written"} {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not name %q:\n%v", m, err)
				}
			}
			checkUnchanged(t, h, before, snapshot(t, h))
		})
	}
	t.Run("IgnoreQuota", func(t *testing.T) {
		rep, err := importer.Run(ctx, importer.Options{Source: fs.tarball, HarborData: h.data, DSN: h.dsn, IgnoreQuota: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("import with IgnoreQuota: %v", err)
		}
		if rep.Rows == nil || rep.Rows.Artifacts == 0 {
			t.Errorf("got rows %+v, want artifacts written", rep.Rows)
		}
		if used := quotaUsed(t, conn, "library"); used <= 1000 || used != projectBlobSum(t, conn, "library") {
			t.Errorf("library quota: got used %d, want the project's blob sum %d (> 1000)", used, projectBlobSum(t, conn, "library"))
		}
		checkTags(t, conn, fs.fx)
	})
}
