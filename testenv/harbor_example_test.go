package testenv_test

import (
	"context"
	"fmt"
	"log"

	"github.com/harbor-import/harbor-import/testenv"
)

// A Harbor for an end-to-end test, in the mode HARBOR_IMPORT_TEST_MODE
// selects (the offline stand-in unless the goharbor images are loaded).
// The Harbor is returned even with an error, so it is cleaned up first.
func ExampleRunHarbor() {
	ctx := context.Background()
	h, err := testenv.RunHarbor(ctx)
	defer func() {
		if err := h.Terminate(context.Background()); err != nil {
			log.Print(err)
		}
	}()
	if err != nil {
		log.Printf("harbor logs:\n%s", h.Logs(ctx))
		log.Fatal(err)
	}
	// Import into it as a user would:
	//   harbor-import --src docker.tar --harbor-data h.DataDir --db h.DSN
	// then pull what was imported, by digest:
	//   h.PullAndVerify(ctx, "library/alpine", digest, digest)
	fmt.Println(h.Mode, h.DataDir, h.RegistryHost)
}
