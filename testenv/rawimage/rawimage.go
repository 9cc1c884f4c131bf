package rawimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MediaTypes are one image format's media types: of its manifest, its
// index, its config and its layers.
type MediaTypes struct {
	Manifest, Index, Config, Layer types.MediaType
}

var (
	// Docker is Docker's image manifest v2, schema 2, and its manifest list.
	Docker = MediaTypes{types.DockerManifestSchema2, types.DockerManifestList, types.DockerConfigJSON, types.DockerLayer}
	// OCI is the OCI image manifest and image index.
	OCI = MediaTypes{types.OCIManifestSchema1, types.OCIImageIndex, types.OCIConfigJSON, types.OCILayer}
)

// Blob is exact bytes with a media type and their sha256 digest: a layer or
// config of an Image. As a partial.CompressedLayer its bytes are uploaded as
// they are.
type Blob struct {
	data      []byte
	mediaType types.MediaType
	digest    v1.Hash
}

var _ partial.CompressedLayer = (*Blob)(nil)

// NewBlob returns data, which it does not copy, as a blob of media type mt.
func NewBlob(data []byte, mt types.MediaType) *Blob {
	return &Blob{data: data, mediaType: mt, digest: sha256Hash(data)}
}

// WithMediaType returns the same bytes as a blob of media type mt without
// hashing them again, for a layer that Docker and OCI images share.
func (b *Blob) WithMediaType(mt types.MediaType) *Blob {
	c := *b
	c.mediaType = mt
	return &c
}

// Descriptor returns b's media type, digest and size.
func (b *Blob) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: b.mediaType, Digest: b.digest, Size: int64(len(b.data))}
}

// Digest implements partial.CompressedLayer.
func (b *Blob) Digest() (v1.Hash, error) { return b.digest, nil }

// Compressed implements partial.CompressedLayer: a reader of b's bytes.
func (b *Blob) Compressed() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.data)), nil }

// Size implements partial.CompressedLayer.
func (b *Blob) Size() (int64, error) { return int64(len(b.data)), nil }

// MediaType implements partial.CompressedLayer.
func (b *Blob) MediaType() (types.MediaType, error) { return b.mediaType, nil }

// Image is an image whose manifest and config are exactly the bytes it was
// made of.
type Image struct {
	manifest *Blob
	config   *Blob
	blobs    map[v1.Hash]*Blob // layers and config
	mounts   map[v1.Hash]name.Reference
}

var _ partial.CompressedImageCore = (*Image)(nil)

// NewImage returns the image whose manifest, of media type mt, is manifest
// and whose config and layers are config and layers. It does not parse
// manifest: the caller makes it list exactly these blobs.
func NewImage(mt types.MediaType, manifest []byte, config *Blob, layers ...*Blob) *Image {
	i := &Image{manifest: NewBlob(manifest, mt), config: config, blobs: make(map[v1.Hash]*Blob, len(layers)+1)}
	for _, l := range layers {
		i.blobs[l.digest] = l
	}
	i.blobs[config.digest] = config
	return i
}

// MountFrom makes a push of i mount its layer with digest layer from
// repository repo (a remote.MountableLayer) instead of uploading it; the
// registry falls back to an upload when it cannot mount.
func (i *Image) MountFrom(layer v1.Hash, repo name.Reference) {
	if i.mounts == nil {
		i.mounts = map[v1.Hash]name.Reference{}
	}
	i.mounts[layer] = repo
}

// Descriptor returns the media type, digest and size of i's manifest.
func (i *Image) Descriptor() v1.Descriptor { return i.manifest.Descriptor() }

// RawConfigFile implements partial.CompressedImageCore.
func (i *Image) RawConfigFile() ([]byte, error) { return i.config.data, nil }

// MediaType implements partial.CompressedImageCore: the manifest's media type.
func (i *Image) MediaType() (types.MediaType, error) { return i.manifest.mediaType, nil }

// RawManifest implements partial.CompressedImageCore.
func (i *Image) RawManifest() ([]byte, error) { return i.manifest.data, nil }

// LayerByDigest implements partial.CompressedImageCore: a layer or the config.
func (i *Image) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := i.blobs[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("looking up blob %s of image %s: %w", h, i.manifest.digest, ErrUnknownDigest)
}

// Image returns i as a v1.Image, for remote.Write. Its layers given to
// MountFrom are remote.MountableLayers.
func (i *Image) Image() (v1.Image, error) {
	img, err := partial.CompressedToImage(i)
	if err != nil || len(i.mounts) == 0 {
		return img, err
	}
	return &mountingImage{Image: img, mounts: i.mounts}, nil
}

// mountingImage wraps the layers that have a source repository in
// remote.MountableLayer.
type mountingImage struct {
	v1.Image
	mounts map[v1.Hash]name.Reference
}

func (m *mountingImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	for n, l := range ls {
		h, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if ref, ok := m.mounts[h]; ok {
			ls[n] = &remote.MountableLayer{Layer: l, Reference: ref}
		}
	}
	return ls, nil
}

// Index is an index or manifest list whose manifest is exactly the bytes it
// was made of, over child Images. It holds no nested index.
type Index struct {
	manifest *Blob
	children map[v1.Hash]*Image
}

var _ v1.ImageIndex = (*Index)(nil)

// NewIndex returns the index whose manifest, of media type mt, is manifest
// and whose children are children. It does not parse manifest: the caller
// makes it list exactly these images.
func NewIndex(mt types.MediaType, manifest []byte, children ...*Image) *Index {
	x := &Index{manifest: NewBlob(manifest, mt), children: make(map[v1.Hash]*Image, len(children))}
	for _, c := range children {
		x.children[c.manifest.digest] = c
	}
	return x
}

// Descriptor returns the media type, digest and size of x's manifest.
func (x *Index) Descriptor() v1.Descriptor { return x.manifest.Descriptor() }

// MediaType implements v1.ImageIndex.
func (x *Index) MediaType() (types.MediaType, error) { return x.manifest.mediaType, nil }

// Digest implements v1.ImageIndex.
func (x *Index) Digest() (v1.Hash, error) { return x.manifest.digest, nil }

// Size implements v1.ImageIndex.
func (x *Index) Size() (int64, error) { return int64(len(x.manifest.data)), nil }

// RawManifest implements v1.ImageIndex.
func (x *Index) RawManifest() ([]byte, error) { return x.manifest.data, nil }

// IndexManifest implements v1.ImageIndex by parsing the manifest.
func (x *Index) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.manifest.data))
}

// Image implements v1.ImageIndex: the child h, as Image.Image returns it.
func (x *Index) Image(h v1.Hash) (v1.Image, error) {
	if c, ok := x.children[h]; ok {
		return c.Image()
	}
	return nil, fmt.Errorf("looking up image %s of index %s: %w", h, x.manifest.digest, ErrUnknownDigest)
}

// ImageIndex implements v1.ImageIndex; an Index has no nested index.
func (x *Index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("looking up index %s of index %s: %w", h, x.manifest.digest, ErrUnknownDigest)
}

func sha256Hash(data []byte) v1.Hash {
	sum := sha256.Sum256(data)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}
