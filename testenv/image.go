package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file builds images byte by byte, so that manifests and configs look
// like what docker or skopeo push and nothing depends on a library's
// serialisation: configs carry exactly architecture, os, created,
// config {Env, Cmd, Labels}, rootfs and history.

// fixtureTime is the created time of every fixture config and file.
var fixtureTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// format selects the media types of an image: Docker schema2 or OCI.
type format int

const (
	formatDocker format = iota
	formatOCI
)

func (f format) manifest() types.MediaType {
	if f == formatDocker {
		return types.DockerManifestSchema2
	}
	return types.OCIManifestSchema1
}

func (f format) index() types.MediaType {
	if f == formatDocker {
		return types.DockerManifestList
	}
	return types.OCIImageIndex
}

func (f format) config() types.MediaType {
	if f == formatDocker {
		return types.DockerConfigJSON
	}
	return types.OCIConfigJSON
}

func (f format) layer() types.MediaType {
	if f == formatDocker {
		return types.DockerLayer
	}
	return types.OCILayer
}

// layerContent is a gzip'd tar and the digest of the tar (the diff ID).
type layerContent struct {
	gz     []byte
	diffID string
}

// makeLayer returns a real gzip'd tar of a few small files under
// opt/<name>, with contents drawn from rng: a few KB, mostly incompressible.
// Equal rng states give equal bytes.
func makeLayer(rng *rand.Rand, name string) (layerContent, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	add := func(hdr *tar.Header, body []byte) error {
		hdr.ModTime = fixtureTime
		hdr.Uname, hdr.Gname = "root", "root"
		hdr.Format = tar.FormatPAX
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	data := make([]byte, 1024+rng.IntN(1024))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	entries := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "opt/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeDir, Name: "opt/" + name + "/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "opt/" + name + "/README", Mode: 0o644},
			fmt.Appendf(nil, "layer %s, token %016x\n", name, rng.Uint64())},
		{tar.Header{Typeflag: tar.TypeReg, Name: "opt/" + name + "/data.bin", Mode: 0o644}, data},
		{tar.Header{Typeflag: tar.TypeSymlink, Name: "opt/" + name + "/current", Linkname: "data.bin", Mode: 0o777}, nil},
	}
	for i := range entries {
		if err := add(&entries[i].hdr, entries[i].body); err != nil {
			return layerContent{}, fmt.Errorf("writing layer %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return layerContent{}, fmt.Errorf("writing layer %s: %w", name, err)
	}

	var gzBuf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gzBuf, gzip.BestCompression)
	if err != nil {
		return layerContent{}, err
	}
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return layerContent{}, fmt.Errorf("compressing layer %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return layerContent{}, fmt.Errorf("compressing layer %s: %w", name, err)
	}
	return layerContent{gz: gzBuf.Bytes(), diffID: digest.FromBytes(tarBuf.Bytes()).String()}, nil
}

// imageSpec describes one image to build.
type imageSpec struct {
	format  format
	os      string
	arch    string
	variant string
	oracle  string // value of the "oracle" label
	layers  []layerContent
}

// configJSON is an image config with the fields in the order docker writes them.
type configJSON struct {
	Architecture string        `json:"architecture"`
	Config       containerJSON `json:"config"`
	Created      string        `json:"created"`
	History      []historyJSON `json:"history"`
	OS           string        `json:"os"`
	RootFS       rootfsJSON    `json:"rootfs"`
	Variant      string        `json:"variant,omitempty"`
}

type containerJSON struct {
	Env    []string          `json:"Env"`
	Cmd    []string          `json:"Cmd"`
	Labels map[string]string `json:"Labels"`
}

type historyJSON struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

