// Command mkcorpus makes (or finds) a benchmark corpus under BENCH_DIR: a
// registry storage filled by real pushes, plus docker.tar and docker.tar.gz.
// It prints the corpus directory. See package corpus for the shape.
//
//	mkcorpus -tags 5000            # /var/tmp/harbor-import-bench/corpus-5000-seed1
//	mkcorpus -tags 50000 -force    # regenerate even when present
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/harbor-import/harbor-import/bench/corpus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mkcorpus:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var (
		spec    corpus.Spec
		opts    corpus.Options
		dir     string
		force   bool
		repack  bool
		verbose bool
	)
	flag.IntVar(&spec.Tags, "tags", 5000, "number of tags")
	flag.Uint64Var(&spec.Seed, "seed", 1, "seed of every name, size and byte")
	flag.IntVar(&opts.Workers, "workers", 4, "goroutines pushing repositories")
	flag.StringVar(&dir, "dir", benchDir(), "bench directory (default $BENCH_DIR or /var/tmp/harbor-import-bench)")
	flag.BoolVar(&force, "force", false, "regenerate even when the corpus exists")
	flag.BoolVar(&repack, "repack", false, "pack the pushed storage again (after tar failed: 'file changed as we read it' when an import hardlinked the corpus meanwhile)")
	flag.BoolVar(&verbose, "v", true, "log progress to stderr")
	flag.Parse()
	if verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	var (
		c   *corpus.Corpus
		err error
	)
	switch {
	case repack:
		c, err = corpus.Repack(ctx, dir, spec, opts)
	case force:
		c, err = corpus.Generate(ctx, dir, spec, opts)
	default:
		c, err = corpus.Ensure(ctx, dir, spec, opts)
	}
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c.Info, "", "  ")
	fmt.Fprintln(os.Stderr, string(b))
	fmt.Println(c.Dir)
	return nil
}

func benchDir() string {
	if d := os.Getenv("BENCH_DIR"); d != "" {
		return d
	}
	return "/var/tmp/harbor-import-bench"
}
