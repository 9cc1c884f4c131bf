// Command benchrun measures harbor-import on one corpus against its floors
// and against skopeo, in one run on the same data, and prints a table.
// bench/run.sh (make bench) builds the programs and calls it; see
// bench/README.md.
//
// Every timed step runs under /usr/bin/time -v (wall time, peak RSS, CPU)
// after `sync; echo 3 > /proc/sys/vm/drop_caches` (noted when not
// permitted), and every import goes into a fresh Harbor data directory and a
// fresh database cloned from a Harbor 2.15 schema template.
//
//	benchrun -tags 5000 -bin bin/harbor-import -tools bin/bench
//	benchrun -tags 50000 -baseline /var/tmp/harbor-import-bench/results/5000-.../results.json -skip-skopeo
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/harbor-import/harbor-import/bench/benchdb"
	"github.com/harbor-import/harbor-import/bench/corpus"
	"github.com/harbor-import/harbor-import/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// config is benchrun's flags.
type config struct {
	spec       corpus.Spec
	benchDir   string
	bin        string // harbor-import binary
	tools      string // directory of the bench programs (registry, skopeodir, runimport)
	timeBin    string
	pgAdmin    string
	baseline   string
	skipSkopeo bool
	skipCross  bool
	noProfile  bool
	workers    int
	only       string
	repeat     int
}

// runner holds one benchmark run's state.
type runner struct {
	cfg        config
	log        *slog.Logger
	c          *corpus.Corpus
	db         *benchdb.Server
	work       string // scratch directory on the corpus's filesystem
	trash      string // where cleanWork moves finished steps' scratch (same filesystem)
	trashed    int
	removedAt  time.Time // the bench's last removal of files (removalWindow)
	out        string    // results directory
	coldDenied bool
	results    Results
	seq        int
}

// Results is what a run writes to results.json.
type Results struct {
	Corpus    corpus.Info `json:"corpus"`
	Started   time.Time   `json:"started"`
	Host      string      `json:"host"`
	Cold      string      `json:"cold_cache"`
	CrossFS   string      `json:"cross_filesystem"`
	Steps     []*Measure  `json:"steps"`
	Targets   []Target    `json:"targets"`
	Profiles  []string    `json:"profiles,omitempty"`
	Baseline  string      `json:"baseline,omitempty"`
	Generated float64     `json:"corpus_generate_seconds,omitempty"`
}

func run(ctx context.Context) error {
	var cfg config
	flag.IntVar(&cfg.spec.Tags, "tags", 5000, "corpus size in tags")
	flag.Uint64Var(&cfg.spec.Seed, "seed", 1, "corpus seed")
	flag.StringVar(&cfg.benchDir, "bench-dir", envOr("BENCH_DIR", "/var/tmp/harbor-import-bench"), "where corpora, scratch space and results go (BENCH_DIR)")
	flag.StringVar(&cfg.bin, "bin", "bin/harbor-import", "the harbor-import binary to measure")
	flag.StringVar(&cfg.tools, "tools", "bin/bench", "directory holding the bench programs registry, skopeodir and runimport")
	flag.StringVar(&cfg.timeBin, "time", "/usr/bin/time", "GNU time")
	flag.StringVar(&cfg.pgAdmin, "pg", os.Getenv("BENCH_PG"), "admin DSN of an existing PostgreSQL server (default: start a container; BENCH_PG)")
	flag.StringVar(&cfg.baseline, "baseline", "", "results.json of a smaller run, for the scaling targets")
	flag.BoolVar(&cfg.skipSkopeo, "skip-skopeo", os.Getenv("BENCH_SKIP_SKOPEO") == "1", "skip the skopeo steps (BENCH_SKIP_SKOPEO=1)")
	flag.BoolVar(&cfg.skipCross, "skip-cross-fs", os.Getenv("BENCH_SKIP_CROSS_FS") == "1", "skip the steps from another filesystem (BENCH_SKIP_CROSS_FS=1)")
	flag.BoolVar(&cfg.noProfile, "no-profile", false, "skip the profiled in-process runs")
	flag.IntVar(&cfg.workers, "workers", 4, "pushing goroutines when the corpus must be generated")
	flag.StringVar(&cfg.only, "only", "", "comma-separated step groups to run: floors,imports,dry,profile,copy,skopeo (default all)")
	flag.IntVar(&cfg.repeat, "repeat", envInt("BENCH_REPEAT", 1), "run each floor, import and dry-run step this many times and keep the fastest (BENCH_REPEAT)")
	flag.Parse()

	for _, p := range []*string{&cfg.bin, &cfg.tools, &cfg.benchDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	r := &runner{cfg: cfg, log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if _, err := os.Stat(cfg.timeBin); err != nil {
		return fmt.Errorf("GNU time is needed for peak RSS (apt-get install -y time): %w", err)
	}

	// Corpus.
	start := time.Now()
	c, err := corpus.Ensure(ctx, cfg.benchDir, cfg.spec, corpus.Options{Workers: cfg.workers, Logger: r.log})
	if err != nil {
		return err
	}
	r.c = c
	r.results = Results{Corpus: c.Info, Started: time.Now().UTC(), Baseline: cfg.baseline}
	if d := time.Since(start); d > time.Minute {
		r.results.Generated = d.Seconds()
	}
	r.results.Host, _ = os.Hostname()

	stamp := time.Now().UTC().Format("20060102-150405")
	r.out = filepath.Join(cfg.benchDir, "results", fmt.Sprintf("%d-%s", c.Info.Tags, stamp))
	r.work = filepath.Join(cfg.benchDir, "work")
	r.trash = filepath.Join(cfg.benchDir, "trash")
	r.loadRemoval()
	for _, d := range []string{r.work, r.trash} { // a killed run's leftovers
		if err := r.removeTree(d); err != nil {
			return err
		}
	}
	defer r.emptyTrash()
	for _, d := range []string{r.out, r.work, r.trash} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// Database.
	testenv.SetTestcontainersEnv()
	db, err := benchdb.Start(ctx, cfg.pgAdmin)
	defer func() {
		if err := db.Close(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn("stopping PostgreSQL", "err", err)
		}
	}()
	if err != nil {
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	r.db = db

	runErr := r.all(ctx)
	if r.coldDenied {
		r.results.Cold = "not permitted: steps ran with whatever the page cache held"
	} else {
		r.results.Cold = "sync; echo 3 > /proc/sys/vm/drop_caches before each timed step"
	}
	r.targets()
	if err := r.write(); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (r *runner) want(group string) bool {
	if r.cfg.only == "" {
		return true
	}
	for _, g := range strings.Split(r.cfg.only, ",") {
		if g == group {
			return true
		}
	}
	return false
}

// write stores results.json and results.md and prints the table.
func (r *runner) write() error {
	b, err := json.MarshalIndent(r.results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.out, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := r.markdown()
	if err := os.WriteFile(filepath.Join(r.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Printf("\nResults: %s\n", r.out)
	return nil
}
