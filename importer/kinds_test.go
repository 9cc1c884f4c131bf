package importer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// wantRow is what a push of one fixture artifact writes into the artifact
// table of one Harbor version, derived from that release's abstractor,
// processors and annotation parser (see importer/manifest.go).
type wantRow struct {
	typ, mediaType, manifestMediaType, artifactType, extraAttrs, icon, annotations string
}

const (
	mtDockerV2     = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerCfg    = "application/vnd.docker.container.image.v1+json"
	mtPrettyJWS    = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mtWASM         = "application/vnd.wasm.config.v1+json"
	cnabConfigJSON = `{"invocationImages":[{"image":"demo:inv","imageType":"docker"}],"name":"demo","schemaVersion":"v1.0.0","version":"0.1.0"}`
	modelJSON      = `{"config":{"format":"safetensors"},"descriptor":{"name":"m"},"modelfs":{"diffIds":[],"type":"layers"}}`
)

// imported says whether the fixture artifact nm becomes an artifact row in
// Harbor schema v (without --include-untagged).
func imported(nm string, v int) bool {
	switch nm {
	case "tmp-old", "fallback-app-1":
		return false // untagged: Harbor's GC would delete it
	case "notation-cfg", "hsbom", "nydus", "cosign11":
		// Referrers reachable only through their subject: accessories from
		// Harbor 2.8 on; before, a push leaves them untagged.
		return v >= 110
	case "emptycfg":
		return v >= 50 // 2.0–2.1 cannot abstract an empty config: the push fails
	}
	return true
}

// plainImage is extra_attrs of an image whose config holds only the given
// architecture, os and (JSON) config, without created and author.
func plainImage(v int, arch, os, config string) string {
	if v < 50 {
		return `{"architecture":"` + arch + `","author":null,"created":null,"os":"` + os + `"}`
	}
	return `{"architecture":"` + arch + `","author":"","config":` + config + `,"created":null,"os":"` + os + `"}`
}

