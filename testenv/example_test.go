package testenv_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/harbor-import/harbor-import/testenv"
)

// A registry over a fresh storage directory, filled by real pushes and read
// back by a real pull. The directory is then what a user of an offline
// registry would hand to harbor-import.
func Example() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "testenv-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	reg, err := testenv.StartRegistry(ctx, root)
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()

	fx, err := testenv.PushReferenceCases(ctx, reg.Host())
	if err != nil {
		log.Fatal(err)
	}
	for _, im := range fx.Images {
		if err := testenv.PullAndVerify(ctx, reg.Host(), im.Repo, im.Tag, im.Digest); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s:%s %s, %d children\n", im.Repo, im.Tag, im.MediaType, len(im.Children))
	}
	// Output:
	// single-v2s2:v1 application/vnd.docker.distribution.manifest.v2+json, 0 children
	// single-oci:v1 application/vnd.oci.image.manifest.v1+json, 0 children
	// multi-index:v1 application/vnd.oci.image.index.v1+json, 2 children
}
