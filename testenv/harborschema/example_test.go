package harborschema_test

import (
	"fmt"

	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

func ExampleVersions() {
	fmt.Println(harborschema.Versions())
	// Output: [30 31 40 41 50 51 52 53 60 61 70 71 80 81 82 90 91 100 110 111 120 130 140 150 160 170 171 180 181 190]
}

func ExampleReleaseOf() {
	for _, v := range []int{30, 110, 180, 190} {
		fmt.Println(v, harborschema.ReleaseOf(v))
	}
	// Output:
	// 30 2.0.0-2.0.2
	// 110 2.8.0
	// 180 2.15.0-2.15.2
	// 190 2.16.0
}
