package importer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest, config and layer media types Harbor treats specially
// (harbor-facts §7; Harbor's processors and middlewares as cited).
const (
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mtSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	mtForeignLayer   = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	// mtSchema1Layer is the media type distribution's schema1 References()
	// gives every fsLayer, which Harbor's blob Sync then stores as the
	// layer's content_type (src/server/middleware/blob/put_manifest.go:80).
	mtSchema1Layer = "application/vnd.docker.container.image.rootfs.diff+x-gtar"

	mtHelmConfig = "application/vnd.cncf.helm.config.v1+json"    // processor/chart/chart.go:42
	mtCNAB       = "application/vnd.cnab.manifest.v1"            // processor/cnab/cnab.go:29
	mtWASMConfig = "application/vnd.wasm.config.v1+json"         // processor/wasm/wasm.go:44 (2.6+)
	mtHarborSBOM = "application/vnd.goharbor.harbor.sbom.v1"     // processor/sbom/sbom.go:35 (2.11+)
	mtCNAI       = "application/vnd.cnai.model.manifest.v1+json" // CloudNativeAI model-spec v0.0.3/v0.0.5 (2.13–2.15)
	mtModelPack  = "application/vnd.cncf.model.manifest.v1+json" // modelpack model-spec v0.0.7 (main, 2.16)

	mtNotation            = "application/vnd.cncf.notary.signature"            // subject.go:40
	mtCosignSig           = "application/vnd.dev.cosign.artifact.sig.v1+json"  // subject.go:43 (2.11+)
	mtSigstoreBundle      = "application/vnd.dev.sigstore.bundle.v0.3+json"    // subject.go:45 (2.15+)
	mtCosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json" // cosign.go:45

	annWASMVariant    = "module.wasm.image/variant" // = "compat", processor/wasm/wasm.go:37
	annWASMHandler    = "run.oci.handler"           // = "wasm"
	annArtifactType   = "org.opencontainers.artifactType"
	annCNABType       = "io.cnab.manifest.type"
	annIcon           = "io.goharbor.artifact.v1alpha1.icon"      // annotation/v1alpha1.go:77
	annSkipList       = "io.goharbor.artifact.v1alpha1.skip-list" // annotation/v1alpha1.go:66
	annNydusBootstrap = "containerd.io/snapshot/nydus-bootstrap"  // subject.go:48
	annImageTitle     = "org.opencontainers.image.title"
)

// artifact_accessory.type values (src/pkg/accessory/model/accessory.go:66-81).
const (
	accCosign   = "signature.cosign"
	accNotation = "signature.notation"
	accNydus    = "accelerator.nydus"
	accSubject  = "subject.accessory"
	accSBOM     = "sbom.harbor"
)

// errPushFails marks content the target Harbor's own push would refuse
// (its processor fails, so no artifact row is written); the planner reports
// it as "unsupported".
var errPushFails = errors.New("a push to this Harbor fails")

// manifest is a parsed manifest, index or Docker schema 1 manifest.
type manifest struct {
	Digest    digest.Digest
	MediaType string // as Harbor records it (harbor-facts §2.7 manifest_media_type)
	Raw       []byte
	IsIndex   bool
	IsSchema1 bool
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
	Manifests []ocispec.Descriptor
	// ArtifactType and Annotations are the top-level fields.
	ArtifactType string
	Annotations  map[string]string
	Subject      *ocispec.Descriptor
	// Architecture and FSLayers (blobSum, in manifest order, repeats kept)
	// are schema 1's.
	Architecture string
	FSLayers     []digest.Digest
}