// wantArtifact is the row of nm in Harbor schema v.
func wantArtifact(fx *kindsFx, nm string, v int) wantRow {
	w := wantRow{typ: "IMAGE", mediaType: mtOCIConfig, manifestMediaType: mtOCIManifest, artifactType: mtOCIConfig}
	between := func(lo, hi int) bool { return v >= lo && v < hi }
	// The default processor: 2.1–2.9 keep any config as extra_attrs, 2.10+
	// only for a typed artifact, 2.0 never.
	untypedAttrs := func(cfg string) string {
		if between(40, 130) {
			return cfg
		}
		return ""
	}
	typedAttrs := func(cfg string) string {
		if v < 40 {
			return ""
		}
		return cfg
	}
	switch nm {
	case "app":
		w.annotations = `{"org.opencontainers.image.title": "app"}`
		cfg := `{"Env":["PATH=/bin"],"Cmd":["/app"],"Labels":{"org.opencontainers.image.authors":"team@example.com"}`
		switch {
		case v < 50:
			w.extraAttrs = `{"architecture":"amd64","author":null,"created":"2024-01-01T00:00:00Z","os":"linux"}`
		case v < 90: // author from the maintainer label only
			w.extraAttrs = `{"architecture":"amd64","author":"","config":` + cfg + `},"created":"2024-01-01T00:00:00Z","os":"linux"}`
		case v < 111: // no ArgsEscaped in the image-spec vendored
			w.extraAttrs = `{"architecture":"amd64","author":"team@example.com","config":` + cfg + `},"created":"2024-01-01T00:00:00Z","os":"linux"}`
		default:
			w.extraAttrs = `{"architecture":"amd64","author":"team@example.com","config":` + cfg + `,"ArgsEscaped":true},"created":"2024-01-01T00:00:00Z","os":"linux"}`
		}
	case "spdx":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", mtEmpty, testenv.ReferrerArtifactType
		w.annotations = `{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}`
	case "notation":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", mtEmpty, "application/vnd.cncf.notary.signature"
	case "notation-cfg":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", "application/vnd.cncf.notary.signature", "application/vnd.cncf.notary.signature"
	case "hsbom":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", mtEmpty, "application/vnd.goharbor.harbor.sbom.v1"
		if v >= 160 { // looked up by artifact_type: the SBOM processor (2.11+)
			w.typ = "SBOM"
		}
	case "cosign11":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", "application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.cosign.artifact.sig.v1+json"
	case "nydus", "nolayers", "cnab-inv", "foreign-oci":
		w.extraAttrs = plainImage(v, "amd64", "linux", "{}")
	case "tmp", "tmp-old":
		w.extraAttrs = plainImage(v, "amd64", "linux", `{"Labels":{"name":"`+nm+`"}}`)
	case "fallback-app", "fallback-app-1":
		w.mediaType, w.manifestMediaType, w.artifactType = mtOCIIndex, mtOCIIndex, ""
	case "sig":
		if v < 50 {
			w.extraAttrs = `{"architecture":"","author":null,"created":"0001-01-01T00:00:00Z","os":""}`
		} else {
			w.extraAttrs = `{"architecture":"","author":"","config":{},"created":"0001-01-01T00:00:00Z","os":""}`
		}
	case "chart":
		w.typ, w.mediaType, w.artifactType = "CHART", "application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.config.v1+json"
		w.extraAttrs = `{"apiVersion":"v2","description":"demo chart","name":"demo","type":"application","version":"0.1.0"}`
	case "wasm-oci":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", mtWASM, mtWASM
		if v >= 90 {
			w.typ = "WASM"
			w.extraAttrs = `{"manifest.config.mediaType":"application/vnd.wasm.config.v1+json","manifest.layers.mediaType":"application/vnd.wasm.content.layer.v1+wasm","org.opencontainers.image.title":"module.wasm"}`
		}
	case "wasm-compat":
		w.annotations = `{"module.wasm.image/variant": "compat"}`
		image := `{"architecture":"wasm","author":"wasm@example.com","config":{"Entrypoint":["/module.wasm"],"Labels":{"maintainer":"wasm@example.com"}},"created":"2024-01-01T00:00:00Z","os":"wasip1"}`
		switch {
		case v < 50:
			w.extraAttrs = `{"architecture":"wasm","author":null,"created":"2024-01-01T00:00:00Z","os":"wasip1"}`
		case v < 90: // no WASM processor yet: an image
			w.extraAttrs = image
		case v < 160: // media type overridden to WASM, processor looked up by it
			w.typ, w.mediaType = "WASM", mtWASM
			w.extraAttrs = `{"architecture":"wasm","author":"wasm@example.com","config":{"Entrypoint":["/module.wasm"],"Labels":{"maintainer":"wasm@example.com"}},"created":"2024-01-01T00:00:00Z","manifest.config.mediaType":"application/vnd.oci.image.config.v1+json","os":"wasip1"}`
		default: // looked up by artifact_type, the image config's: the image processor
			w.mediaType = mtWASM
			w.extraAttrs = image
		}
	case "cnab":
		w.typ, w.mediaType, w.manifestMediaType, w.artifactType = "CNAB", "application/vnd.cnab.manifest.v1", mtOCIIndex, ""
		w.extraAttrs = cnabConfigJSON
		w.annotations = `{"io.cnab.keywords": "[\"demo\"]", "io.cnab.runtime_version": "v1.0.0", "org.opencontainers.artifactType": "application/vnd.cnab.manifest.v1", "org.opencontainers.image.title": "demo"}`
	case "cnab-config":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", "application/vnd.cnab.config.v1+json", "application/vnd.cnab.config.v1+json"
		w.extraAttrs = untypedAttrs(cnabConfigJSON)
	case "caicloud":
		w.typ, w.mediaType, w.artifactType = "MODEL", "application/vnd.caicloud.model.config.v1alpha1+json", "application/vnd.caicloud.model.config.v1alpha1+json"
		w.extraAttrs = typedAttrs(`{"format":"SavedModel","framework":"tensorflow"}`)
		if v >= 40 {
			w.icon = digest.FromBytes(onePNG).String()
		}
	case "cnai":
		w.typ, w.mediaType, w.artifactType = "MODEL", "application/vnd.cnai.model.config.v1+json", "application/vnd.cnai.model.manifest.v1+json"
		w.extraAttrs = typedAttrs(modelJSON)
		if between(160, 190) {
			w.typ, w.extraAttrs = "CNAI", modelJSON
		}
	case "modelpack":
		w.typ, w.mediaType, w.artifactType = "MODEL", "application/vnd.cncf.model.config.v1+json", "application/vnd.cncf.model.manifest.v1+json"
		w.extraAttrs = typedAttrs(modelJSON)
		if v >= 190 {
			w.typ, w.extraAttrs = "CNAI", modelJSON
		}
	case "unknown":
		w.typ, w.mediaType, w.artifactType = "UNKNOWN", "application/vnd.example.thing.v1+json", "application/vnd.example.thing.v1+json"
		w.extraAttrs = untypedAttrs(`{"k":"v"}`)
	case "foreign":
		w.mediaType, w.manifestMediaType, w.artifactType = mtDockerCfg, mtDockerV2, mtDockerCfg
		w.extraAttrs = plainImage(v, "amd64", "windows", `{"Cmd":["cmd"]}`)
	case "emptycfg":
		w.extraAttrs = `{"architecture":"","author":"","config":{},"created":null,"os":""}`
	case "legacy":
		w.mediaType, w.manifestMediaType, w.artifactType = mtPrettyJWS, mtPrettyJWS, ""
		w.extraAttrs = `{"architecture":"amd64"}`
	default:
		panic("no expectation for " + nm)
	}
	if v < 140 {
		w.artifactType = "" // no column
	}
	if v < 40 {
		w.icon = "" // no column
	}
	return w
}

