package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/harbor-import/harbor-import/testenv/rawimage"
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

// types returns the format's media types.
func (f format) types() rawimage.MediaTypes {
	if f == formatDocker {
		return rawimage.Docker
	}
	return rawimage.OCI
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

// build returns the image with its manifest and config bytes.
func (s imageSpec) build() (*rawimage.Image, error) {
	created := fixtureTime.Format(time.RFC3339)
	cfg := rawimage.Config{
		Architecture: s.arch,
		Config: rawimage.Container{
			Env:    []string{"PATH=/usr/bin:/bin"},
			Cmd:    []string{"/bin/sh"},
			Labels: map[string]string{"oracle": s.oracle},
		},
		Created: created,
		OS:      s.os,
		RootFS:  rawimage.RootFS{Type: "layers"},
		Variant: s.variant,
	}
	man := ocispec.Manifest{MediaType: string(s.format.types().Manifest)}
	man.SchemaVersion = 2
	layers := make([]*rawimage.Blob, 0, len(s.layers))
	for i, l := range s.layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, rawimage.History{Created: created, CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD layer %d", i)})
		b := rawimage.NewBlob(l.gz, s.format.types().Layer)
		layers = append(layers, b)
		man.Layers = append(man.Layers, ociDescriptor(b.Descriptor()))
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cb := rawimage.NewBlob(config, s.format.types().Config)
	man.Config = ociDescriptor(cb.Descriptor())
	manifest, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	return rawimage.NewImage(s.format.types().Manifest, manifest, cb, layers...), nil
}

// child is an image of an index with its platform.
type child struct {
	img      *rawimage.Image
	platform ocispec.Platform
}

// buildIndex returns an index (OCI) or manifest list (Docker) of children.
func buildIndex(f format, children []child) (*rawimage.Index, error) {
	man := ocispec.Index{MediaType: string(f.types().Index)}
	man.SchemaVersion = 2
	imgs := make([]*rawimage.Image, 0, len(children))
	for _, c := range children {
		imgs = append(imgs, c.img)
		d := ociDescriptor(c.img.Descriptor())
		p := c.platform
		d.Platform = &p
		man.Manifests = append(man.Manifests, d)
	}
	manifest, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	return rawimage.NewIndex(f.types().Index, manifest, imgs...), nil
}

// ociDescriptor returns d as an OCI descriptor, which marshals its fields in
// the order docker and skopeo write them.
func ociDescriptor(d v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}
}

// childDigests returns the digests of x's children in index order.
func childDigests(x *rawimage.Index) ([]string, error) {
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