// parseManifest parses raw the way the registry does to pick its media
// type: the mediaType field, or for OCI content without one, an index when it
// has "manifests" and an image manifest otherwise. A schemaVersion 1 blob is
// a schema 1 manifest: a registry stores only the canonical payload of a
// signed schema 1 push (harbor-facts §7), and Harbor records it as
// …v1+prettyjws (abstractor.go:90-95). Unknown types are refused with a
// message naming the type.
func parseManifest(d digest.Digest, raw []byte) (*manifest, error) {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("manifest %s is not valid JSON: %w", d, err)
	}
	mt := probe.MediaType
	if probe.SchemaVersion == 1 {
		return parseSchema1(d, raw)
	}
	if mt == mtSchema1Signed || mt == mtSchema1 {
		return nil, fmt.Errorf("manifest %s has media type %q but schemaVersion %d, which Harbor does not accept as a manifest", d, mt, probe.SchemaVersion)
	}
	if mt == "" && probe.SchemaVersion == 2 {
		if probe.Manifests != nil {
			mt = ocispec.MediaTypeImageIndex
		} else if probe.Config != nil {
			mt = ocispec.MediaTypeImageManifest
		}
	}
	m := &manifest{Digest: d, MediaType: mt, Raw: raw}
	switch mt {
	case ocispec.MediaTypeImageManifest, mtDockerManifest:
		var om ocispec.Manifest
		if err := json.Unmarshal(raw, &om); err != nil {
			return nil, fmt.Errorf("manifest %s (%s): %w", d, mt, err)
		}
		m.Config, m.Layers, m.ArtifactType, m.Annotations, m.Subject = om.Config, om.Layers, om.ArtifactType, om.Annotations, om.Subject
		if err := om.Config.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("manifest %s (%s): config digest %q: %w", d, mt, om.Config.Digest, err)
		}
		for _, l := range om.Layers {
			if err := l.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("manifest %s (%s): layer digest %q: %w", d, mt, l.Digest, err)
			}
		}
	case ocispec.MediaTypeImageIndex, mtDockerList:
		var oi ocispec.Index
		if err := json.Unmarshal(raw, &oi); err != nil {
			return nil, fmt.Errorf("index %s (%s): %w", d, mt, err)
		}
		m.IsIndex = true
		m.Manifests, m.ArtifactType, m.Annotations, m.Subject = oi.Manifests, oi.ArtifactType, oi.Annotations, oi.Subject
		for _, c := range oi.Manifests {
			if err := c.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("index %s (%s): child digest %q: %w", d, mt, c.Digest, err)
			}
		}
	case "":
		return nil, fmt.Errorf("manifest %s has no media type and is neither an image manifest nor an index", d)
	default:
		return nil, fmt.Errorf("manifest %s has media type %q, which Harbor does not accept as a manifest", d, mt)
	}
	return m, nil
}

// parseSchema1 reads the canonical payload of a signed schema 1 manifest.
func parseSchema1(d digest.Digest, raw []byte) (*manifest, error) {
	var s1 struct {
		Architecture string `json:"architecture"`
		FSLayers     []struct {
			BlobSum digest.Digest `json:"blobSum"`
		} `json:"fsLayers"`
	}
	if err := json.Unmarshal(raw, &s1); err != nil {
		return nil, fmt.Errorf("schema 1 manifest %s: %w", d, err)
	}
	if _, err := schema1ServedSize(raw); err != nil {
		return nil, fmt.Errorf("schema 1 manifest %s: %w", d, err)
	}
	m := &manifest{Digest: d, MediaType: mtSchema1Signed, Raw: raw, IsSchema1: true, Architecture: s1.Architecture}
	for _, l := range s1.FSLayers {
		if err := l.BlobSum.Validate(); err != nil {
			return nil, fmt.Errorf("schema 1 manifest %s: blobSum %q: %w", d, l.BlobSum, err)
		}
		m.FSLayers = append(m.FSLayers, l.BlobSum)
	}
	return m, nil
}

// references are the descriptors a push's blob middleware associates with
// the artifact (distribution's References()): config + layers, the children
// of an index, or a schema 1 manifest's distinct fsLayers (typed as
// distribution's schema1 package types them, without size); never the
// subject (harbor-facts §2.10).
func (m *manifest) references() []ocispec.Descriptor {
	switch {
	case m.IsIndex:
		return m.Manifests
	case m.IsSchema1:
		seen := map[digest.Digest]bool{}
		var out []ocispec.Descriptor
		for _, l := range m.FSLayers {
			if !seen[l] {
				seen[l] = true
				out = append(out, ocispec.Descriptor{MediaType: mtSchema1Layer, Digest: l})
			}
		}
		return out
	}
	return append([]ocispec.Descriptor{m.Config}, m.Layers...)
}

