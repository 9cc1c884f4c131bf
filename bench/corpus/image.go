package corpus

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

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the base of every created time.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// layer is a gzip'd tar (stored, not compressed: its content is random) and
// the sha256 of the tar, the diff ID.
type layer struct {
	gz     []byte
	digest v1.Hash
	diffID string
}

// makeLayer returns a layer holding one file of size random bytes drawn
// from key: equal keys give equal bytes.
func makeLayer(seed uint64, key string, size int) (*layer, error) {
	data := make([]byte, size)
	cc := rand.NewChaCha8(seedFor(seed, "layer/"+key))
	_, _ = cc.Read(data)

	var gzBuf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gzBuf, gzip.NoCompression)
	if err != nil {
		return nil, err
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, diff))
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "app/" + sanitize(key) + ".bin",
		Mode: 0o644, Size: int64(size), ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", key, err)
	}
	if _, err := tw.Write(data); err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", key, err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("writing layer %s: %w", key, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer %s: %w", key, err)
	}
	l := &layer{gz: gzBuf.Bytes(), diffID: "sha256:" + hex.EncodeToString(diff.Sum(nil))}
	sum := sha256.Sum256(l.gz)
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	return l, nil
}

// sanitize keeps a key usable as a file name.
func sanitize(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '/' || c == '@' || c == ':' {
			b[i] = '_'
		}
	}
	return string(b)
}

func (f format) manifestType() types.MediaType {
	if f == formatOCI {
		return types.OCIManifestSchema1
	}
	return types.DockerManifestSchema2
}

func (f format) indexType() types.MediaType {
	if f == formatOCI {
		return types.OCIImageIndex
	}
	return types.DockerManifestList
}

func (f format) configType() types.MediaType {
	if f == formatOCI {
		return types.OCIConfigJSON
	}
	return types.DockerConfigJSON
}

func (f format) layerType() types.MediaType {
	if f == formatOCI {
		return types.OCILayer
	}
	return types.DockerLayer
}

type descJSON struct {
	MediaType string        `json:"mediaType"`
	Digest    string        `json:"digest"`
	Size      int64         `json:"size"`
	Platform  *platformJSON `json:"platform,omitempty"`
}

type platformJSON struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type manifestJSON struct {
	SchemaVersion int        `json:"schemaVersion"`
	MediaType     string     `json:"mediaType"`
	Config        descJSON   `json:"config"`
	Layers        []descJSON `json:"layers"`
}

type indexJSON struct {
	SchemaVersion int        `json:"schemaVersion"`
	MediaType     string     `json:"mediaType"`
	Manifests     []descJSON `json:"manifests"`
}