// wantAccessory is an artifact_accessory row: accessory and subject by
// fixture name.
type wantAccessory struct{ acc, subject, typ, source string }

// wantAccessories are the rows a push of the fixture writes in schema v.
func wantAccessories(v int) []wantAccessory {
	if v < 80 {
		return nil // no table before 2.5
	}
	out := []wantAccessory{{"sig", "app", "signature.cosign", ""}} // legacy cosign, 2.5+
	if v < 110 {
		return out // no subject middleware before 2.8
	}
	typ := func(since map[int]string) string {
		best, t := -1, "subject.accessory"
		for from, ty := range since {
			if v >= from && from > best {
				best, t = from, ty
			}
		}
		return t
	}
	return append(out,
		wantAccessory{"spdx", "app", "subject.accessory", "local"},
		wantAccessory{"notation", "app", typ(map[int]string{140: "signature.notation"}), "local"},
		wantAccessory{"notation-cfg", "app", typ(map[int]string{120: "signature.notation"}), "local"},
		wantAccessory{"hsbom", "app", typ(map[int]string{140: "sbom.harbor"}), "local"},
		wantAccessory{"nydus", "app", typ(map[int]string{130: "accelerator.nydus"}), "local"},
		wantAccessory{"cosign11", "spdx", typ(map[int]string{140: "signature.cosign"}), "local"},
	)
}

// fixtureNames is every artifact of the kinds fixture.
func fixtureNames(fx *kindsFx) []string {
	var out []string
	for nm := range fx.art {
		out = append(out, nm)
	}
	sort.Strings(out)
	return out
}

// TestKindsIntoEveryHarborVersion imports a storage holding every artifact
// kind (pushed for real) into a fresh database of each supported Harbor
// schema and checks, per version, the artifact rows (type, media types,
// artifact_type, extra_attrs, icon, annotations, sizes), the accessory
// rows, tags and index references, what is left out and why, the
// invariants Harbor's GC and quota rely on, that a second run changes
// nothing, and that every artifact pulls back by digest from a real
// registry over Harbor's storage.
func TestKindsIntoEveryHarborVersion(t *testing.T) {
	fx := kinds(t)
	for _, v := range harborschema.Versions() {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := harborDBVersion(t, v)
			data := harborData(t)
			// SkipInvalid: Harbor 2.0–2.1 cannot import the empty config (a push fails).
			rep, err := importer.Run(ctx, importer.Options{Source: fx.tarball, HarborData: data, DSN: dsn, SkipInvalid: true})
			if err != nil {
				t.Fatalf("import into schema %d: %v", v, err)
			}
			conn := connect(t, dsn)
			if want := len(wantAccessories(v)); rep.Rows.Accessories != int64(want) {
				t.Errorf("report counts %d artifact_accessory rows, want %d", rep.Rows.Accessories, want)
			}
			checkKindRows(t, conn, fx, v)
			checkKindReport(t, rep, fx, v)
			checkKindInvariants(t, conn, v)
			pullKinds(t, conn, data, fx)

			before := dbState(t, conn)
			rep2, err := importer.Run(ctx, importer.Options{Source: fx.tarball, HarborData: data, DSN: dsn, SkipInvalid: true})
			if err != nil {
				t.Fatalf("second import: %v", err)
			}
			if rep2.Rows.Total() != 0 {
				t.Errorf("second import wrote rows: %+v", rep2.Rows)
			}
			if after := dbState(t, conn); !reflect.DeepEqual(before, after) {
				t.Errorf("second import changed rows:\n%s", diffStates(before, after))
			}
		})
	}
}