// isImageManifest: Harbor's default processor and annotation parser only
// read OCI and Docker v2 image manifests (default.go:96, v1alpha1.go:43).
func (m *manifest) isImageManifest() bool { return !m.IsIndex && !m.IsSchema1 }

// isForeign: layers whose data the registry does not hold (harbor-facts §2.9).
func isForeign(d ocispec.Descriptor) bool {
	return d.MediaType == mtForeignLayer ||
		d.MediaType == ocispec.MediaTypeImageLayerNonDistributable || //nolint:staticcheck // still in the wild
		d.MediaType == ocispec.MediaTypeImageLayerNonDistributableGzip || //nolint:staticcheck
		d.MediaType == ocispec.MediaTypeImageLayerNonDistributableZstd //nolint:staticcheck
}

// isForeignType: a blob content_type of a layer a registry may lack.
func isForeignType(mediaType string) bool { return isForeign(ocispec.Descriptor{MediaType: mediaType}) }

// hasCosignLayer: the legacy cosign middleware makes an accessory only when
// one of the manifest's references is a simple-signing layer (cosign.go:137-143).
func (m *manifest) hasCosignLayer() bool {
	for _, r := range m.references() {
		if r.MediaType == mtCosignSimpleSigning {
			return true
		}
	}
	return false
}

// cosignTagRe is the legacy cosign middleware's tag pattern
// (cosign.go:43): "sha256-<64 hex>" then any one character and "sig" (its
// dot is not escaped).
var cosignTagRe = regexp.MustCompile(`^sha256-([a-f0-9]{64}).sig$`)

// cosignSubject returns the subject a legacy cosign signature tag names.
func cosignSubject(tag string) (digest.Digest, bool) {
	sub := cosignTagRe.FindStringSubmatch(tag)
	if sub == nil {
		return "", false
	}
	return digest.Digest("sha256:" + sub[1]), true
}

// artifactRow holds the derived artifact columns (harbor-facts §2.7).
type artifactRow struct {
	Type, MediaType, ArtifactType, ExtraAttrs, Annotations, Icon string
}

// defaultTypeRe is the default processor's type pattern (processor/default.go:43).
var defaultTypeRe = regexp.MustCompile(`^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$`)

// flavor is what differs between Harbor versions in how a pushed artifact
// is abstracted and which accessory rows its middlewares write. Every
// switch below names the release (and schema version) that changed it,
// found by diffing Harbor's tags; where a schema version spans patch
// releases that differ, the newest patch release is followed.
type flavor struct {
	// version is the schema version (harbor-facts §3.1).
	version int64
	// byArtifactType: the processor is looked up by artifact_type, else
	// media_type, since 2.13 (schema 160); by media_type before (harbor-facts §7).
	byArtifactType bool
	// argsEscaped: ImageConfig has ArgsEscaped in the image-spec Harbor
	// vendors: v1.1.0-rc3 and later, i.e. from 2.8.x patch releases
	// (schema 111; 2.8.0 vendored rc2, 2.0–2.7 v1.0.x) on.
	argsEscaped bool
}

// newestSchema is the flavor used when no schema version is known
// (--files-only without one): the newest supported Harbor.
var newestSchema = func() int64 {
	v := harbordb.SupportedVersions()
	return v[len(v)-1]
}()

// flavorOf returns the flavor of Harbor schema version v (0: the newest).
func flavorOf(v int64) flavor {
	if v <= 0 {
		v = newestSchema
	}
	return flavor{version: v, byArtifactType: v >= 160, argsEscaped: v >= 111}
}

// procKind is one of Harbor's artifact processors.
type procKind int

const (
	procDefault procKind = iota
	procImage            // processor/image/manifest_v2.go
	procIndex            // processor/image/index.go
	procSchema1          // processor/image/manifest_v1.go
	procChart            // processor/chart
	procCNAB             // processor/cnab
	procWASM             // processor/wasm (2.6+)
	procSBOM             // processor/sbom (2.11+)
	procCNAI             // processor/cnai (2.13+)
)

