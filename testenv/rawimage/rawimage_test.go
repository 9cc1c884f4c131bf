package rawimage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/rawimage"
)

// buildImage writes an OCI manifest and config for layers (the registry
// reads neither the layers nor the config, so their bytes are arbitrary).
func buildImage(t *testing.T, arch string, layers ...*rawimage.Blob) *rawimage.Image {
	t.Helper()
	config := rawimage.NewBlob(fmt.Appendf(nil, `{"architecture":%q,"os":"linux"}`, arch), types.OCIConfigJSON)
	man := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: config.Descriptor()}
	for _, l := range layers {
		man.Layers = append(man.Layers, l.Descriptor())
	}
	raw, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	return rawimage.NewImage(types.OCIManifestSchema1, raw, config, layers...)
}

// buildIndex writes an OCI index of children.
func buildIndex(t *testing.T, children ...*rawimage.Image) *rawimage.Index {
	t.Helper()
	man := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, c := range children {
		man.Manifests = append(man.Manifests, c.Descriptor())
	}
	raw, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	return rawimage.NewIndex(types.OCIImageIndex, raw, children...)
}

// uploads is a transport recording every blob upload a client starts: its
// path and mount query, with the registry's answer.
type uploads struct {
	mu    sync.Mutex
	posts []upload
}

type upload struct {
	path        string
	mount, from string
	status      int
	uploaded    bool // a PUT completing an upload of mount's digest followed
}

func (u *uploads) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	q := req.URL.Query()
	u.mu.Lock()
	defer u.mu.Unlock()
	switch req.Method {
	case http.MethodPost:
		u.posts = append(u.posts, upload{path: req.URL.Path, mount: q.Get("mount"), from: q.Get("from"), status: resp.StatusCode})
	case http.MethodPut:
		if d := q.Get("digest"); d != "" {
			for i := range u.posts {
				if u.posts[i].mount == d {
					u.posts[i].uploaded = true
				}
			}
		}
	}
	return resp, nil
}

// TestPushIndexMountsSharedLayer pushes a base image, then an index whose
// child shares the base's layer: the layer is mounted, not uploaded, and
// the registry serves every manifest byte for byte.
func TestPushIndexMountsSharedLayer(t *testing.T) {
	ctx := t.Context()
	reg, err := testenv.StartRegistry(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("StartRegistry: %v", err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("closing registry: %v", err)
		}
	})
	rec := &uploads{}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rec)}
	tag := func(repo string) name.Tag {
		ref, err := name.NewTag(reg.Host()+"/"+repo+":v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}

	shared := rawimage.NewBlob([]byte("shared layer"), types.OCILayer)
	base := buildImage(t, "amd64", shared)
	baseImg, err := base.Image()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag("base"), baseImg, opts...); err != nil {
		t.Fatalf("pushing base: %v", err)
	}

	amd64 := buildImage(t, "amd64", shared, rawimage.NewBlob([]byte("app amd64"), types.OCILayer))
	amd64.MountFrom(shared.Descriptor().Digest, tag("base"))
	arm64 := buildImage(t, "arm64", rawimage.NewBlob([]byte("app arm64"), types.OCILayer))
	idx := buildIndex(t, amd64, arm64)
	if err := remote.WriteIndex(tag("app"), idx, opts...); err != nil {
		t.Fatalf("pushing app: %v", err)
	}

	var mounts []upload
	for _, u := range rec.posts {
		if u.mount != "" {
			mounts = append(mounts, u)
		}
	}
	want := upload{path: "/v2/app/blobs/uploads/", mount: shared.Descriptor().Digest.String(), from: "base", status: http.StatusCreated}
	if len(mounts) != 1 || mounts[0] != want {
		t.Errorf("got mount requests %+v, want one: %+v", mounts, want)
	}

	appRaw, err := idx.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		ref  name.Reference
		want []byte
	}{
		{"index", tag("app"), appRaw},
		{"amd64", tag("app").Digest(amd64.Descriptor().Digest.String()), mustRaw(t, amd64)},
		{"arm64", tag("app").Digest(arm64.Descriptor().Digest.String()), mustRaw(t, arm64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := remote.Get(tt.ref, remote.WithContext(ctx))
			if err != nil {
				t.Fatalf("pulling %s: %v", tt.ref, err)
			}
			if !bytes.Equal(got.Manifest, tt.want) {
				t.Errorf("got manifest %s, want %s", got.Manifest, tt.want)
			}
		})
	}
}

func mustRaw(t *testing.T, img *rawimage.Image) []byte {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestLookups(t *testing.T) {
	layer := rawimage.NewBlob([]byte("layer"), types.DockerLayer)
	img := buildImage(t, "amd64", layer)
	idx := buildIndex(t, img)
	unknown := rawimage.NewBlob([]byte("unknown"), types.OCILayer).Descriptor().Digest

	for _, tt := range []struct {
		name    string
		lookup  func() error
		wantErr error
	}{
		{"image layer", func() error { _, err := img.LayerByDigest(layer.Descriptor().Digest); return err }, nil},
		{"image unknown", func() error { _, err := img.LayerByDigest(unknown); return err }, rawimage.ErrUnknownDigest},
		{"index child", func() error { _, err := idx.Image(img.Descriptor().Digest); return err }, nil},
		{"index unknown", func() error { _, err := idx.Image(unknown); return err }, rawimage.ErrUnknownDigest},
		{"index nested", func() error { _, err := idx.ImageIndex(img.Descriptor().Digest); return err }, rawimage.ErrUnknownDigest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.lookup(); !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
		})
	}

	// The config is served too: remote.Write never asks, other clients may.
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.LayerByDigest(rawimage.NewBlob(cfg, "").Descriptor().Digest); err != nil {
		t.Errorf("config: got error %v, want none", err)
	}
}

func TestBlobDescriptor(t *testing.T) {
	b := rawimage.NewBlob([]byte("abc"), types.DockerLayer)
	oci := b.WithMediaType(types.OCILayer)
	// sha256("abc")
	const abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	for _, tt := range []struct {
		name string
		got  v1.Descriptor
		want types.MediaType
	}{
		{"docker", b.Descriptor(), types.DockerLayer},
		{"oci", oci.Descriptor(), types.OCILayer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Digest.String() != abc || tt.got.Size != 3 || tt.got.MediaType != tt.want {
				t.Errorf("got %s %d %s, want %s 3 %s", tt.got.Digest, tt.got.Size, tt.got.MediaType, abc, tt.want)
			}
		})
	}
}
