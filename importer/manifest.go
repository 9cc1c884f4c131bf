package importer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types harbor-import imports (harbor-facts §7).
const (
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mtSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	mtHelmConfig     = "application/vnd.cncf.helm.config.v1+json"
	mtForeignLayer   = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// manifest is a parsed manifest or index.
type manifest struct {
	Digest    digest.Digest
	MediaType string // as the registry serves it (harbor-facts §2.7 manifest_media_type)
	Raw       []byte
	IsIndex   bool
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
	Manifests []ocispec.Descriptor
	// ArtifactType and Annotations are the top-level fields.
	ArtifactType string
	Annotations  map[string]string
	Subject      *ocispec.Descriptor
}

// parseManifest parses raw the way the registry does to pick its media
// type: the mediaType field, or for OCI content without one, an index when it
// has "manifests" and an image manifest otherwise. Schema 1 and unknown
// types are refused with a message naming the type.
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
	if probe.SchemaVersion == 1 || mt == mtSchema1Signed || mt == mtSchema1 {
		return nil, fmt.Errorf("manifest %s is Docker schema 1 (%s): not supported yet", d, orDash(mt))
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

func orDash(s string) string {
	if s == "" {
		return "no mediaType"
	}
	return s
}

// references are the descriptors a push's blob middleware associates with
// the artifact: config + layers, or the children of an index; never the
// subject (harbor-facts §2.10).
func (m *manifest) references() []ocispec.Descriptor {
	if m.IsIndex {
		return m.Manifests
	}
	return append([]ocispec.Descriptor{m.Config}, m.Layers...)
}

// isForeign: layers whose data the registry does not hold (harbor-facts §2.9).
func isForeign(d ocispec.Descriptor) bool {
	return d.MediaType == mtForeignLayer ||
		d.MediaType == ocispec.MediaTypeImageLayerNonDistributable || //nolint:staticcheck // still in the wild
		d.MediaType == ocispec.MediaTypeImageLayerNonDistributableGzip || //nolint:staticcheck
		d.MediaType == ocispec.MediaTypeImageLayerNonDistributableZstd //nolint:staticcheck
}

// artifactRow holds the derived artifact columns (harbor-facts §2.7).
type artifactRow struct {
	Type, MediaType, ArtifactType, ExtraAttrs, Annotations, Icon string
}

// processor keys harbor-import derives exactly; others are refused until
// implemented (their processors read annotations or child configs).
var defaultTypeRe = regexp.MustCompile(`^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$`)

// flavor is what differs between Harbor versions in how a pushed artifact
// is abstracted.
type flavor struct {
	// byArtifactType: the processor is looked up by artifact_type, else
	// media_type, since 2.13 (schema 160); by media_type before (harbor-facts §7).
	byArtifactType bool
	// argsEscaped: ImageConfig has ArgsEscaped in the image-spec Harbor
	// vendors: v1.1.0-rc3 and later, i.e. from 2.8.x patch releases
	// (schema 111; 2.8.0 vendored rc2, 2.0–2.7 v1.0.x) on.
	argsEscaped bool
}

// flavorOf returns the flavor of Harbor schema version v.
func flavorOf(v int64) flavor {
	return flavor{byArtifactType: v >= 160, argsEscaped: v >= 111}
}

// deriveArtifact computes type, media_type, artifact_type, extra_attrs and
// annotations as Harbor does (abstractor.go:58-206 and the processors,
// harbor-facts §2.7, §7) for flavor f. config is the config blob (nil when
// config.size is 0).
func deriveArtifact(m *manifest, config []byte, f flavor) (artifactRow, error) {
	var r artifactRow
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return r, err
		}
		r.Annotations = string(b)
	}
	if m.IsIndex {
		// media_type = manifest media type, overridden by the CNAB annotation;
		// artifact_type = artifactType or ''; extra_attrs '' (harbor-facts §2.7).
		r.MediaType = m.MediaType
		if at := m.Annotations["org.opencontainers.artifactType"]; at != "" {
			return r, fmt.Errorf("index %s carries org.opencontainers.artifactType %q (CNAB): not supported yet", m.Digest, at)
		}
		r.ArtifactType = m.ArtifactType
		key := r.MediaType
		if f.byArtifactType && r.ArtifactType != "" {
			key = r.ArtifactType
		}
		if key != ocispec.MediaTypeImageIndex && key != mtDockerList {
			return r, fmt.Errorf("index %s has artifactType %q: not supported yet", m.Digest, key)
		}
		r.Type = "IMAGE"
		return r, nil
	}
	r.MediaType = m.Config.MediaType
	if m.Annotations["module.wasm.image/variant"] == "compat" || m.Annotations["run.oci.handler"] == "wasm" {
		return r, fmt.Errorf("manifest %s is a WASM image: not supported yet", m.Digest)
	}
	r.ArtifactType = m.ArtifactType
	if r.ArtifactType == "" {
		r.ArtifactType = m.Config.MediaType
	}
	for _, l := range m.Layers {
		for k := range l.Annotations {
			if strings.HasPrefix(k, "io.goharbor.artifact.v1alpha1.") {
				return r, fmt.Errorf("manifest %s uses Harbor's v1alpha1 annotations (%s): not supported yet", m.Digest, k)
			}
		}
	}
	if _, ok := m.Config.Annotations["io.goharbor.artifact.v1alpha1.skip-list"]; ok {
		return r, fmt.Errorf("manifest %s uses Harbor's v1alpha1 skip-list annotation: not supported yet", m.Digest)
	}
	key := r.MediaType
	if f.byArtifactType {
		key = r.ArtifactType
	}
	switch key {
	case ocispec.MediaTypeImageConfig, mtDockerConfig:
		r.Type = "IMAGE"
		attrs, err := imageExtraAttrs(config, f.argsEscaped)
		if err != nil {
			return r, fmt.Errorf("config %s of manifest %s: %w", m.Config.Digest, m.Digest, err)
		}
		r.ExtraAttrs = attrs
	case mtHelmConfig:
		r.Type = "CHART"
		attrs, err := wholeConfigAttrs(config)
		if err != nil {
			return r, fmt.Errorf("config %s of manifest %s: %w", m.Config.Digest, m.Digest, err)
		}
		r.ExtraAttrs = attrs
	case "application/vnd.cnab.manifest.v1", "application/vnd.wasm.config.v1+json",
		"application/vnd.goharbor.harbor.sbom.v1", "application/vnd.cnai.model.manifest.v1+json":
		return r, fmt.Errorf("manifest %s is of artifact type %s: not supported yet", m.Digest, key)
	default:
		// The default processor types by the *media type* (config media type),
		// even when selected through artifactType (harbor-facts §7).
		sub := defaultTypeRe.FindStringSubmatch(r.MediaType)
		if len(sub) != 2 {
			r.Type = "UNKNOWN"
			return r, nil
		}
		r.Type = strings.ToUpper(sub[1])
		attrs, err := wholeConfigAttrs(config)
		if err != nil {
			return r, fmt.Errorf("config %s of manifest %s: %w", m.Config.Digest, m.Digest, err)
		}
		r.ExtraAttrs = attrs
	}
	return r, nil
}