// processor is processor.Get(key) of this Harbor: the processors
// registered in that release (processor.go:65-72), else the default one.
func (f flavor) processor(key string) procKind {
	switch key {
	case ocispec.MediaTypeImageConfig, mtDockerConfig:
		return procImage
	case ocispec.MediaTypeImageIndex, mtDockerList:
		return procIndex
	case mtSchema1Signed:
		return procSchema1
	case mtHelmConfig:
		return procChart
	case mtCNAB:
		return procCNAB
	}
	switch {
	case key == mtWASMConfig && f.version >= 90: // wasm processor since 2.6.0
		return procWASM
	case key == mtHarborSBOM && f.version >= 140: // sbom processor since 2.11.0
		return procSBOM
	case key == mtCNAI && f.version >= 160 && f.version < 190: // cnai since 2.13.0, CloudNativeAI model-spec
		return procCNAI
	case key == mtModelPack && f.version >= 190: // main (2.16) moved to modelpack/model-spec v0.0.7
		return procCNAI
	}
	return procDefault
}

// abstractInput is what Harbor's processors read besides the manifest
// itself. A nil func means the storage holds nothing of that kind.
type abstractInput struct {
	// config returns the config blob; ok is false when the registry
	// storage does not hold it (a PullBlob of it fails).
	config func() (data []byte, ok bool, err error)
	// blobHead returns the first bytes of blob d (up to 512, at least
	// tarHeadLen or all of a smaller blob), or ok false when the storage
	// does not hold it.
	blobHead func(d digest.Digest) (head []byte, ok bool, err error)
	// child returns the parsed manifest of index child d and its config reader.
	child func(d digest.Digest) (*manifest, abstractInput, error)
}

func (in abstractInput) readConfig() ([]byte, bool, error) {
	if in.config == nil {
		return nil, false, nil
	}
	return in.config()
}

// deriveArtifact is abstract with the config blob given (nil: the storage
// has none), for callers that have nothing else to offer.
func deriveArtifact(m *manifest, config []byte, f flavor) (artifactRow, error) {
	return abstract(m, abstractInput{config: func() ([]byte, bool, error) { return config, config != nil, nil }}, f)
}

// abstract computes type, media_type, artifact_type, extra_attrs,
// annotations and icon as Harbor of flavor f does: the abstractor
// (abstractor.go:58-206), processor.Get(key) (controller.go:238) and that
// processor's AbstractMetadata, and the v1alpha1 annotation parser the
// default processor runs (harbor-facts §2.7, §2.7.1, §7). An error wrapping
// errPushFails means that Harbor's push of m fails.
func abstract(m *manifest, in abstractInput, f flavor) (artifactRow, error) {
	var r artifactRow
	if len(m.Annotations) > 0 && !m.IsSchema1 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return r, err
		}
		r.Annotations = string(b)
	}
	switch {
	case m.IsSchema1:
		// media_type is the schema 1 type; artifact_type never set (abstractor.go:90-95).
		r.MediaType = mtSchema1Signed
	case m.IsIndex:
		// media_type = manifest media type, overridden by the CNAB annotation;
		// artifact_type = artifactType or '' (abstractor.go:157-203).
		r.MediaType = m.MediaType
		if at := m.Annotations[annArtifactType]; at != "" {
			r.MediaType = at
		}
		r.ArtifactType = m.ArtifactType
	default:
		// media_type = config media type, WASM by annotation since 2.6;
		// artifact_type = artifactType else config media type (abstractor.go:129-141).
		r.MediaType = m.Config.MediaType
		if f.version >= 90 && (m.Annotations[annWASMVariant] == "compat" || m.Annotations[annWASMHandler] == "wasm") {
			r.MediaType = mtWASMConfig
		}
		r.ArtifactType = m.ArtifactType
		if r.ArtifactType == "" {
			r.ArtifactType = m.Config.MediaType
		}
	}
	key := r.MediaType
	if f.byArtifactType && r.ArtifactType != "" {
		key = r.ArtifactType
	}
	var attrs map[string]any
	var err error
	fail := func(err error) (artifactRow, error) {
		return r, fmt.Errorf("%s %s: %w", kindOf(m), m.Digest, err)
	}
	switch f.processor(key) {
	case procImage:
		r.Type = "IMAGE"
		attrs, err = imageAttrs(m, in, f)
	case procIndex:
		r.Type = "IMAGE"
	case procSchema1:
		// {"architecture": …} (processor/image/manifest_v1.go:41-51).
		r.Type = "IMAGE"
		attrs = map[string]any{"architecture": m.Architecture}
	case procChart:
		r.Type = "CHART"
		attrs, err = baseAttrs(m, in, f)
	case procCNAB:
		r.Type = "CNAB"
		attrs, err = cnabAttrs(m, in, f)
	case procWASM:
		r.Type = "WASM"
		attrs, err = wasmAttrs(m, in, f)
	case procSBOM:
		r.Type = "SBOM"
		attrs, err = baseAttrs(m, in, f)
	case procCNAI:
		r.Type = "CNAI"
		attrs, err = baseAttrs(m, in, f)
	default:
		// The default processor types by the *media type* even when it was
		// selected through artifact_type (default.go:51-59; harbor-facts §7).
		r.Type = "UNKNOWN"
		if sub := defaultTypeRe.FindStringSubmatch(r.MediaType); len(sub) == 2 {
			r.Type = strings.ToUpper(sub[1])
		}
		attrs, r.Icon, err = defaultAttrs(m, r.Type, in, f)
	}
	if err != nil {
		return fail(err)
	}
	if r.ExtraAttrs, err = marshalAttrs(attrs); err != nil {
		return fail(err)
	}
	return r, nil
}

