// Command runimport runs one import in process, as `harbor-import` would
// (same importer.Run; the flags are a subset of the CLI's), and records
// what the CLI does not show: the wall time of each phase, taken from the
// importer's progress events and logs, and optionally a CPU or heap
// profile. It writes a JSON result holding the phases and the report.
//
//	runimport -src DIR -harbor-data H -db DSN -cpuprofile cpu.prof -out result.json
//	runimport -src docker.tar -harbor-data H -db DSN -trace trace.out   # then go tool trace -pprof=sched trace.out
//
// Phases are consecutive wall-time segments of importer.Run, cut at its
// progress events and log records (the importer may load the rows while it
// places the files, so the database load has its own figure):
//
//	scan      until "scanned source" is logged
//	plan      until the first stage, place or database event (includes reading the database)
//	stage     until the first file is renamed into place: staging, chown, first syncfs
//	place     until "committed files to registry storage": renames, second syncfs
//	database  until the transaction committed: what is left of the row load, and COMMIT
//	verify    the check of what was written, until importer.Run returns
//
// With -mem-peak FILE, the runtime's memory classes (runtime/metrics) are
// sampled every 100 ms and the sample with the most memory mapped and not
// released to the OS is written to FILE: what the peak RSS is made of.
// runimport runs with the runtime's own GOGC and memory limit; set GOGC=25
// GOMEMLIMIT=192MiB to match harbor-import's defaults.
//
// With -db-steps, db_load_seconds is the row load's own duration (from the
// start of the database phase to harbordb.Load's last statement), however it
// overlaps the file phases, and db_steps times each statement.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/importer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "runimport:", err)
		os.Exit(1)
	}
}

// Result is what runimport writes.
type Result struct {
	Seconds float64 `json:"seconds"`
	// Phases are the seconds each phase took, in order.
	Phases []Phase          `json:"phases"`
	Error  string           `json:"error,omitempty"`
	Report *importer.Report `json:"report"`
	// DBSteps are harbordb.Load's staging COPYs and SQL steps with the
	// seconds each took (with -db-steps).
	DBSteps []DBStep `json:"db_steps,omitempty"`
	// DBLoadSeconds is harbordb.Load's own duration, from the start of the
	// database phase to its last statement (with -db-steps).
	DBLoadSeconds float64 `json:"db_load_seconds,omitempty"`
}