// checkKindRows compares the artifact, accessory, tag and reference rows
// with what schema v's push writes.
func checkKindRows(t *testing.T, conn *pgx.Conn, fx *kindsFx, v int) {
	t.Helper()
	ctx := context.Background()
	byDigest := map[string]string{}
	for nm, a := range fx.art {
		byDigest[a.Repo+"@"+a.Digest] = nm
	}
	rows, err := conn.Query(ctx, `SELECT a.repository_name || '@' || a.digest, a.type, a.media_type, a.manifest_media_type,
		COALESCE(to_jsonb(a)->>'artifact_type', ''), COALESCE(a.extra_attrs, '<NULL>'), COALESCE(to_jsonb(a)->>'icon', ''),
		COALESCE(a.annotations::text, ''), a.size, a.id FROM artifact a`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Key string
		wantRow
		Size int64
		ID   int64
	}
	got := map[string]row{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Key, &r.typ, &r.mediaType, &r.manifestMediaType, &r.artifactType, &r.extraAttrs, &r.icon, &r.annotations, &r.Size, &r.ID); err != nil {
			t.Fatal(err)
		}
		nm, ok := byDigest[r.Key]
		if !ok {
			t.Errorf("artifact %s is not one of the fixture's", r.Key)
			continue
		}
		got[nm] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, nm := range fixtureNames(fx) {
		r, ok := got[nm]
		if ok != imported(nm, v) {
			t.Errorf("%s: imported %v, want %v", nm, ok, imported(nm, v))
			continue
		}
		if !ok {
			continue
		}
		ids[nm] = r.ID
		want := wantArtifact(fx, nm, v)
		r.annotations, want.annotations = normJSON(t, r.annotations), normJSON(t, want.annotations)
		if r.wantRow != want {
			t.Errorf("%s:\n got %+v\nwant %+v", nm, r.wantRow, want)
		}
	}
	// Sizes of an index: its bytes plus its children's artifact sizes (abstractor.go:177-194).
	for _, idx := range []struct {
		nm       string
		children []string
	}{{"fallback-app", []string{"spdx", "notation"}}, {"cnab", []string{"cnab-config", "cnab-inv"}}} {
		want := int64(len(fx.art[idx.nm].Raw))
		for _, c := range idx.children {
			want += got[c].Size
		}
		if got[idx.nm].Size != want {
			t.Errorf("%s: size %d, want %d", idx.nm, got[idx.nm].Size, want)
		}
	}
	// Schema 1: 0 in 2.0–2.1, else the manifest as a freshly started
	// registry serves it (signed by its own key) plus each layer once.
	legacy := got["legacy"].Size
	if v < 50 {
		if legacy != 0 {
			t.Errorf("legacy: size %d, want 0 (Harbor %s sets none)", legacy, harborschema.ReleaseOf(v))
		}
	} else {
		want := int64(len(resignSchema1(t, fx.art["legacy"].Raw)))
		var m struct{ FSLayers []struct{ BlobSum string } }
		_ = json.Unmarshal(fx.art["legacy"].Raw, &m)
		seen := map[string]bool{}
		for _, l := range m.FSLayers {
			if !seen[l.BlobSum] {
				seen[l.BlobSum] = true
				want += fx.layerSizes[l.BlobSum]
			}
		}
		if legacy != want {
			t.Errorf("legacy: size %d, want %d (re-signed manifest + distinct layers)", legacy, want)
		}
	}

	// Accessories.
	if v >= 80 {
		rows, err := conn.Query(ctx, `SELECT x.artifact_id, x.subject_artifact_id, x.type, x.size, x.digest,
			COALESCE(to_jsonb(x)->>'subject_artifact_digest', ''), COALESCE(to_jsonb(x)->>'subject_artifact_repo', ''),
			COALESCE(to_jsonb(x)->>'source', '<none>') FROM artifact_accessory x`)
		if err != nil {
			t.Fatal(err)
		}
		type acc struct {
			ArtifactID, SubjectID int64
			Type                  string
			Size                  int64
			Digest, SubjectDigest string
			SubjectRepo, Source   string
		}
		accs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[acc])
		if err != nil {
			t.Fatal(err)
		}
		name := map[int64]string{}
		for nm, id := range ids {
			name[id] = nm
		}
		var gotAcc []string
		for _, a := range accs {
			nm := name[a.ArtifactID]
			line := fmt.Sprintf("%s -> %s %s source=%s", nm, name[a.SubjectID], a.Type, a.Source)
			gotAcc = append(gotAcc, line)
			wantSize := got[nm].Size // the artifact's size (2.8+)
			if v < 110 {
				wantSize = int64(len(fx.art[nm].Raw)) // the manifest's length (2.5–2.7)
			}
			if a.Size != wantSize || a.Digest != fx.art[nm].Digest {
				t.Errorf("accessory %s: size %d digest %s, want %d %s", nm, a.Size, a.Digest, wantSize, fx.art[nm].Digest)
			}
			if v >= 110 {
				subj := ""
				for _, w := range wantAccessories(v) {
					if w.acc == nm {
						subj = fx.art[w.subject].Digest
					}
				}
				if a.SubjectDigest != subj || a.SubjectRepo != kRepoApp {
					t.Errorf("accessory %s: subject %s in %s, want %s in %s", nm, a.SubjectDigest, a.SubjectRepo, subj, kRepoApp)
				}
			}
		}
		var wantAcc []string
		for _, w := range wantAccessories(v) {
			src := w.source
			if v < 190 {
				src = "<none>"
			}
			wantAcc = append(wantAcc, fmt.Sprintf("%s -> %s %s source=%s", w.acc, w.subject, w.typ, src))
		}
		sort.Strings(gotAcc)
		sort.Strings(wantAcc)
		if !slices.Equal(gotAcc, wantAcc) {
			t.Errorf("accessories (- want, + got):\n%s", diffLines(wantAcc, gotAcc))
		}
	}

	// Tags, including the referrers fallback tag and the legacy cosign tag.
	rows, err = conn.Query(ctx, `SELECT r.name || ':' || t.name || '@' || a.digest FROM tag t
		JOIN repository r ON r.repository_id = t.repository_id JOIN artifact a ON a.id = t.artifact_id`)
	if err != nil {
		t.Fatal(err)
	}
	gotTags, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var wantTags []string
	for _, nm := range fixtureNames(fx) {
		if a := fx.art[nm]; a.Tag != "" && imported(nm, v) {
			wantTags = append(wantTags, a.Repo+":"+a.Tag+"@"+a.Digest)
		}
	}
	sort.Strings(gotTags)
	sort.Strings(wantTags)
	if !slices.Equal(gotTags, wantTags) {
		t.Errorf("tags (- want, + got):\n%s", diffLines(wantTags, gotTags))
	}
	// The fallback index is an ordinary index: its referrers are its children.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact_reference r JOIN artifact p ON p.id = r.parent_id
		WHERE p.digest = $1`, fx.art["fallback-app"].Digest).Scan(&n); err != nil || n != 2 {
		t.Errorf("fallback index: %d children (%v), want 2", n, err)
	}
}

// normJSON re-marshals a JSON object with sorted keys (jsonb orders keys
// by length); "" stays "".
func normJSON(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return ""
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// checkKindReport checks what the report says was left out, and why.
func checkKindReport(t *testing.T, rep *importer.Report, fx *kindsFx, v int) {
	t.Helper()
	var skipped []string
	for _, s := range rep.Skipped {
		skipped = append(skipped, s.Kind+" "+s.Repository+":"+s.Tag)
	}
	var wantSkipped []string
	if v < 50 {
		wantSkipped = []string{"unsupported " + kRepoEmpty + ":v1"}
	}
	if !slices.Equal(skipped, wantSkipped) {
		t.Errorf("skipped %v, want %v", skipped, wantSkipped)
	}
	var wantUntagged []string
	for _, nm := range fixtureNames(fx) {
		if !imported(nm, v) && nm != "emptycfg" {
			wantUntagged = append(wantUntagged, fx.art[nm].Repo+"@"+fx.art[nm].Digest)
		}
	}
	got := slices.Clone(rep.UntaggedSkipped)
	sort.Strings(got)
	sort.Strings(wantUntagged)
	if !slices.Equal(got, wantUntagged) {
		t.Errorf("untagged skipped (- want, + got):\n%s", diffLines(wantUntagged, got))
	}
	warnings := strings.Join(rep.Warnings, "\n")
	for _, w := range []struct {
		text string
		want bool
	}{
		{"1 Docker schema 1 manifests", true},
		{"4 OCI referrers", v < 110},
		{"by tag", v >= 180},
	} {
		if strings.Contains(warnings, w.text) != w.want {
			t.Errorf("warnings %q: contains %q = %v, want %v", rep.Warnings, w.text, !w.want, w.want)
		}
	}
}

// checkKindInvariants runs checkInvariants over schema v. Schema 1
// artifacts are left out of its view: their size counts the manifest as
// re-signed by the registry, longer than the blob (harbor-facts §2.7).
func checkKindInvariants(t *testing.T, conn *pgx.Conn, v int) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	stmts := []string{`CREATE TEMP TABLE artifact ON COMMIT DROP AS SELECT * FROM artifact WHERE manifest_media_type <> '` + mtPrettyJWS + `'`}
	if v < 80 {
		stmts = append(stmts, `CREATE TEMP TABLE artifact_accessory (artifact_id int) ON COMMIT DROP`)
	}
	if v < 50 {
		real := "cve_allowlist"
		if v < 40 {
			real = "cve_whitelist"
		}
		stmts = append(stmts, `CREATE TEMP TABLE cve_allowlist ON COMMIT DROP AS
			SELECT project_id FROM `+real+` UNION SELECT project_id FROM project WHERE name = 'library'`)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	checkInvariants(t, tx.Conn())
}

// pullKinds serves Harbor's storage with a real registry and pulls every
// artifact row by digest: manifest digest, config and layers hashed. A
// foreign layer has no data in a push either: the registry must answer 404
// for it. Schema 1 is checked in the storage instead, where a registry
// serving it would read it: distribution v3 no longer serves schema 1.
func pullKinds(t *testing.T, conn *pgx.Conn, data string, fx *kindsFx) {
	t.Helper()
	ctx := context.Background()
	reg, err := testenv.StartRegistry(ctx, filepath.Join(data, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	rows, err := conn.Query(ctx, `SELECT repository_name, digest, manifest_media_type FROM artifact ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type art struct{ Repo, Digest, MediaType string }
	arts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[art])
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(data, "registry", "docker", "registry", "v2")
	for _, a := range arts {
		if a.MediaType == mtPrettyJWS {
			checkSchema1Storage(t, v2, a.Repo, digest.Digest(a.Digest))
			continue
		}
		if err := pullByDigest(ctx, reg.Host(), a.Repo, a.Digest); err != nil {
			t.Errorf("pulling %s@%s: %v", a.Repo, a.Digest, err)
		}
	}
}

