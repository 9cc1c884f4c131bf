package importer

import (
	"archive/tar"
	"path"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// knownManifestTypes are the media types parseManifest may accept.
var knownManifestTypes = map[string]bool{
	ocispec.MediaTypeImageManifest: true, mtDockerManifest: true,
	ocispec.MediaTypeImageIndex: true, mtDockerList: true, mtSchema1Signed: true,
}

// FuzzParseManifest: parseManifest never panics; what it accepts has a
// known media type, is an index exactly when that type is one, and holds
// only valid digests; deriving the artifact row from it never panics.
func FuzzParseManifest(f *testing.F) {
	const d1 = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"` + d1 + `"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"` + d1 + `"}]}`,
		`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"` + d1 + `"},"layers":[]}`,
		`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":2,"digest":"` + d1 + `","platform":{"architecture":"amd64","os":"linux"}}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x","manifests":[],"annotations":{"org.opencontainers.artifactType":"x"}}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.helm.config.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"` + d1 + `"},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"` + d1 + `"}}`,
		`{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`,
		`{"schemaVersion":2,"config":{"digest":"sha256:xyz"}}`,
		`{"schemaVersion":2,"manifests":null}`,
		`{"schemaVersion":2}`,
		`[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	d := digest.Digest("sha256:" + strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parseManifest(d, raw)
		if err != nil {
			if m != nil {
				t.Fatalf("got a manifest and an error %v", err)
			}
			return
		}
		if !knownManifestTypes[m.MediaType] {
			t.Fatalf("accepted media type %q; want one of %v", m.MediaType, knownManifestTypes)
		}
		isIndex := m.MediaType == ocispec.MediaTypeImageIndex || m.MediaType == mtDockerList
		if m.IsIndex != isIndex {
			t.Fatalf("media type %q: got IsIndex %v, want %v", m.MediaType, m.IsIndex, isIndex)
		}
		for _, r := range m.references() {
			if err := r.Digest.Validate(); err != nil {
				t.Fatalf("accepted a reference with digest %q: %v", r.Digest, err)
			}
		}
		for _, v := range []int64{30, 111, 160, 190} {
			_, _ = deriveArtifact(m, raw, flavorOf(v))
			_, _ = deriveArtifact(m, nil, flavorOf(v))
		}
	})
}

// FuzzTarEntryName: names cleanEntryName accepts never climb ('..') nor
// start at '/', and links checkLinkEntry accepts resolve inside the tree.
func FuzzTarEntryName(f *testing.F) {
	for _, s := range []struct {
		name, link string
		typ        byte
	}{
		{"docker/registry/v2/blobs/sha256/ab/ab/data", "", tar.TypeReg},
		{"./docker/registry/v2/", "", tar.TypeDir},
		{"docker/../../etc/passwd", "", tar.TypeReg},
		{"/etc/passwd", "", tar.TypeReg},
		{"a/b", "../../etc", tar.TypeSymlink},
		{"a/b", "../c", tar.TypeSymlink},
		{"a/b", "/etc", tar.TypeSymlink},
		{"a/b", "../x", tar.TypeLink},
		{"a/b", "a/c", tar.TypeLink},
		{"a//./b/", "./..", tar.TypeSymlink},
		{"a\x00b", "", tar.TypeReg},
		{"..", "", tar.TypeDir},
		{"", "", tar.TypeDir},
	} {
		f.Add(s.name, s.link, s.typ)
	}
	f.Fuzz(func(t *testing.T, name, link string, typ byte) {
		hdr := &tar.Header{Name: name, Linkname: link, Typeflag: typ}
		clean, err := cleanEntryName(hdr)
		if err != nil {
			return
		}
		if strings.HasPrefix(clean, "/") {
			t.Fatalf("entry %q: accepted as %q, which starts with '/'", name, clean)
		}
		if climbs(clean) {
			t.Fatalf("entry %q: accepted as %q, which has a '..' component", name, clean)
		}
		if err := checkLinkEntry(hdr, clean); err != nil {
			return
		}
		var target string
		switch typ {
		case tar.TypeSymlink:
			// Relative to the link's directory; absolute is refused.
			if path.IsAbs(link) {
				t.Fatalf("symlink %q -> %q: accepted an absolute target", name, link)
			}
			target = path.Join(path.Dir(clean), link)
		case tar.TypeLink:
			// Relative to the archive's root.
			target = link
		default:
			return
		}
		if path.IsAbs(target) || climbs(path.Clean(target)) {
			t.Fatalf("link %q -> %q (type %q): accepted, but it resolves to %q, outside the tree", name, link, typ, path.Clean(target))
		}
	})
}

// climbs reports whether a '/'-separated path has a ".." component.
func climbs(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}
