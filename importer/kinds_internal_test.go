package importer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The one schema 1 size observed on a real Harbor v2.15.2 (harbor-facts
// §7): a 495-byte canonical payload (indented with three spaces, as docker
// and distribution write it) was served as 1138 bytes.
func TestSchema1ServedSizeObserved(t *testing.T) {
	m := map[string]any{"schemaVersion": 1, "name": "library/old", "tag": "v1", "architecture": "amd64",
		"fsLayers": []map[string]string{{"blobSum": digest.FromString("l").String()}}, "history": []map[string]string{{"v1Compatibility": ""}}}
	raw, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	// Pad the v1Compatibility string to reach exactly 495 bytes.
	m["history"] = []map[string]string{{"v1Compatibility": strings.Repeat("x", 495-len(raw))}}
	if raw, err = json.MarshalIndent(m, "", "   "); err != nil || len(raw) != 495 {
		t.Fatalf("payload of %d bytes (%v), want 495", len(raw), err)
	}
	got, err := schema1ServedSize(raw)
	if err != nil || got != 1138 {
		t.Errorf("got %d (%v), want 1138", got, err)
	}
	// Compact payloads get a compact signature member.
	compact := []byte(`{"schemaVersion":1,"fsLayers":[]}`)
	if n, err := schema1ServedSize(compact); err != nil || n <= int64(len(compact)) {
		t.Errorf("compact payload: got %d (%v)", n, err)
	}
	for _, bad := range []string{`[]`, `{"a":1,}`, ` `} {
		if _, err := schema1ServedSize([]byte(bad)); !errors.Is(err, ErrCorruptSource) {
			t.Errorf("%q: got %v, want ErrCorruptSource", bad, err)
		}
	}
}

func TestCosignSubject(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		tag  string
		want bool
	}{
		{"sha256-" + hex + ".sig", true},
		{"sha256-" + hex + "xsig", true}, // the middleware's dot is unescaped
		{"sha256-" + hex, false},         // the referrers fallback tag
		{"sha256-" + hex + ".att", false},
		{"sha256-" + hex + ".sbom", false},
		{"sha256-" + strings.ToUpper(hex) + ".sig", false},
	} {
		d, ok := cosignSubject(tc.tag)
		if ok != tc.want || (ok && d.String() != "sha256:"+hex) {
			t.Errorf("%s: got %s %v, want %v", tc.tag, d, ok, tc.want)
		}
	}
}

// manifestOf parses an OCI manifest built by edit.
func manifestOf(t *testing.T, edit func(*ocispec.Manifest)) *manifest {
	t.Helper()
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: "application/vnd.example.thing.v1+json", Digest: digest.FromString("c"), Size: 7}}
	m.SchemaVersion = 2
	if edit != nil {
		edit(&m)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := parseManifest(digest.FromBytes(raw), raw)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func withConfig(data []byte, ok bool) abstractInput {
	return abstractInput{config: func() ([]byte, bool, error) { return data, ok, nil }}
}

// The default processor across versions: when a push fails and what an
// untyped artifact keeps.
func TestDefaultProcessorVersions(t *testing.T) {
	untyped := manifestOf(t, nil)
	typed := manifestOf(t, func(m *ocispec.Manifest) { m.Config.MediaType = "application/vnd.acme.rocket.config.v1+json" })
	for _, tc := range []struct {
		name    string
		m       *manifest
		in      abstractInput
		version int64
		typ     string
		attrs   string
		fails   bool
	}{
		{"2.0 keeps nothing", untyped, withConfig([]byte(`{"a":1}`), true), 30, "UNKNOWN", "", false},
		{"2.1 keeps an untyped config", untyped, withConfig([]byte(`{"a":1}`), true), 40, "UNKNOWN", `{"a":1}`, false},
		{"2.9 fails on a config that is not an object", untyped, withConfig([]byte(`"a"`), true), 120, "", "", true},
		{"2.9 fails without the config", untyped, withConfig(nil, false), 120, "", "", true},
		{"2.10 ignores an untyped config", untyped, withConfig([]byte(`"a"`), false), 130, "UNKNOWN", "", false},
		{"2.10 types by media type", typed, withConfig([]byte(`{"b":2}`), true), 130, "ROCKET", `{"b":2}`, false},
		{"2.10 fails on an empty typed config", typed, withConfig([]byte{}, true), 180, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := abstract(tc.m, tc.in, flavorOf(tc.version))
			if tc.fails {
				if !errors.Is(err, errPushFails) {
					t.Errorf("got %+v, %v; want errPushFails", r, err)
				}
				return
			}
			if err != nil || r.Type != tc.typ || r.ExtraAttrs != tc.attrs {
				t.Errorf("got %s %q (%v), want %s %q", r.Type, r.ExtraAttrs, err, tc.typ, tc.attrs)
			}
		})
	}
}