func kindOf(m *manifest) string {
	switch {
	case m.IsIndex:
		return "index"
	case m.IsSchema1:
		return "schema 1 manifest"
	}
	return "manifest"
}

// marshalAttrs is pkg/artifact/model.go To(): an empty map is stored as ”.
func marshalAttrs(attrs map[string]any) (string, error) {
	if len(attrs) == 0 {
		return "", nil
	}
	b, err := json.Marshal(attrs)
	return string(b), err
}

// decodeConfig is the processors' json.NewDecoder(blob).Decode(v): the
// first JSON value; an empty blob is io.EOF, which fails the push.
func decodeConfig(data []byte, v any) error {
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		return fmt.Errorf("%w: decoding its config as Harbor does: %v", errPushFails, err)
	}
	return nil
}

// pullConfig is PullBlob of the config: it fails when the storage lacks it.
func pullConfig(m *manifest, in abstractInput) ([]byte, error) {
	data, ok, err := in.readConfig()
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: Harbor pulls its config %s, which the storage does not hold", errPushFails, m.Config.Digest)
	}
	return data, nil
}

// unmarshalConfig is base.ManifestProcessor.UnmarshalConfig: since 2.2
// (schema 50) a config of size 0 is not read; 2.0–2.1 always pull and
// decode it (base/manifest.go in those releases), which fails on an empty one.
func unmarshalConfig(m *manifest, in abstractInput, f flavor, v any) error {
	if f.version >= 50 && m.Config.Size == 0 {
		return nil
	}
	data, err := pullConfig(m, in)
	if err != nil {
		return err
	}
	return decodeConfig(data, v)
}

// baseAttrs is base.ManifestProcessor.AbstractMetadata without properties:
// the whole config object (base/manifest.go:45-64).
func baseAttrs(m *manifest, in abstractInput, f flavor) (map[string]any, error) {
	var attrs map[string]any
	if err := unmarshalConfig(m, in, f, &attrs); err != nil {
		return nil, err
	}
	return attrs, nil
}

