// Command harbor-import imports a Docker Registry's storage into Harbor 2.x
// without any HTTP push. See `harbor-import --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/harbor-import/harbor-import/cmd"
)

func main() {
	// harbor-import takes no heap profile, so the runtime's allocation
	// sampling (one in 512 KiB, each sample's stack kept for good) is off:
	// its buckets held 1.6 MB at the peak of a 50,000-tag import.
	runtime.MemProfileRate = 0
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.NewRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "harbor-import:", err)
		os.Exit(1)
	}
}