// The icon is the first icon-annotated layer, only when it sniffs as an
// image, only for the default processor, from 2.1 on.
func TestIcon(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n0000")
	text := []byte("not an image")
	l1, l2 := digest.FromBytes(png), digest.FromBytes(text)
	heads := map[digest.Digest][]byte{l1: png, l2: text}
	in := withConfig([]byte(`{}`), true)
	in.blobHead = func(d digest.Digest) ([]byte, bool, error) { b, ok := heads[d]; return b, ok, nil }
	icon := map[string]string{annIcon: ""}
	for _, tc := range []struct {
		name    string
		cfgType string
		layers  []ocispec.Descriptor
		version int64
		want    string
	}{
		{"png", "application/vnd.example.thing.v1+json", []ocispec.Descriptor{{Digest: l1, Size: 12, Annotations: icon}}, 180, l1.String()},
		{"first annotated wins", "application/vnd.example.thing.v1+json", []ocispec.Descriptor{{Digest: l2, Size: 12, Annotations: icon}, {Digest: l1, Size: 12, Annotations: icon}}, 180, ""},
		{"missing data", "application/vnd.example.thing.v1+json", []ocispec.Descriptor{{Digest: digest.FromString("x"), Size: 1, Annotations: icon}}, 180, ""},
		{"image processor ignores it", ocispec.MediaTypeImageConfig, []ocispec.Descriptor{{Digest: l1, Size: 12, Annotations: icon}}, 180, ""},
		{"2.0 has no parser", "application/vnd.example.thing.v1+json", []ocispec.Descriptor{{Digest: l1, Size: 12, Annotations: icon}}, 31, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := manifestOf(t, func(m *ocispec.Manifest) { m.Config.MediaType, m.Layers = tc.cfgType, tc.layers })
			r, err := abstract(m, in, flavorOf(tc.version))
			if err != nil || r.Icon != tc.want {
				t.Errorf("got icon %q (%v), want %q", r.Icon, err, tc.want)
			}
		})
	}
}

func TestProcessorKeys(t *testing.T) {
	for _, tc := range []struct {
		key     string
		version int64
		want    procKind
	}{
		{mtWASMConfig, 82, procDefault}, {mtWASMConfig, 90, procWASM},
		{mtHarborSBOM, 130, procDefault}, {mtHarborSBOM, 140, procSBOM},
		{mtCNAI, 150, procDefault}, {mtCNAI, 160, procCNAI}, {mtCNAI, 181, procCNAI}, {mtCNAI, 190, procDefault},
		{mtModelPack, 181, procDefault}, {mtModelPack, 190, procCNAI},
		{mtCNAB, 30, procCNAB}, {mtHelmConfig, 30, procChart}, {mtSchema1Signed, 30, procSchema1},
	} {
		if got := flavorOf(tc.version).processor(tc.key); got != tc.want {
			t.Errorf("%s in %d: got %d, want %d", tc.key, tc.version, got, tc.want)
		}
	}
}

func TestSubjectAccessoryType(t *testing.T) {
	nydus := manifestOf(t, func(m *ocispec.Manifest) {
		m.Config.MediaType = mtDockerConfig
		m.Layers = []ocispec.Descriptor{{Digest: digest.FromString("b"), Size: 1, Annotations: map[string]string{annNydusBootstrap: "true"}}}
	})
	bundle := manifestOf(t, func(m *ocispec.Manifest) {
		m.ArtifactType = mtSigstoreBundle
		m.Config.MediaType = ocispec.MediaTypeEmptyJSON
	})
	for _, tc := range []struct {
		m       *manifest
		version int64
		want    string
	}{
		{nydus, 111, accSubject}, {nydus, 120, accNydus},
		{bundle, 171, accSubject}, {bundle, 180, accCosign},
	} {
		if got := flavorOf(tc.version).subjectAccessoryType(tc.m); got != tc.want {
			t.Errorf("%s in %d: got %s, want %s", tc.m.ArtifactType+tc.m.Config.MediaType, tc.version, got, tc.want)
		}
	}
}