// imageAttrs is the image processor (processor/image/manifest_v2.go):
//   - 2.0–2.1 (schema < 50): the base processor with properties created,
//     author, architecture, os taken from the raw config (v2.1.0
//     manifest_v2.go: NewManifestProcessor("created", "author", "architecture", "os"));
//   - 2.2 on: image-spec v1.Image fields created, architecture, os, config
//     and author, the author falling back to the "maintainer" label (2.2–2.5)
//     or to org.opencontainers.image.authors then maintainer (2.6 on).
func imageAttrs(m *manifest, in abstractInput, f flavor) (map[string]any, error) {
	if f.version < 50 {
		var raw map[string]any
		if err := unmarshalConfig(m, in, f, &raw); err != nil {
			return nil, err
		}
		attrs := map[string]any{}
		for _, k := range []string{"created", "author", "architecture", "os"} {
			attrs[k] = raw[k]
		}
		return attrs, nil
	}
	var img ocispec.Image
	if err := unmarshalConfig(m, in, f, &img); err != nil {
		return nil, err
	}
	if !f.argsEscaped {
		img.Config.ArgsEscaped = false //nolint:staticcheck // absent from the image-spec older Harbors vendor
	}
	author := img.Author
	if author == "" && len(img.Config.Labels) > 0 {
		if f.version < 90 {
			author = img.Config.Labels["maintainer"]
		} else {
			for _, k := range []string{"org.opencontainers.image.authors", "maintainer"} {
				if v := img.Config.Labels[k]; v != "" {
					author = v
					break
				}
			}
		}
	}
	return map[string]any{
		"created":      img.Created,
		"architecture": img.Architecture,
		"os":           img.OS,
		"config":       img.Config,
		"author":       author,
	}, nil
}

// imageExtraAttrs is imageAttrs of a Harbor 2.6+ for config (nil: size 0).
func imageExtraAttrs(config []byte, argsEscaped bool) (string, error) {
	f := flavor{version: 110, argsEscaped: argsEscaped}
	if argsEscaped {
		f.version = 180
	}
	m := &manifest{Config: ocispec.Descriptor{Size: int64(len(config))}}
	attrs, err := imageAttrs(m, abstractInput{config: func() ([]byte, bool, error) { return config, true, nil }}, f)
	if err != nil {
		return "", err
	}
	return marshalAttrs(attrs)
}

// wasmAttrs is the WASM processor (processor/wasm/wasm.go:64-101): for an
// image marked by annotation, the config's image fields plus the config
// media type (author falls back to the maintainer label only); for a
// wasm-to-oci artifact, the media types and the first layer's title.
func wasmAttrs(m *manifest, in abstractInput, f flavor) (map[string]any, error) {
	attrs := map[string]any{}
	if m.Annotations[annWASMVariant] == "compat" || m.Annotations[annWASMHandler] == "wasm" {
		var img ocispec.Image
		if err := unmarshalConfig(m, in, f, &img); err != nil {
			return nil, err
		}
		if !f.argsEscaped {
			img.Config.ArgsEscaped = false //nolint:staticcheck
		}
		author := img.Author
		if author == "" && len(img.Config.Labels) > 0 {
			author = img.Config.Labels["maintainer"]
		}
		attrs["manifest.config.mediaType"] = m.Config.MediaType
		attrs["created"] = img.Created
		attrs["architecture"] = img.Architecture
		attrs["os"] = img.OS
		attrs["config"] = img.Config
		attrs["author"] = author
		return attrs, nil
	}
	attrs["manifest.config.mediaType"] = mtWASMConfig
	if len(m.Layers) > 0 {
		attrs["manifest.layers.mediaType"] = m.Layers[0].MediaType
		attrs["org.opencontainers.image.title"] = m.Layers[0].Annotations[annImageTitle]
	}
	return attrs, nil
}

// cnabAttrs is the CNAB processor (processor/cnab/cnab.go:48-73): the whole
// config of the (last) child annotated io.cnab.manifest.type=config, read
// by the base processor; ” without one.
func cnabAttrs(m *manifest, in abstractInput, f flavor) (map[string]any, error) {
	var cfg digest.Digest
	for _, c := range m.Manifests {
		if c.Annotations[annCNABType] == "config" {
			cfg = c.Digest
		}
	}
	if cfg == "" {
		return nil, nil
	}
	if in.child == nil {
		return nil, fmt.Errorf("%w: its CNAB config manifest %s is not available", errPushFails, cfg)
	}
	cm, cin, err := in.child(cfg)
	if err != nil {
		return nil, fmt.Errorf("CNAB config manifest %s: %w", cfg, err)
	}
	return baseAttrs(cm, cin, f)
}

