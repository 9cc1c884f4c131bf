// Command registry serves a registry storage directory over plain HTTP on
// 127.0.0.1 (an in-process distribution registry, testenv.StartRegistry)
// until it is interrupted. It prints the address, 127.0.0.1:PORT, as its
// first line on standard output; the storage's rootdirectory is created when
// missing.
//
//	registry -dir /var/tmp/reg    # prints 127.0.0.1:41234
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/harbor-import/harbor-import/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dir := flag.String("dir", "", "the storage's rootdirectory (holds docker/registry/v2)")
	flag.Parse()
	if *dir == "" {
		return errors.New("-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	reg, err := testenv.StartRegistry(ctx, *dir)
	if err != nil {
		return err
	}
	fmt.Println(reg.Host())
	<-ctx.Done()
	return reg.Close()
}