// imageExtraAttrs is the image processor's map: created, architecture, os,
// config (image-spec ImageConfig) and author, marshalled by encoding/json,
// so compact with sorted keys (harbor-facts §2.7.1). Harbor 2.15 vendors
// image-spec v1.1.1, the version this module builds with.
func imageExtraAttrs(config []byte, argsEscaped bool) (string, error) {
	var img ocispec.Image
	if len(config) > 0 {
		if err := json.Unmarshal(config, &img); err != nil {
			return "", fmt.Errorf("decoding image config: %w", err)
		}
	}
	if !argsEscaped {
		img.Config.ArgsEscaped = false //nolint:staticcheck // absent from the image-spec older Harbors vendor
	}
	author := img.Author
	if author == "" && len(img.Config.Labels) > 0 {
		for _, k := range []string{"org.opencontainers.image.authors", "maintainer"} {
			if v := img.Config.Labels[k]; v != "" {
				author = v
				break
			}
		}
	}
	b, err := json.Marshal(map[string]any{
		"created":      img.Created,
		"architecture": img.Architecture,
		"os":           img.OS,
		"config":       img.Config,
		"author":       author,
	})
	return string(b), err
}

// wholeConfigAttrs: the whole config object, decoded into a map and
// re-marshalled (harbor-facts §2.7.1).
func wholeConfigAttrs(config []byte) (string, error) {
	if len(config) == 0 {
		return "", nil
	}
	var m map[string]any
	if err := json.Unmarshal(config, &m); err != nil {
		return "", fmt.Errorf("decoding config: %w", err)
	}
	if len(m) == 0 {
		return "", nil // an empty map is stored as '' (pkg/artifact/model.go To)
	}
	b, err := json.Marshal(m)
	return string(b), err
}

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