type configJSON struct {
	Architecture string        `json:"architecture"`
	Config       containerJSON `json:"config"`
	Created      string        `json:"created"`
	History      []historyJSON `json:"history"`
	OS           string        `json:"os"`
	RootFS       rootfsJSON    `json:"rootfs"`
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

// blob is a layer or config as go-containerregistry sees it.
type blob struct {
	data   []byte
	digest v1.Hash
	mt     types.MediaType
}

var _ partial.CompressedLayer = (*blob)(nil)

func (b *blob) Digest() (v1.Hash, error)            { return b.digest, nil }
func (b *blob) Compressed() (io.ReadCloser, error)  { return io.NopCloser(bytes.NewReader(b.data)), nil }
func (b *blob) Size() (int64, error)                { return int64(len(b.data)), nil }
func (b *blob) MediaType() (types.MediaType, error) { return b.mt, nil }

// imageLayer is a layer of an image and, for a shared one, the repository
// a push can mount it from.
type imageLayer struct {
	*layer
	from name.Reference // nil: upload
}

// rawImage is an image whose manifest and config bytes are exactly ours.
type rawImage struct {
	manifest, config []byte
	mt               types.MediaType
	layers           map[v1.Hash]*blob
	mounts           map[v1.Hash]name.Reference
}

var _ partial.CompressedImageCore = (*rawImage)(nil)

func (i *rawImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *rawImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *rawImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

func (i *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := i.layers[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("image has no layer %s", h)
}

func (i *rawImage) digest() v1.Hash {
	sum := sha256.Sum256(i.manifest)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// image returns i as a v1.Image whose shared layers remote.Write mounts.
func (i *rawImage) image() (v1.Image, error) {
	img, err := partial.CompressedToImage(i)
	if err != nil {
		return nil, err
	}
	return &mountingImage{Image: img, mounts: i.mounts}, nil
}

// mountingImage wraps the layers that have a source repository in
// remote.MountableLayer, so a push mounts them as docker push does.
type mountingImage struct {
	v1.Image
	mounts map[v1.Hash]name.Reference
}

func (m *mountingImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	for i, l := range ls {
		h, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if ref, ok := m.mounts[h]; ok {
			ls[i] = &remote.MountableLayer{Layer: l, Reference: ref}
		}
	}
	return ls, nil
}

// buildImage makes the manifest and config of an image of layers.
func buildImage(f format, arch, label string, created time.Time, layers []imageLayer) (*rawImage, error) {
	cfg := configJSON{
		Architecture: arch, OS: "linux", Created: created.Format(time.RFC3339),
		Config: containerJSON{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, Cmd: []string{"/app/run"},
			Labels: map[string]string{"org.opencontainers.image.title": label}},
		RootFS: rootfsJSON{Type: "layers"},
	}
	img := &rawImage{mt: f.manifestType(), layers: map[v1.Hash]*blob{}, mounts: map[v1.Hash]name.Reference{}}
	man := manifestJSON{SchemaVersion: 2, MediaType: string(f.manifestType())}
	for n, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, historyJSON{Created: created.Format(time.RFC3339), CreatedBy: fmt.Sprintf("COPY layer %d /app", n)})
		man.Layers = append(man.Layers, descJSON{MediaType: string(f.layerType()), Digest: l.digest.String(), Size: int64(len(l.gz))})
		img.layers[l.digest] = &blob{data: l.gz, digest: l.digest, mt: f.layerType()}
		if l.from != nil {
			img.mounts[l.digest] = l.from
		}
	}
	var err error
	if img.config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(img.config)
	man.Config = descJSON{MediaType: string(f.configType()), Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(img.config))}
	if img.manifest, err = json.Marshal(man); err != nil {
		return nil, err
	}
	return img, nil
}

// rawIndex is an index or manifest list of rawImages.
type rawIndex struct {
	manifest []byte
	mt       types.MediaType
	children map[v1.Hash]*rawImage
}

var _ v1.ImageIndex = (*rawIndex)(nil)

func buildIndex(f format, children []*rawImage, arches []string) (*rawIndex, error) {
	x := &rawIndex{mt: f.indexType(), children: map[v1.Hash]*rawImage{}}
	man := indexJSON{SchemaVersion: 2, MediaType: string(f.indexType())}
	for i, c := range children {
		h := c.digest()
		x.children[h] = c
		man.Manifests = append(man.Manifests, descJSON{MediaType: string(c.mt), Digest: h.String(), Size: int64(len(c.manifest)),
			Platform: &platformJSON{Architecture: arches[i], OS: "linux"}})
	}
	var err error
	x.manifest, err = json.Marshal(man)
	return x, err
}

func (x *rawIndex) MediaType() (types.MediaType, error) { return x.mt, nil }
func (x *rawIndex) Size() (int64, error)                { return int64(len(x.manifest)), nil }
func (x *rawIndex) RawManifest() ([]byte, error)        { return x.manifest, nil }

func (x *rawIndex) Digest() (v1.Hash, error) {
	sum := sha256.Sum256(x.manifest)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, nil
}

func (x *rawIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.manifest))
}

func (x *rawIndex) Image(h v1.Hash) (v1.Image, error) {
	c, ok := x.children[h]
	if !ok {
		return nil, fmt.Errorf("index has no image %s", h)
	}
	return c.image()
}

func (x *rawIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index has no nested index %s", h)
}
