package harborhost_test

import (
	"context"
	"fmt"

	"github.com/harbor-import/harbor-import/harborhost"
)

func ExampleDiscover() {
	ctx := context.Background()
	h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: "testdata/external-db.yml"})
	if err != nil {
		fmt.Println(err)
		return
	}
	db, err := h.Database(ctx) // external_database: no Docker needed
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.DataVolume)
	fmt.Println(harborhost.MaskDSN(db.DSN))
	// Output:
	// /data
	// postgres://harbor:***@db.example.com:5433/harbor_registry?sslmode=require
}

func ExampleNextSteps() {
	h, err := harborhost.Discover(context.Background(), harborhost.DiscoverOptions{HarborYML: "testdata/http-only.yml"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range harborhost.NextSteps(h, harborhost.ImportFacts{Mode: "import", Changed: true, Projects: []string{"team"}}) {
		fmt.Println(s)
	}
	// Output:
	// If Harbor was stopped or read-only for the import: start it (docker compose up -d in Harbor's installation directory) or turn Repository Read Only off (Administration → Configuration → System Settings).
	// Check in the UI: Projects → team (http://10.0.0.5:8080/harbor/projects)
}