// defaultAttrs is the default processor's AbstractMetadata for an artifact
// of type typ, then the v1alpha1 annotations; it returns extra_attrs and icon.
//   - 2.0 (schema < 40): nothing (v2.0.0 default.go).
//   - 2.1–2.9 (schema 40–120): the config of every image manifest is pulled
//     and, unless its size is 0, decoded; it becomes extra_attrs whatever
//     the type (default.go before v2.10.0).
//   - 2.10 on (schema 130+): only a type other than UNKNOWN pulls and decodes
//     the config (no size check, so an empty config fails).
//
// Then the skip-list on the config descriptor deletes keys, and the first
// layer annotated with the icon key becomes the icon if its data sniffs as
// GIF, PNG or JPEG (annotation/v1alpha1.go:42-112). Harbor reads at most
// 1 MiB of it and sniffs the first 512 bytes, so a larger icon is accepted
// too; annotation errors are only logged (default.go:121-125).
func defaultAttrs(m *manifest, typ string, in abstractInput, f flavor) (map[string]any, string, error) {
	if f.version < 40 || !m.isImageManifest() {
		return nil, "", nil
	}
	var attrs map[string]any
	switch {
	case f.version < 130:
		data, err := pullConfig(m, in)
		if err != nil {
			return nil, "", err
		}
		attrs = map[string]any{}
		if m.Config.Size != 0 {
			if err := decodeConfig(data, &attrs); err != nil {
				return nil, "", err
			}
		}
	case typ != "UNKNOWN":
		data, err := pullConfig(m, in)
		if err != nil {
			return nil, "", err
		}
		if err := decodeConfig(data, &attrs); err != nil {
			return nil, "", err
		}
	}
	if list, ok := m.Config.Annotations[annSkipList]; ok {
		for _, k := range strings.Split(list, ",") {
			delete(attrs, k)
		}
	}
	icon, err := iconOf(m, in)
	return attrs, icon, err
}

// iconOf returns the icon v1alpha1.go:76-112 would record for m.
func iconOf(m *manifest, in abstractInput) (string, error) {
	var d digest.Digest
	for _, l := range m.Layers {
		if _, ok := l.Annotations[annIcon]; ok {
			d = l.Digest
			break
		}
	}
	if d == "" || in.blobHead == nil {
		return "", nil
	}
	head, ok, err := in.blobHead(d)
	if err != nil {
		return "", fmt.Errorf("reading icon layer %s: %w", d, err)
	}
	if !ok {
		return "", nil // PullBlob fails; Harbor logs it and records no icon
	}
	switch http.DetectContentType(head) {
	case "image/gif", "image/png", "image/jpeg":
		return d.String(), nil
	}
	return "", nil
}

// subjectAccessoryType is the type Harbor's subject middleware gives an
// accessory (subject.go:147-164), per release:
//   - 2.8 (schema 110–111): always subject.accessory;
//   - 2.9 (120): by config media type: notation signature, or a Docker
//     image config whose last layer has the nydus bootstrap annotation;
//   - 2.10 (130): the OCI image config counts for nydus too;
//   - 2.11 on (140+): artifactType, else config media type; also cosign's
//     OCI 1.1 signature and Harbor's SBOM;
//   - 2.15 on (180+): also the sigstore bundle.
func (f flavor) subjectAccessoryType(m *manifest) string {
	if f.version < 120 {
		return accSubject
	}
	from := m.Config.MediaType
	if f.version >= 140 && m.ArtifactType != "" {
		from = m.ArtifactType
	}
	switch {
	case from == mtDockerConfig || (f.version >= 130 && from == ocispec.MediaTypeImageConfig):
		if len(m.Layers) > 0 {
			if _, ok := m.Layers[len(m.Layers)-1].Annotations[annNydusBootstrap]; ok {
				return accNydus
			}
		}
	case from == mtNotation:
		return accNotation
	case f.version >= 140 && (from == mtCosignSig || (f.version >= 180 && from == mtSigstoreBundle)):
		return accCosign
	case f.version >= 140 && from == mtHarborSBOM:
		return accSBOM
	}
	return accSubject
}