type rootfsJSON struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// build returns the image with its manifest and config bytes.
func (s imageSpec) build() (*rawImage, error) {
	created := fixtureTime.Format(time.RFC3339)
	cfg := configJSON{
		Architecture: s.arch,
		Config: containerJSON{
			Env:    []string{"PATH=/usr/bin:/bin"},
			Cmd:    []string{"/bin/sh"},
			Labels: map[string]string{"oracle": s.oracle},
		},
		Created: created,
		OS:      s.os,
		RootFS:  rootfsJSON{Type: "layers"},
		Variant: s.variant,
	}
	img := &rawImage{mediaType: s.format.manifest(), blobs: map[v1.Hash]*blob{}}
	man := ocispec.Manifest{MediaType: string(s.format.manifest())}
	man.SchemaVersion = 2
	for i, l := range s.layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, historyJSON{Created: created, CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD layer %d", i)})
		b := newBlob(l.gz, s.format.layer())
		img.blobs[b.digest] = b
		man.Layers = append(man.Layers, b.descriptor())
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	img.config = config
	cb := newBlob(config, s.format.config())
	img.blobs[cb.digest] = cb
	man.Config = cb.descriptor()
	if img.manifest, err = json.Marshal(man); err != nil {
		return nil, err
	}
	return img, nil
}

// child is an image of an index with its platform.
type child struct {
	img      *rawImage
	platform ocispec.Platform
}

// buildIndex returns an index (OCI) or manifest list (Docker) of children.
func buildIndex(f format, children []child) (*rawIndex, error) {
	idx := &rawIndex{mediaType: f.index(), children: map[v1.Hash]*rawImage{}}
	man := ocispec.Index{MediaType: string(f.index())}
	man.SchemaVersion = 2
	for _, c := range children {
		b := newBlob(c.img.manifest, c.img.mediaType)
		idx.children[b.digest] = c.img
		d := b.descriptor()
		p := c.platform
		d.Platform = &p
		man.Manifests = append(man.Manifests, d)
	}
	var err error
	if idx.manifest, err = json.Marshal(man); err != nil {
		return nil, err
	}
	return idx, nil
}

// blob is content with a media type; it serves as a layer for ggcr.
type blob struct {
	data      []byte
	mediaType types.MediaType
	digest    v1.Hash
}

var _ partial.CompressedLayer = (*blob)(nil)

func newBlob(data []byte, mt types.MediaType) *blob {
	sum := sha256.Sum256(data)
	return &blob{data: data, mediaType: mt, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

func (b *blob) descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: string(b.mediaType), Digest: digest.Digest(b.digest.String()), Size: int64(len(b.data))}
}

func (b *blob) Digest() (v1.Hash, error)            { return b.digest, nil }
func (b *blob) Compressed() (io.ReadCloser, error)  { return io.NopCloser(bytes.NewReader(b.data)), nil }
func (b *blob) Size() (int64, error)                { return int64(len(b.data)), nil }
func (b *blob) MediaType() (types.MediaType, error) { return b.mediaType, nil }

// rawImage is an image given by its manifest and config bytes.
type rawImage struct {
	manifest  []byte
	mediaType types.MediaType
	config    []byte
	blobs     map[v1.Hash]*blob // layers and config
}

var _ partial.CompressedImageCore = (*rawImage)(nil)

func (i *rawImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *rawImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *rawImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

func (i *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := i.blobs[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("image has no blob %s", h)
}

// image returns i as a v1.Image.
func (i *rawImage) image() (v1.Image, error) { return partial.CompressedToImage(i) }

// digest returns the manifest digest.
func (i *rawImage) digest() string { return digest.FromBytes(i.manifest).String() }

// rawIndex is an index given by its manifest bytes and child images.
type rawIndex struct {
	manifest  []byte
	mediaType types.MediaType
	children  map[v1.Hash]*rawImage
}

var _ v1.ImageIndex = (*rawIndex)(nil)

func (x *rawIndex) MediaType() (types.MediaType, error) { return x.mediaType, nil }
func (x *rawIndex) Digest() (v1.Hash, error)            { return newBlob(x.manifest, x.mediaType).digest, nil }
func (x *rawIndex) Size() (int64, error)                { return int64(len(x.manifest)), nil }
func (x *rawIndex) RawManifest() ([]byte, error)        { return x.manifest, nil }

func (x *rawIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.manifest))
}

func (x *rawIndex) Image(h v1.Hash) (v1.Image, error) {
	if c, ok := x.children[h]; ok {
		return c.image()
	}
	return nil, fmt.Errorf("index has no image %s", h)
}

func (x *rawIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index has no index %s", h)
}

// digest returns the index digest.
func (x *rawIndex) digest() string { return digest.FromBytes(x.manifest).String() }

// childDigests returns the children's digests in index order.
func (x *rawIndex) childDigests() ([]string, error) {
	m, err := x.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range m.Manifests {
		out = append(out, d.Digest.String())
	}
	return out, nil
}