func pullByDigest(ctx context.Context, host, repo, dgst string) error {
	r, err := name.NewRepository(host+"/"+repo, name.Insecure, name.StrictValidation)
	if err != nil {
		return err
	}
	desc, err := remote.Get(r.Digest(dgst), remote.WithContext(ctx), remote.WithAuth(authn.Anonymous))
	if err != nil {
		return err
	}
	if got := digest.FromBytes(desc.Manifest).String(); got != dgst {
		return fmt.Errorf("manifest hashes to %s", got)
	}
	if desc.MediaType.IsIndex() {
		return nil // each child is an artifact row of its own
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return err
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		u := "http://" + host + "/v2/" + repo + "/blobs/" + d.Digest.String()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		foreign := len(d.URLs) > 0
		switch {
		case foreign && resp.StatusCode != http.StatusNotFound:
			return fmt.Errorf("foreign layer %s: %s, want 404 (no data, as after a push)", d.Digest, resp.Status)
		case foreign:
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("blob %s: %s", d.Digest, resp.Status)
		case digest.FromBytes(b) != d.Digest || int64(len(b)) != d.Size:
			return fmt.Errorf("blob %s: got %d bytes hashing to %s", d.Digest, len(b), digest.FromBytes(b))
		}
	}
	return nil
}

