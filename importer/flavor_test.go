package importer

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestFlavorArgsEscaped(t *testing.T) {
	config := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh","-c","run"],"ArgsEscaped":true},"created":"2024-01-01T00:00:00Z"}`)
	for _, tc := range []struct {
		version int64
		want    bool
	}{{30, false}, {100, false}, {110, false}, {111, true}, {180, true}, {190, true}} {
		got, err := imageExtraAttrs(config, flavorOf(tc.version).argsEscaped)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(got, `"ArgsEscaped":true`); has != tc.want {
			t.Errorf("schema %d: extra_attrs %s; ArgsEscaped present = %v, want %v", tc.version, got, has, tc.want)
		}
	}
}

// An image-config manifest with an artifactType is abstracted by the
// processor of its key: since 2.13 the artifact_type, which has no
// processor, so the default one types it by the config media type's middle
// part ("image" → IMAGE) and stores the whole config; before, the media
// type, so the image processor and its five-key map.
func TestFlavorProcessorKey(t *testing.T) {
	config := []byte(`{"os":"linux","architecture":"amd64"}`)
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",
		"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digest.FromBytes(config).String() + `","size":37},
		"layers":[]}`)
	m, err := parseManifest(digest.FromBytes(raw), raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version   int64
		wantType  string
		wantAttrs string
	}{
		{150, "IMAGE", `{"architecture":"amd64","author":"","config":{},"created":null,"os":"linux"}`},
		{160, "IMAGE", `{"architecture":"amd64","os":"linux"}`},
		{180, "IMAGE", `{"architecture":"amd64","os":"linux"}`},
	} {
		r, err := deriveArtifact(m, config, flavorOf(tc.version))
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != tc.wantType || r.ExtraAttrs != tc.wantAttrs || r.ArtifactType != "application/spdx+json" {
			t.Errorf("schema %d: got type %s, extra_attrs %s, artifact_type %s; want %s, %s, application/spdx+json",
				tc.version, r.Type, r.ExtraAttrs, r.ArtifactType, tc.wantType, tc.wantAttrs)
		}
	}
}

// An OCI 1.1 artifact with the empty config is UNKNOWN with extra_attrs ”
// (observed on 2.15.2, harbor-facts §2.7).
func TestEmptyConfigArtifactIsUnknown(t *testing.T) {
	config := []byte(`{}`)
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",
		"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digest.FromBytes(config).String() + `","size":2},
		"layers":[]}`)
	m, err := parseManifest(digest.FromBytes(raw), raw)
	if err != nil {
		t.Fatal(err)
	}
	r, err := deriveArtifact(m, config, flavorOf(180))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "UNKNOWN" || r.ExtraAttrs != "" || r.MediaType != "application/vnd.oci.empty.v1+json" {
		t.Errorf("got %+v; want UNKNOWN, '' extra_attrs, empty media type", r)
	}
}
