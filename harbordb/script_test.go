package harbordb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/jackc/pgx/v5"
)

// hostileStrings are values that break naive SQL quoting, psql's script
// reader or JSON: quotes, backslashes (and E” syntax), dollar quotes
// (including the script's own $harbor_import$ tag), statement and comment
// tokens, psql meta-commands and variables, line breaks and other control
// characters, unicode (RTL overrides, 4-byte emoji, BOM, U+2028) and
// injection attempts. None holds NUL, which PostgreSQL text cannot store.
// The fuzz corpus testdata/fuzz/FuzzQuoteLiteral holds them too.
var hostileStrings = []string{
	`'`,
	`''`,
	`'''`,
	`it's`,
	`'); DROP TABLE artifact; --`,
	`'; DROP TABLE artifact; --`,
	`x'); DELETE FROM tag; SELECT ('`,
	`\`,
	`\\`,
	`\'`,
	`\''`,
	`trailing backslash\`,
	`E'\\'`,
	`E'\''); DROP TABLE artifact; --`,
	`U&'\0041'`,
	`$$`,
	`$$; DROP TABLE artifact; $$`,
	`$harbor_import$`,
	`$harbor_import$; DROP TABLE artifact; --`,
	`$1`,
	`$tag$x$tag$`,
	`;`,
	`;;`,
	`--`,
	`-- comment`,
	`/*`,
	`*/`,
	`/* unterminated`,
	`/* nested /* comment */`,
	"line1\nline2",
	"cr\rcr",
	"crlf\r\n",
	"\r\n",
	"tab\there",
	"\n\\echo PWNED-meta-after-newline\n",
	`\echo PWNED-meta`,
	`\! echo PWNED-shell`,
	`\gexec`,
	`\i /etc/passwd`,
	`:foo`,
	`:'foo'`,
	`:"foo"`,
	`"double"quotes"`,
	`%s %d %% %v %!`,
	"\x01\x02\x1b[31mred\x1b[0m\x7f",
	"ünïcödé",
	"日本語のタグ",
	"\u202Eevil\u202C",
	"مرحبا שלום",
	"🐳🚢",
	"👩\u200d💻",
	"\ufeffbom",
	"line\u2028separator",
	"\U0010FFFF",
	strings.Repeat(`'\`, 60),
}

// hostileProject holds half the hostile repositories; "library" (which the
// fresh Harbor has) the other half.
const hostileProject = "p'\"; DROP TABLE project; -- $$ \\ 🐳"

const hostileUser = `'); DROP TABLE artifact; --`

func fakeDigest(kind string, i int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", kind, i)))
	return "sha256:" + hex.EncodeToString(h[:])
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// hostileCase is what one hostile string became in the batch.
type hostileCase struct {
	s, project, repo, child, parent string
	annotations                     map[string]string
	parentExtra, platform, urls     string
	refAnnotations                  map[string]string
}

// hostileBatch puts every hostile string into every free-text place: a
// repository name, a tag, an artifact's extra_attrs and icon, annotations
// (as JSON keys and values), and a reference's platform, urls and
// annotations. Each repository holds an index tagged with the string and
// its one child.
func hostileBatch() (*harbordb.Batch, []hostileCase) {
	b := &harbordb.Batch{
		Settings: harbordb.Settings{Username: hostileUser},
		Projects: []harbordb.Project{{Name: "library"}, {Name: hostileProject, Public: true}},
	}
	var cases []hostileCase
	for i, s := range hostileStrings {
		c := hostileCase{s: s, project: "library", child: fakeDigest("child", i), parent: fakeDigest("parent", i)}
		if i%2 == 1 {
			c.project = hostileProject
		}
		c.repo = c.project + "/" + s
		c.annotations = map[string]string{"org.opencontainers.image.title": s, s: "key", "k" + s: s + s}
		c.parentExtra = mustJSON(map[string]string{"architecture": s})
		c.platform = mustJSON(map[string]string{"os": s, "architecture": "amd64"})
		c.urls = mustJSON([]string{s, "https://example.com/" + s})
		c.refAnnotations = map[string]string{s: s}
		cases = append(cases, c)

		b.Repositories = append(b.Repositories, harbordb.Repository{Name: c.repo, Project: c.project})
		b.Artifacts = append(b.Artifacts,
			harbordb.Artifact{Repository: c.repo, Digest: c.child, Type: "IMAGE", MediaType: "application/vnd.oci.image.config.v1+json",
				ManifestMediaType: "application/vnd.oci.image.manifest.v1+json", ArtifactType: "application/vnd.oci.image.config.v1+json",
				Size: 100, ExtraAttrs: s, Annotations: mustJSON(c.annotations), Icon: s},
			harbordb.Artifact{Repository: c.repo, Digest: c.parent, Type: "IMAGE", MediaType: "application/vnd.oci.image.index.v1+json",
				ManifestMediaType: "application/vnd.oci.image.index.v1+json", ArtifactType: "application/vnd.oci.image.index.v1+json",
				Size: 150, ExtraAttrs: c.parentExtra})
		b.References = append(b.References, harbordb.ArtifactReference{Repository: c.repo, ParentDigest: c.parent, ChildDigest: c.child,
			Platform: c.platform, URLs: c.urls, Annotations: mustJSON(c.refAnnotations)})
		b.Tags = append(b.Tags, harbordb.Tag{Repository: c.repo, Name: s, Digest: c.parent})
		b.Blobs = append(b.Blobs,
			harbordb.Blob{Digest: c.child, ContentType: "application/vnd.oci.image.manifest.v1+json", Size: 100},
			harbordb.Blob{Digest: c.parent, ContentType: "application/vnd.oci.image.index.v1+json", Size: 50})
		b.ArtifactBlobs = append(b.ArtifactBlobs,
			harbordb.ArtifactBlob{ArtifactDigest: c.child, BlobDigest: c.child},
			harbordb.ArtifactBlob{ArtifactDigest: c.parent, BlobDigest: c.parent})
		b.ProjectBlobs = append(b.ProjectBlobs,
			harbordb.ProjectBlob{Project: c.project, BlobDigest: c.child},
			harbordb.ProjectBlob{Project: c.project, BlobDigest: c.parent})
	}
	return b, cases
}

// hostileInfo puts a line break and a psql meta-command into the script's
// header comment.
var hostileInfo = harbordb.ScriptInfo{
	Source:    "tarball x\n\\echo PWNED-header\nDROP TABLE artifact;\r\n-- ",
	Generated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	Version:   "v1\n\\! echo PWNED-version",
}

// TestHostileLiterals renders a Batch full of hostile strings with
// WriteScript, applies it with psql -1 to a fresh Harbor database, and
// checks that every stored value equals its Go value byte for byte (JSON
// columns: the decoded JSON equals the Go value), that no psql
// meta-command hidden in a value ran, and that Load stores the very same.
func TestHostileLiterals(t *testing.T) {
	srv, skip := startServer(t)
	if skip != "" {
		t.Skip(skip)
	}
	ctx := context.Background()
	b, cases := hostileBatch()
	schema := harbordb.SchemaFor(180)

	t.Run("script", func(t *testing.T) {
		var script bytes.Buffer
		if err := harbordb.WriteScript(&script, schema, b, hostileInfo); err != nil {
			t.Fatalf("WriteScript: %v", err)
		}
		dsn := srv.harborDB(t)
		out, err := srv.psql(t, dsn, script.Bytes())
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		if strings.Contains(out, "PWNED") {
			t.Errorf("a psql meta-command hidden in a value or the header ran; psql printed:\n%s", out)
		}
		checkHostile(t, connect(t, dsn), cases)

		// Applied again, nothing changes.
		conn := connect(t, dsn)
		before := dumpAll(t, conn)
		if out, err := srv.psql(t, dsn, script.Bytes()); err != nil {
			t.Fatalf("psql, second time: %v\n%s", err, out)
		}
		if after := dumpAll(t, conn); !reflect.DeepEqual(before, after) {
			t.Errorf("applying the script again changed rows")
		}
	})

	t.Run("load", func(t *testing.T) {
		dsn := srv.harborDB(t)
		conn := connect(t, dsn)
		_, err := load(ctx, conn, schema, b)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		checkHostile(t, conn, cases)
	})

	t.Run("load from a spool", func(t *testing.T) {
		dsn := srv.harborDB(t)
		conn := connect(t, dsn)
		sp := spoolOf(t, b, 5)
		_, err := load(ctx, conn, schema, sp)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		checkHostile(t, conn, cases)
	})

	t.Run("NUL refused by Load", func(t *testing.T) {
		dsn := srv.harborDB(t)
		conn := connect(t, dsn)
		before := dumpAll(t, conn)
		for name, nb := range nulBatches() {
			_, err := load(ctx, conn, schema, nb)
			if !errors.Is(err, harbordb.ErrInvalidValue) {
				t.Errorf("%s: Load returned %v, want ErrInvalidValue", name, err)
			}
		}
		if after := dumpAll(t, conn); !reflect.DeepEqual(before, after) {
			t.Errorf("a refused Load changed rows")
		}
	})
}

// checkHostile reads back, with parameters (no quoting involved), what
// hostileBatch wrote and compares it with the Go values.
func checkHostile(t *testing.T, conn *pgx.Conn, cases []hostileCase) {
	t.Helper()
	ctx := context.Background()
	var artifacts, projects int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM artifact), (SELECT count(*) FROM project WHERE name = $1)`, hostileProject).Scan(&artifacts, &projects); err != nil {
		t.Fatalf("counting: %v", err)
	}
	if artifacts != 2*len(cases) || projects != 1 {
		t.Errorf("got %d artifacts and %d projects named %q; want %d and 1", artifacts, projects, hostileProject, 2*len(cases))
	}
	for _, c := range cases {
		var project, tag, extra, icon, parentExtra, platform, urls string
		var annotations, refAnnotations []byte
		var parentAnnotationsNull bool
		err := conn.QueryRow(ctx, `SELECT p.name, t.name, ca.extra_attrs, ca.icon, ca.annotations::text, pa.extra_attrs, pa.annotations IS NULL,
				ar.platform, ar.urls, ar.annotations::text
			FROM repository r JOIN project p ON p.project_id = r.project_id
			JOIN artifact pa ON pa.repository_id = r.repository_id AND pa.digest = $2
			JOIN artifact ca ON ca.repository_id = r.repository_id AND ca.digest = $3
			JOIN tag t ON t.repository_id = r.repository_id AND t.artifact_id = pa.id
			JOIN artifact_reference ar ON ar.parent_id = pa.id AND ar.child_id = ca.id
			WHERE r.name = $1`, c.repo, c.parent, c.child).
			Scan(&project, &tag, &extra, &icon, &annotations, &parentExtra, &parentAnnotationsNull, &platform, &urls, &refAnnotations)
		if err != nil {
			t.Errorf("repository %q: %v", c.repo, err)
			continue
		}
		for _, f := range []struct{ what, got, want string }{
			{"project", project, c.project},
			{"tag", tag, c.s},
			{"child extra_attrs", extra, c.s},
			{"child icon", icon, c.s},
			{"index extra_attrs", parentExtra, c.parentExtra},
			{"platform", platform, c.platform},
			{"urls", urls, c.urls},
		} {
			if f.got != f.want {
				t.Errorf("repository %q: %s: got %q, want %q", c.repo, f.what, f.got, f.want)
			}
		}
		if !parentAnnotationsNull {
			t.Errorf("repository %q: index annotations: got a value, want NULL", c.repo)
		}
		for _, j := range []struct {
			what string
			raw  []byte
			want map[string]string
		}{{"child annotations", annotations, c.annotations}, {"reference annotations", refAnnotations, c.refAnnotations}} {
			var got map[string]string
			if err := json.Unmarshal(j.raw, &got); err != nil {
				t.Errorf("repository %q: %s: %v in %q", c.repo, j.what, err, j.raw)
			} else if !reflect.DeepEqual(got, j.want) {
				t.Errorf("repository %q: %s: got %q, want %q", c.repo, j.what, got, j.want)
			}
		}
		var resources []string
		rows, err := conn.Query(ctx, `SELECT resource FROM audit_log_ext WHERE resource_type = 'artifact' AND resource LIKE $1 || ':%' AND username = $2`,
			strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(c.repo), hostileUser)
		if err == nil {
			resources, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil || !containsString(resources, c.repo+":"+c.s) {
			t.Errorf("repository %q: audit rows by %q: got %q (%v), want one for %q", c.repo, hostileUser, resources, err, c.repo+":"+c.s)
		}
	}
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// dumpAll returns every row of the tables an import writes, as text.
func dumpAll(t *testing.T, conn *pgx.Conn) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{"project", "project_member", "project_metadata", "cve_allowlist", "quota", "quota_usage",
		"repository", "artifact", "tag", "blob", "artifact_blob", "project_blob", "artifact_reference", "audit_log_ext"} {
		rows, err := conn.Query(context.Background(), "SELECT t::text FROM "+table+" t ORDER BY 1")
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		out[table] = vals
	}
	return out
}

// nulBatches are small batches with a NUL byte (or invalid UTF-8) in one
// value each.
func nulBatches() map[string]*harbordb.Batch {
	base := func() *harbordb.Batch {
		return &harbordb.Batch{
			Projects:     []harbordb.Project{{Name: "library"}},
			Repositories: []harbordb.Repository{{Name: "library/app", Project: "library"}},
			Artifacts: []harbordb.Artifact{{Repository: "library/app", Digest: fakeDigest("nul", 0), Type: "IMAGE",
				MediaType: "application/vnd.oci.image.config.v1+json", ManifestMediaType: "application/vnd.oci.image.manifest.v1+json",
				ArtifactType: "application/vnd.oci.image.config.v1+json", Size: 1}},
			Tags:  []harbordb.Tag{{Repository: "library/app", Name: "v1", Digest: fakeDigest("nul", 0)}},
			Blobs: []harbordb.Blob{{Digest: fakeDigest("nul", 0), ContentType: "application/vnd.oci.image.manifest.v1+json", Size: 1}},
		}
	}
	out := map[string]*harbordb.Batch{}
	b := base()
	b.Tags[0].Name = "v1\x00"
	out["tag"] = b
	b = base()
	b.Repositories[0].Name = "library/a\x00pp"
	out["repository"] = b
	b = base()
	b.Artifacts[0].ExtraAttrs = "\x00"
	out["extra_attrs"] = b
	b = base()
	// Valid JSON escapes NUL; a raw NUL in the text is what cannot be stored.
	b.Artifacts[0].Annotations = "{\"a\": \"\x00\"}"
	out["annotations"] = b
	b = base()
	b.Settings.Username = "admin\x00"
	out["username"] = b
	b = base()
	b.References = []harbordb.ArtifactReference{{Repository: "library/app", ParentDigest: fakeDigest("nul", 0), ChildDigest: fakeDigest("nul", 0), Platform: "{\"os\":\"linux\x00\"}"}}
	out["platform"] = b
	// PostgreSQL refuses invalid UTF-8 too, with a message naming no row.
	b = base()
	b.Tags[0].Name = "v\xff1"
	out["tag invalid UTF-8"] = b
	b = base()
	b.Artifacts[0].ExtraAttrs = "{\"author\":\"\xc3\x28\"}"
	out["extra_attrs invalid UTF-8"] = b
	return out
}

// TestWriteScriptRefusesNUL: a NUL byte anywhere in a Batch makes
// WriteScript fail with ErrInvalidValue before it writes anything.
func TestWriteScriptRefusesNUL(t *testing.T) {
	for name, b := range nulBatches() {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := harbordb.WriteScript(&out, harbordb.SchemaFor(180), b, harbordb.ScriptInfo{Source: "test"})
			if !errors.Is(err, harbordb.ErrInvalidValue) {
				t.Fatalf("WriteScript returned %v, want ErrInvalidValue", err)
			}
			if out.Len() != 0 {
				t.Errorf("WriteScript wrote %d bytes before refusing", out.Len())
			}
		})
	}
}

// TestLoadRefusesQuotaInTheTransaction: the quota guard inside the
// transaction (usage may change between planning and loading) refuses a
// batch that takes a project over its limit, and writes nothing.
func TestLoadRefusesQuotaInTheTransaction(t *testing.T) {
	ctx := context.Background()
	conn := harborConn(t)
	if _, err := conn.Exec(ctx, `UPDATE quota SET hard = '{"storage": 10}' WHERE reference_id = '1'`); err != nil {
		t.Fatal(err)
	}
	d := "sha256:" + strings.Repeat("b", 64)
	b := &harbordb.Batch{
		Projects:      []harbordb.Project{{Name: "library"}},
		Repositories:  []harbordb.Repository{{Name: "library/q", Project: "library"}},
		Artifacts:     []harbordb.Artifact{ociImage("library/q", d, 500)},
		Tags:          []harbordb.Tag{{Repository: "library/q", Name: "v1", Digest: d}},
		Blobs:         []harbordb.Blob{{Digest: d, ContentType: "application/vnd.oci.image.manifest.v1+json", Size: 500}},
		ArtifactBlobs: []harbordb.ArtifactBlob{{ArtifactDigest: d, BlobDigest: d}},
		ProjectBlobs:  []harbordb.ProjectBlob{{Project: "library", BlobDigest: d}},
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = harbordb.Load(ctx, tx, harbordb.SchemaFor(180), b, nil)
	_ = tx.Rollback(ctx)
	if !errors.Is(err, harbordb.ErrQuotaExceeded) || !strings.Contains(err.Error(), "library (limit 10 bytes, usage would be 500)") {
		t.Fatalf("got %v, want ErrQuotaExceeded naming library's limit and usage", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact`).Scan(&n); err != nil || n != 0 {
		t.Errorf("got %d artifacts (%v), want none", n, err)
	}
	b.Settings.IgnoreQuota = true
	tx, err = conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := harbordb.Load(ctx, tx, harbordb.SchemaFor(180), b, nil); err != nil {
		t.Fatalf("with IgnoreQuota: %v", err)
	}
	_ = tx.Rollback(ctx)
}