// checkSchema1Storage: the canonical payload is the blob, linked as a
// revision, and every layer is linked in the repository.
func checkSchema1Storage(t *testing.T, v2, repo string, d digest.Digest) {
	t.Helper()
	read := func(spec regpath.Spec) []byte {
		rel, err := regpath.For(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(v2, filepath.FromSlash(rel)))
		if err != nil {
			t.Errorf("schema 1 %s@%s: %v", repo, d, err)
		}
		return b
	}
	raw := read(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if digest.FromBytes(raw) != d {
		t.Errorf("schema 1 %s@%s: blob hashes to %s", repo, d, digest.FromBytes(raw))
	}
	if l := read(regpath.Spec{Kind: regpath.RevisionLink, Repo: repo, Digest: d}); string(l) != d.String() {
		t.Errorf("schema 1 %s@%s: revision link holds %q", repo, d, l)
	}
	var m struct {
		FSLayers []struct{ BlobSum digest.Digest }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.FSLayers {
		if b := read(regpath.Spec{Kind: regpath.BlobData, Digest: l.BlobSum}); digest.FromBytes(b) != l.BlobSum {
			t.Errorf("schema 1 layer %s: data hashes to %s", l.BlobSum, digest.FromBytes(b))
		}
		if b := read(regpath.Spec{Kind: regpath.LayerLink, Repo: repo, Digest: l.BlobSum}); string(b) != l.BlobSum.String() {
			t.Errorf("schema 1 layer link %s: holds %q", l.BlobSum, b)
		}
	}
}

// resignSchema1 signs canonical payload p as a distribution v2 registry
// does on every GET of a schema 1 manifest when it has no configured key:
// with a freshly generated P-256 key, as a libtrust JWS in "pretty" form
// (the payload up to its closing brace, a "signatures" member formatted like
// the payload, "}"). It is written from the JWS format, independently of
// the importer's length computation, and returns the served bytes.
func resignSchema1(t *testing.T, p []byte) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	kid := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var groups []string
	for i := 0; i < len(kid); i += 4 {
		groups = append(groups, kid[i:min(i+4, len(kid))])
	}
	pad := func(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	closing := strings.LastIndexFunc(string(p), func(r rune) bool { return !unicode.IsSpace(r) })
	formatLength := strings.LastIndexFunc(string(p[:closing]), func(r rune) bool { return !unicode.IsSpace(r) }) + 1
	protected, _ := json.Marshal(map[string]any{"formatLength": formatLength, "formatTail": b64(p[formatLength:]),
		"time": time.Now().UTC().Format(time.RFC3339)})
	signingInput := b64(protected) + "." + b64(p)
	h := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(pad(r.Bytes()), pad(s.Bytes())...)
	sigs := []map[string]any{{
		"header": map[string]any{
			"jwk": map[string]any{"crv": "P-256", "kid": strings.Join(groups, ":"), "kty": "EC",
				"x": b64(pad(key.PublicKey.X.Bytes())), "y": b64(pad(key.PublicKey.Y.Bytes()))},
			"alg": "ES256",
		},
		"signature": b64(sig),
		"protected": b64(protected),
	}}
	indent := ""
	if len(p) > 2 && p[0] == '{' && p[1] == '\n' {
		indent = string(p[2 : 1+strings.IndexByte(string(p[1:]), '"')])
	}
	out := append([]byte{}, p[:formatLength]...)
	out = append(out, ',')
	if indent != "" {
		m, _ := json.MarshalIndent(sigs, indent, indent)
		out = append(out, "\n"+indent+`"signatures": `...)
		out = append(out, m...)
		out = append(out, '\n')
	} else {
		m, _ := json.Marshal(sigs)
		out = append(out, `"signatures":`...)
		out = append(out, m...)
	}
	return append(out, '}')
}

// TestKindsIncludeUntagged: --include-untagged imports what no tag,
// index or subject reaches, and warns about what Harbor's GC will delete:
// on 2.15 the stale revision; on 2.7, without referrers support, the
// referrers too (as plain artifacts, no accessory rows beyond legacy cosign).
func TestKindsIncludeUntagged(t *testing.T) {
	fx := kinds(t)
	for _, tc := range []struct {
		v       int
		exposed []string
	}{
		{180, []string{"fallback-app-1", "tmp-old"}},
		{100, []string{"cosign11", "fallback-app-1", "hsbom", "notation-cfg", "nydus", "tmp-old"}},
	} {
		t.Run(fmt.Sprint(tc.v), func(t *testing.T) {
			t.Parallel()
			dsn := harborDBVersion(t, tc.v)
			rep, err := importer.Run(context.Background(), importer.Options{Source: fx.tarball, HarborData: harborData(t), DSN: dsn, IncludeUntagged: true})
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if len(rep.UntaggedSkipped) != 0 {
				t.Errorf("untagged skipped: %v, want none", rep.UntaggedSkipped)
			}
			conn := connect(t, dsn)
			rows, err := conn.Query(context.Background(), `SELECT a.repository_name || '@' || a.digest FROM artifact a
				WHERE NOT EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id)
				AND NOT EXISTS (SELECT 1 FROM artifact_reference r WHERE r.child_id = a.id)
				AND NOT EXISTS (SELECT 1 FROM artifact_accessory x WHERE x.artifact_id = a.id)`)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, nm := range tc.exposed {
				want = append(want, fx.art[nm].Repo+"@"+fx.art[nm].Digest)
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("artifacts GC would delete (- want, + got):\n%s", diffLines(want, got))
			}
			warn := fmt.Sprintf("%d of them are neither index children nor accessories", len(tc.exposed))
			if !strings.Contains(strings.Join(rep.Warnings, "\n"), warn) {
				t.Errorf("warnings %q: want one saying %q", rep.Warnings, warn)
			}
		})
	}
}

// TestKindsFromDirectory: a directory source gives the same rows as the
// tarball (icons are sniffed from the file, not from the archive scan), and
// so does the tarball's dry-run script (icons sniffed from the heads the
// scan kept).
func TestKindsFromDirectory(t *testing.T) {
	fx := kinds(t)
	ctx := context.Background()
	const query = `SELECT repository_name || '@' || digest || ' ' || type || ' ' || COALESCE(extra_attrs, '') || ' ' || icon || ' ' || size FROM artifact ORDER BY 1`
	rowsIn := func(dsn string) []string {
		rows, err := connect(t, dsn).Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rowsOf := func(src string) []string {
		dsn := harborDB(t)
		if _, err := importer.Run(ctx, importer.Options{Source: src, HarborData: harborData(t), DSN: dsn}); err != nil {
			t.Fatalf("import of %s: %v", src, err)
		}
		return rowsIn(dsn)
	}
	tar, dir := rowsOf(fx.tarball), rowsOf(copyTree(t, fx.root))
	if !slices.Equal(tar, dir) {
		t.Errorf("directory and tarball rows differ (- tarball, + directory):\n%s", diffLines(tar, dir))
	}
	icon := digest.FromBytes(onePNG).String()
	if !slices.ContainsFunc(dir, func(r string) bool { return strings.Contains(r, " "+icon+" ") }) {
		t.Errorf("no artifact has the icon %s: %v", icon, dir)
	}

	dsn := harborDB(t)
	if out, err := applyScript(t, dsn, dryRunScript(t, fx.tarball, harborData(t), ""), inOneTransaction); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if dry := rowsIn(dsn); !slices.Equal(tar, dry) {
		t.Errorf("the tarball's dry-run script gives other rows than its import (- import, + script):\n%s", diffLines(tar, dry))
	}
}
