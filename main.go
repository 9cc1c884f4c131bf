// Command harbor-import imports a Docker Registry's storage into Harbor 2.x
// without any HTTP push. See `harbor-import --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/harbor-import/harbor-import/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.NewRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "harbor-import:", err)
		os.Exit(1)
	}
}