// DBStep is one statement of the database phase.
type DBStep struct {
	Name    string  `json:"name"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
}

// Phase is one phase's duration.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// clock records when each mark was first (or last) reached.
type clock struct {
	mu    sync.Mutex
	start time.Time
	first map[string]time.Duration
	last  map[string]time.Duration
}

func (c *clock) mark(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := time.Since(c.start)
	if _, ok := c.first[name]; !ok {
		c.first[name] = d
	}
	c.last[name] = d
}

// logHook passes records on and marks the messages that end phases.
type logHook struct {
	slog.Handler
	c       *clock
	dbSteps bool
	mu      *sync.Mutex
	steps   *[]DBStep
	prev    *time.Time
}

func (h logHook) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "scanned source":
		h.c.mark("scanned")
	case "committed files to registry storage":
		h.c.mark("committed")
	case "staged rows", "step done":
		if h.dbSteps {
			h.dbStep(r)
		}
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// dbStep records one of harbordb.Load's debug records: a statement ended
// now, and began when the previous one (or the transaction) ended.
func (h logHook) dbStep(r slog.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := DBStep{}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "table", "step":
			st.Name = r.Message + ": " + a.Value.String()
		case "rows":
			st.Rows = a.Value.Int64()
		}
		return true
	})
	if h.prev.IsZero() {
		*h.prev = h.c.start.Add(h.c.first["database-start"])
	}
	st.Seconds = r.Time.Sub(*h.prev).Seconds()
	*h.prev = r.Time
	*h.steps = append(*h.steps, st)
}

func (h logHook) Enabled(ctx context.Context, l slog.Level) bool {
	if h.dbSteps {
		return true
	}
	return l >= slog.LevelInfo
}

func run(ctx context.Context) error {
	var (
		opts                   importer.Options
		strategy, out          string
		cpuProfile, memProfile string
		traceFile              string
		verbose, dbSteps       bool
		heapAt, heapAtFile     string
		memPeak                string
	)
	flag.StringVar(&opts.Source, "src", "", "registry storage directory or tarball")
	flag.StringVar(&opts.HarborData, "harbor-data", "", "Harbor's data volume")
	flag.StringVar(&opts.DSN, "db", "", "Harbor's database DSN")
	flag.BoolVar(&opts.Verify, "verify", false, "hash every blob from a directory")
	flag.BoolVar(&opts.DryRun, "dry-run", false, "write nothing")
	flag.BoolVar(&opts.NoVerify, "no-verify", false, "skip the check after the import")
	flag.StringVar(&strategy, "strategy", "auto", "auto, link or copy")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run here")
	flag.StringVar(&traceFile, "trace", "", "write an execution trace of the whole run here (go tool trace): where a phase waits, not only what it computes")
	flag.StringVar(&memProfile, "memprofile", "", "write a heap profile (after the run) here")
	flag.StringVar(&out, "out", "", "write the JSON result here (default stdout)")
	flag.BoolVar(&verbose, "v", false, "log to stderr")
	flag.StringVar(&heapAt, "heap-at", "", "write a heap profile (live objects, after a GC) when this phase starts: plan, stage, place, database, verify; PHASE@N when its count reaches N (plan@300: after 300 repositories)")
	flag.StringVar(&heapAtFile, "heap-at-file", "heap-at.prof", "where -heap-at writes")
	flag.StringVar(&memPeak, "mem-peak", "", "write the runtime's memory classes at the peak of mapped memory here")
	flag.BoolVar(&dbSteps, "db-steps", false, "time each statement of the database phase (enables debug records, which costs a little)")
	flag.Parse()
	if heapAt != "" || memProfile != "" {
		// Sample finely: the default (one sample per 512 KiB) blurs
		// structures of a few MB.
		runtime.MemProfileRate = 4096
	}
	switch strategy {
	case "auto":
	case "link":
		opts.Strategy = fsmove.Link
	case "copy":
		opts.Strategy = fsmove.Copy
	default:
		return fmt.Errorf("unknown strategy %q", strategy)
	}

	c := &clock{first: map[string]time.Duration{}, last: map[string]time.Duration{}}
	var h slog.Handler = slog.DiscardHandler
	if verbose {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	var steps []DBStep
	var prev time.Time
	opts.Logger = slog.New(logHook{Handler: h, c: c, dbSteps: dbSteps, mu: &c.mu, steps: &steps, prev: &prev})
	var heapOnce sync.Once
	opts.Progress = func(p importer.Progress) {
		if phase, at, _ := strings.Cut(heapAt, "@"); p.Phase == phase && (at == "" || strconv.FormatInt(p.Done, 10) == at) {
			heapOnce.Do(func() { writeHeap(heapAtFile) })
		}
		switch {
		case p.Phase == "database" && p.Done == 0:
			c.mark("database-start")
		case p.Phase == "database":
			c.mark("database-end")
		default:
			c.mark(p.Phase)
		}
	}

	stopCPU, err := record(cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	stopTrace, err := record(traceFile, trace.Start, trace.Stop)
	if err != nil {
		stopCPU()
		return err
	}
	if memPeak != "" {
		stop := sampleMemory(memPeak)
		defer stop()
	}
	c.start = time.Now()
	rep, runErr := importer.Run(ctx, opts)
	total := time.Since(c.start)
	stopCPU()
	stopTrace()
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		runtime.GC()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
		f.Close()
	}

	res := Result{Seconds: total.Seconds(), Report: rep, Phases: c.phases(total), DBSteps: steps}
	for _, st := range steps { // each step starts where the previous ended
		res.DBLoadSeconds += st.Seconds
	}
	if runErr != nil {
		res.Error = runErr.Error()
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if out == "" {
		fmt.Println(string(b))
	} else if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return runErr
}

// phases turns the marks into durations; a phase that did not happen is 0.
func (c *clock) phases(total time.Duration) []Phase {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := func(names ...string) (time.Duration, bool) {
		best, ok := time.Duration(0), false
		for _, n := range names {
			if d, has := c.first[n]; has && (!ok || d < best) {
				best, ok = d, true
			}
		}
		return best, ok
	}
	var wrote bool
	for _, n := range []string{"stage", "place", "database-start", "committed"} {
		if _, ok := c.first[n]; ok {
			wrote = true
		}
	}
	type bound struct {
		name string
		end  time.Duration
		ok   bool
	}
	var ends []bound
	add := func(name string, names ...string) {
		d, ok := at(names...)
		ends = append(ends, bound{name, d, ok})
	}
	add("scan", "scanned")
	if !wrote {
		// A dry run (or a failed run) ends with planning.
		ends = append(ends, bound{"plan", total, true})
	} else {
		add("plan", "stage", "place", "database-start", "committed")
		add("stage", "place", "committed")
		add("place", "committed")
		add("database", "database-end")
		ends = append(ends, bound{"verify", total, true})
	}
	var out []Phase
	prev := time.Duration(0)
	for _, e := range ends {
		if !e.ok || e.end < prev {
			out = append(out, Phase{Name: e.name})
			continue
		}
		out = append(out, Phase{Name: e.name, Seconds: (e.end - prev).Seconds()})
		prev = e.end
	}
	return out
}

// writeHeap writes a profile of the live heap now.
func writeHeap(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runimport: heap profile:", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "runimport: heap profile:", err)
	}
}

// sampleMemory samples the runtime's memory classes every 100 ms until
// stop, which writes the sample with the most memory held from the OS
// (total minus released) to file, one "name bytes" line per class.
func sampleMemory(file string) (stop func()) {
	var names []string
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/gc/heap/goal:bytes" {
			names = append(names, d.Name)
		}
	}
	read := func() ([]metrics.Sample, uint64) {
		s := make([]metrics.Sample, len(names))
		for i, n := range names {
			s[i].Name = n
		}
		metrics.Read(s)
		var total, released uint64
		for _, x := range s {
			switch x.Name {
			case "/memory/classes/total:bytes":
				total = x.Value.Uint64()
			case "/memory/classes/heap/released:bytes":
				released = x.Value.Uint64()
			}
		}
		return s, total - released
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		peak, held := read()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				var b strings.Builder
				fmt.Fprintf(&b, "held %d\n", held)
				for _, x := range peak {
					fmt.Fprintf(&b, "%s %d\n", x.Name, x.Value.Uint64())
				}
				if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
					fmt.Fprintln(os.Stderr, "runimport:", err)
				}
				return
			case <-t.C:
				if s, h := read(); h > held {
					peak, held = s, h
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// record creates path and has start write to it (a CPU profile, an
// execution trace) until the returned func stops it and closes the file.
// An empty path records nothing.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}
