package harborschema_test

import (
	"fmt"

	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

func ExampleVersions() {
	fmt.Println(harborschema.Versions())
	// Output: [180]
}
