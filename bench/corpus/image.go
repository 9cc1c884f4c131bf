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
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/harbor-import/harbor-import/testenv/rawimage"
)

// epoch is the base of every created time.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// layer is a gzip'd tar (stored, not compressed: its content is random) and
// the sha256 of the tar, the diff ID.
type layer struct {
	blob   *rawimage.Blob // a Docker layer; buildImage retypes it for OCI images
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
	return &layer{
		blob:   rawimage.NewBlob(gzBuf.Bytes(), types.DockerLayer),
		diffID: "sha256:" + hex.EncodeToString(diff.Sum(nil)),
	}, nil
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

// types returns the format's media types.
func (f format) types() rawimage.MediaTypes {
	if f == formatOCI {
		return rawimage.OCI
	}
	return rawimage.Docker
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

// imageLayer is a layer of an image and, for a shared one, the repository
// a push can mount it from.
type imageLayer struct {
	*layer
	from name.Reference // nil: upload
}

// buildImage makes the manifest and config of an image of layers.
func buildImage(f format, arch, label string, created time.Time, layers []imageLayer) (*rawimage.Image, error) {
	cfg := rawimage.Config{
		Architecture: arch, OS: "linux", Created: created.Format(time.RFC3339),
		Config: rawimage.Container{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, Cmd: []string{"/app/run"},
			Labels: map[string]string{"org.opencontainers.image.title": label}},
		RootFS: rawimage.RootFS{Type: "layers"},
	}
	man := manifestJSON{SchemaVersion: 2, MediaType: string(f.types().Manifest)}
	blobs := make([]*rawimage.Blob, 0, len(layers))
	for n, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, rawimage.History{Created: created.Format(time.RFC3339), CreatedBy: fmt.Sprintf("COPY layer %d /app", n)})
		b := l.blob.WithMediaType(f.types().Layer)
		man.Layers = append(man.Layers, descFor(b.Descriptor()))
		blobs = append(blobs, b)
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cb := rawimage.NewBlob(config, f.types().Config)
	man.Config = descFor(cb.Descriptor())
	manifest, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	img := rawimage.NewImage(f.types().Manifest, manifest, cb, blobs...)
	for _, l := range layers {
		if l.from != nil {
			img.MountFrom(l.blob.Descriptor().Digest, l.from)
		}
	}
	return img, nil
}

func buildIndex(f format, children []*rawimage.Image, arches []string) (*rawimage.Index, error) {
	man := indexJSON{SchemaVersion: 2, MediaType: string(f.types().Index)}
	for i, c := range children {
		d := descFor(c.Descriptor())
		d.Platform = &platformJSON{Architecture: arches[i], OS: "linux"}
		man.Manifests = append(man.Manifests, d)
	}
	manifest, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	return rawimage.NewIndex(f.types().Index, manifest, children...), nil
}

// descFor returns d as the descriptor a manifest or index lists.
func descFor(d v1.Descriptor) descJSON {
	return descJSON{MediaType: string(d.MediaType), Digest: d.Digest.String(), Size: d.Size}
}