// backfillsSubjects: a push of m updates subject_artifact_id of the
// accessories naming it as subject (subject.go:183-209): since 2.9.2 for
// manifests without a subject, since 2.11 for all. The middleware digests
// the request body, which for schema 1 is not the artifact's digest, so
// never for those. Schema 120 spans 2.9.0–2.9.5: 2.9.2+ is followed.
func (f flavor) backfillsSubjects(m *manifest) bool {
	switch {
	case m.IsSchema1 || f.version < 120:
		return false
	case f.version < 140:
		return m.Subject == nil
	}
	return true
}

// schema1ServedSize is the length of the schema 1 manifest the registry
// serves for canonical payload p: distribution re-signs it on every GET
// (signedmanifesthandler.go Unmarshal: libtrust NewJSONSignature, Sign,
// PrettySignature), and Harbor's abstractor counts that length
// (abstractor.go:114). Harbor's registry has no configured schema 1 key,
// so distribution generates an EC P-256 key at start; every field of the
// one signature then has a fixed length (key id 59 characters, x and y 43,
// signature 86, "time" 20), so the length depends on the payload only:
// the payload up to its last non-space character before the final '}',
// ",", the "signatures" member (indented like the payload when it starts
// with "{\n", compact otherwise), and "}".
func schema1ServedSize(p []byte) (int64, error) {
	end := bytes.LastIndexFunc(p, notSpace)
	if end < 1 || p[end] != '}' {
		return 0, fmt.Errorf("%w: payload does not end with '}'; the registry cannot serve it", ErrCorruptSource)
	}
	last := bytes.LastIndexFunc(p[:end], notSpace)
	if last < 0 || p[last] == ',' {
		return 0, fmt.Errorf("%w: payload has no members before its final '}'; the registry cannot serve it", ErrCorruptSource)
	}
	formatLength, tail := last+1, p[last+1:]
	indent := ""
	if len(p) > 2 && p[0] == '{' && p[1] == '\n' {
		if q := bytes.IndexByte(p[1:], '"'); q > 0 {
			indent = string(p[2 : q+1])
		}
	}
	protected, err := json.Marshal(map[string]any{
		"formatLength": formatLength,
		"formatTail":   b64url(tail),
		"time":         "2006-01-02T15:04:05Z",
	})
	if err != nil {
		return 0, err
	}
	sigs := []any{map[string]any{
		"header": map[string]any{
			"jwk": map[string]any{"crv": "P-256", "kid": strings.Repeat("K", 59), "kty": "EC",
				"x": strings.Repeat("X", 43), "y": strings.Repeat("Y", 43)},
			"alg": "ES256",
		},
		"signature": strings.Repeat("S", 86),
		"protected": b64url(protected),
	}}
	var member []byte
	if indent != "" {
		b, err := json.MarshalIndent(sigs, indent, indent)
		if err != nil {
			return 0, err
		}
		member = append(append([]byte("\n"+indent+`"signatures": `), b...), '\n')
	} else {
		b, err := json.Marshal(sigs)
		if err != nil {
			return 0, err
		}
		member = append([]byte(`"signatures":`), b...)
	}
	return int64(formatLength + 1 + len(member) + 1), nil
}

func notSpace(r rune) bool { return !unicode.IsSpace(r) }

// b64url is base64url without padding (JOSE).
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// platformJSON: image-spec Platform marshalled, ” when absent (harbor-facts
// §2.12; Harbor's column is a plain string, so no platform is ” not NULL).
func platformJSON(p *ocispec.Platform) (string, error) {
	if p == nil {
		return "", nil
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// urlsJSON: ” when none (observed in reference/real-push).
func urlsJSON(urls []string) (string, error) {
	if len(urls) == 0 {
		return "", nil
	}
	b, err := json.Marshal(urls)
	return string(b), err
}

// annotationsJSON: NULL (here "") when none.
func annotationsJSON(a map[string]string) (string, error) {
	if len(a) == 0 {
		return "", nil
	}
	b, err := json.Marshal(a)
	return string(b), err
}
