// Command harbor-import-demo runs harbor-import's main job end to end on a
// built-in example, as a user would, and checks the result:
//
//  1. real pushes into an in-process Docker Registry (distribution) fill a
//     storage directory (testenv.PushClassic: shared layers, nested and
//     single-component names, two tags on one image, a moved tag, an OCI
//     index and a Docker manifest list), packed as docker.tar;
//  2. a throwaway PostgreSQL 15 container gets a database "registry" with
//     Harbor 2.15's schema, seeded like a fresh install (harborschema.Apply);
//  3. the harbor-import binary imports docker.tar into an empty Harbor data
//     volume and that database, and prints its report;
//  4. it runs again, and the demo checks that no row and no file changed;
//  5. a registry serves the Harbor storage, and every tag row is resolved to
//     its digest by SQL, as Harbor's core does, and pulled by digest with
//     every blob's digest and size checked;
//  6. rows per table are summarised and the container is removed.
//
// Usage (from the repository root; `make demo` does all of it):
//
//	make build
//	go run ./testenv/cmd/harbor-import-demo --bin bin/harbor-import [--keep] [--workdir DIR]
//
// Without --workdir the files go to a temporary directory that is removed at
// the end; a --workdir must be empty or absent and is left in place. --keep
// leaves the PostgreSQL container and the files, and prints how to reach
// them. Docker is needed for PostgreSQL only; the first run builds the image
// with debootstrap (scripts/setup-test-deps.sh installs it), about a minute.
// The exit status is non-zero on any failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/harbor-import/harbor-import/testenv"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// config is the command line.
type config struct {
	bin     string // harbor-import binary
	keep    bool   // leave the container and files
	workdir string // "" for a temporary directory
}

func main() {
	var c config
	fs := flag.NewFlagSet("harbor-import-demo", flag.ContinueOnError)
	fs.StringVar(&c.bin, "bin", "bin/harbor-import", "the harbor-import binary to run (make build writes bin/harbor-import)")
	fs.BoolVar(&c.keep, "keep", false, "leave the PostgreSQL container and the work directory, and print how to reach them")
	fs.StringVar(&c.workdir, "workdir", "", "work directory, empty or absent (default: a temporary directory, removed at the end)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./testenv/cmd/harbor-import-demo --bin bin/harbor-import [--keep] [--workdir DIR]\n\n"+
			"Runs harbor-import on a built-in example (real pushes, a throwaway PostgreSQL with\n"+
			"Harbor 2.15's schema), imports twice, and pulls every imported tag back by digest.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "harbor-import-demo: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		os.Exit(2)
	}

	// testcontainers-go reads its configuration once; set it before anything.
	// Its own log lines (container created, started, ...) are left out: the
	// demo says what it starts.
	testenv.SetTestcontainersEnv()
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	d := &demo{cfg: c, out: os.Stdout}
	err := d.run(ctx)
	if cerr := d.cleanup(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nharbor-import-demo: FAILED after %s:\n%v\n", time.Since(start).Round(time.Second), err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stdout, "\nharbor-import-demo: PASSED in %s\n", time.Since(start).Round(time.Second))
}

// prepareWorkdir returns the work directory and whether the demo created it
// as a temporary directory (and so removes it).
func prepareWorkdir(dir string) (string, bool, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "harbor-import-demo-")
		return tmp, true, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return abs, false, os.MkdirAll(abs, 0o755)
	case err != nil:
		return "", false, fmt.Errorf("reading --workdir: %w", err)
	case len(entries) > 0:
		return "", false, fmt.Errorf("--workdir %s is not empty; give an empty or new directory", abs)
	}
	return abs, false, nil
}
