package rawimage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/rawimage"
)

// An image whose manifest and config are written by hand, pushed to a
// registry and read back: the registry holds the manifest byte for byte.
func Example() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "rawimage-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	reg, err := testenv.StartRegistry(ctx, root)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()

	// An empty tar is two zero blocks; uncompressed, its digest is its diff ID.
	layer := rawimage.NewBlob(make([]byte, 1024), types.OCIUncompressedLayer)
	config := rawimage.NewBlob(fmt.Appendf(nil,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%q]}}`,
		layer.Descriptor().Digest), types.OCIConfigJSON)
	manifest, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        config.Descriptor(),
		Layers:        []v1.Descriptor{layer.Descriptor()},
	})
	if err != nil {
		log.Fatal(err)
	}
	img := rawimage.NewImage(types.OCIManifestSchema1, manifest, config, layer)

	ref, err := name.NewTag(reg.Host()+"/example:v1", name.Insecure)
	if err != nil {
		log.Fatal(err)
	}
	v1img, err := img.Image()
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(ref, v1img, remote.WithContext(ctx)); err != nil {
		log.Fatal(err)
	}
	got, err := remote.Get(ref, remote.WithContext(ctx))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Digest, bytes.Equal(got.Manifest, manifest))
	// Output:
	// sha256:bdc53f7e346c17ffc3c7f74c0d16e49e65d48fa88597f38803e16cf49dbfe5e5 true
}
