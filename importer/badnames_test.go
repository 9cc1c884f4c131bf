package importer_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/jackc/pgx/v5"
)

// Names distribution accepts and Harbor refuses (harbor-facts §8). Tags are
// not among them: distribution's tag regex [\w][\w.-]{0,127} and Harbor's
// (since 2.8) ^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$ are the same language
// (TestTagRegexesAgree), so no pushed tag can be valid for one and not the
// other. A hand-made storage can still hold one (the "-bad" tag below).
var (
	// longRepo is 249 characters: valid for distribution (≤ 255), too long
	// for Harbor's registry (> 245).
	longRepo    = "longproj/" + strings.Repeat("a", 240)
	invalidRepo = []string{"my__team/app", "a--b/app", longRepo}
	validRepo   = []string{"good/app", "solo"}
)

// pushRandom pushes a small random image as repo:tag and returns its digest.
func pushRandom(ctx context.Context, host, repo, tag string) (v1.Hash, error) {
	ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("parsing %s:%s: %w", repo, tag, err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s:%s: %w", repo, tag, err)
	}
	return img.Digest()
}

// badNames is a storage made by pushes of the names above, each as :v1.
func badNames(t *testing.T) *fixtureSet {
	return sharedFixture(t, "bad-names", func(ctx context.Context, host string) (*testenv.Fixture, error) {
		fx := &testenv.Fixture{}
		for _, repo := range append(append([]string{}, invalidRepo...), validRepo...) {
			d, err := pushRandom(ctx, host, repo, "v1")
			if err != nil {
				return nil, err
			}
			fx.Images = append(fx.Images, testenv.FixtureImage{Repo: repo, Tag: "v1", Digest: d.String(), MediaType: "application/vnd.docker.distribution.manifest.v2+json"})
		}
		return fx, nil
	})
}

// withBadTag copies the storage and adds tag "-bad" to good/app (a tag no
// registry accepts, as a hand-made storage may hold).
func withBadTag(t *testing.T, fs *fixtureSet) string {
	t.Helper()
	src := copyTree(t, fs.root)
	link, err := os.ReadFile(tagLinkPath(src, "good/app", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, tagLinkPath(src, "good/app", "-bad"), link)
	return src
}

func TestInvalidNames(t *testing.T) {
	fs := badNames(t)
	src := withBadTag(t, fs)
	all := []string{`"my__team"`, `"a--b"`, longRepo, "249 characters", "good/app:-bad"}
	cases := []refusalCase{
		{name: "all listed at once", want: []error{importer.ErrInvalidNames},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: src}, all
			}},
		{name: "all listed at once/empty Harbor", empty: true, want: []error{importer.ErrInvalidNames},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: src}, all
			}},
		{name: "all listed at once/tarball/cli", cli: true, want: []error{importer.ErrInvalidNames},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: tarOf(t, src, "docker.tar.zst")}, all
			}},
		{name: "invalid default project", want: []error{importer.ErrInvalidNames},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: fs.tarball, DefaultProject: "My_Project"}, []string{"--default-project", `"My_Project"`}
			}},
		{name: "invalid default project/cli", cli: true, want: []error{importer.ErrInvalidNames},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: fs.tarball, DefaultProject: "a__b"}, []string{"--default-project", `"a__b"`}
			}},
		{name: "invalid names and a missing blob", want: []error{importer.ErrInvalidNames, importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				s := copyTree(t, src)
				d := fixtureDigest(t, fs.fx, "solo", "v1")
				if err := os.Remove(blobPath(s, d)); err != nil {
					t.Fatal(err)
				}
				return importer.Options{Source: s}, append([]string{"solo:v1@" + d}, all...)
			}},
		{name: "bad include glob", want: []error{path.ErrBadPattern},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return importer.Options{Source: src, Include: []string{"team/["}}, []string{"team/["}
			}},
	}
	runRefusals(t, cases)

	t.Run("skip invalid", func(t *testing.T) {
		h := seededHarbor(t)
		rep, err := importer.Run(context.Background(), importer.Options{Source: src, HarborData: h.data, DSN: h.dsn, SkipInvalid: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		var skipped []string
		for _, s := range rep.Skipped {
			if s.Kind != "invalid-name" {
				t.Errorf("skipped %s: got kind %q, want invalid-name", s, s.Kind)
			}
			skipped = append(skipped, s.Repository+":"+s.Tag)
		}
		sort.Strings(skipped)
		want := []string{"a--b/app:", "good/app:-bad", longRepo + ":", "my__team/app:"}
		sort.Strings(want)
		if !reflect.DeepEqual(skipped, want) {
			t.Errorf("got skipped %q, want %q", skipped, want)
		}
		conn := connect(t, h.dsn)
		got := tagsOf(t, conn)
		for _, ref := range []string{"good/app:v1", "library/solo:v1"} {
			if !got[ref] {
				t.Errorf("got no tag %s, want it imported", ref)
			}
		}
		for ref := range got {
			for _, bad := range append(invalidRepo, "good/app:-bad") {
				if strings.HasPrefix(ref, bad) {
					t.Errorf("got tag %s, want it skipped", ref)
				}
			}
		}
		var projects []string
		rows, err := conn.Query(context.Background(), `SELECT name FROM project ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		if projects, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		if want := []string{"good", "library"}; !reflect.DeepEqual(projects, want) {
			t.Errorf("got projects %q, want %q", projects, want)
		}
	})
}

// tagsOf returns every "repository:tag" of Harbor.
func tagsOf(t *testing.T, conn *pgx.Conn) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT r.name || ':' || t.name FROM tag t JOIN repository r ON r.repository_id = t.repository_id`)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range refs {
		out[r] = true
	}
	return out
}

// TestTagRegexesAgree backs the claim that no tag is valid for distribution
// and invalid for Harbor: the two regexes accept the same strings over the
// characters that matter (checked exhaustively up to length 2, and on
// samples around the 128 limit).
func TestTagRegexesAgree(t *testing.T) {
	dist := regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	harbor := regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	alphabet := []string{"a", "Z", "0", "_", ".", "-", "/", ":", "é", " ", "+", "@"}
	var cands []string
	for _, a := range alphabet {
		cands = append(cands, a)
		for _, b := range alphabet {
			cands = append(cands, a+b)
		}
	}
	cands = append(cands, strings.Repeat("a", 128), strings.Repeat("a", 129), "v"+strings.Repeat(".", 127), "")
	for _, c := range cands {
		if d, h := dist.MatchString(c), harbor.MatchString(c); d != h {
			t.Errorf("tag %q: distribution %v, Harbor %v; want the same", c, d, h)
		}
	}
}

// The repositories distribution accepted keep their directories: check the
// fixture really holds the invalid names (the registry took them).
func TestInvalidNamesFixture(t *testing.T) {
	fs := badNames(t)
	for _, repo := range invalidRepo {
		if _, err := os.Stat(filepath.Join(v2Of(fs.root), "repositories", repo)); err != nil {
			t.Errorf("repository %s: got %v, want it pushed", repo, err)
		}
	}
}
