package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Measure is one timed step.
type Measure struct {
	Step string   `json:"step"`
	Kind string   `json:"kind"` // import, dry-run, floor, skopeo, profile, prep
	Cmd  []string `json:"cmd,omitempty"`

	Wall   float64 `json:"wall_seconds"`
	RSSMiB float64 `json:"peak_rss_mib"`
	User   float64 `json:"user_seconds"`
	Sys    float64 `json:"sys_seconds"`
	Exit   int     `json:"exit"`
	Err    string  `json:"error,omitempty"`
	// Load1 is the 1-minute load average when the step started: the machine
	// is shared, so a high value means the wall time is inflated.
	Load1 float64 `json:"load1"`
	Cold  bool    `json:"cold_cache"`

	// Filled by the step.
	Floor      string  `json:"floor,omitempty"`
	FloorRatio float64 `json:"floor_ratio,omitempty"`
	// DurableRatio compares with the floor followed by sync -f.
	DurableRatio float64 `json:"durable_floor_ratio,omitempty"`
	SkopeoX      float64 `json:"x_faster_than_skopeo,omitempty"`
	Rows         int64   `json:"rows,omitempty"`
	DBSeconds    float64 `json:"db_seconds,omitempty"`
	RowsPerS     float64 `json:"rows_per_second,omitempty"`
	Phases       []Phase `json:"phases,omitempty"`
	Notes        string  `json:"notes,omitempty"`
	// Runs are the wall times of every repetition; the step keeps the fastest.
	Runs []float64 `json:"runs,omitempty"`

	started time.Time // when the command started, after the cache drop
}

// Phase is one phase of an import, in seconds.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

func (m *Measure) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if m.Notes == "" {
		m.Notes = s
	} else {
		m.Notes += "; " + s
	}
}

// dropCaches writes back dirty pages and empties the page cache, dentries
// and inodes, so the next step reads from disk. It reports false when the
// kernel does not let us.
func dropCaches() bool {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
		return false
	}
	return true
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// runOpts say how to run a timed command.
type runOpts struct {
	cold           bool
	stdout, stderr io.Writer
	env            []string
	dir            string
}

// timed runs name args under /usr/bin/time -v, with a cold page cache when
// o.cold, and returns the measure (also when the command fails).
func (r *runner) timed(ctx context.Context, step, kind string, o runOpts, name string, args ...string) *Measure {
	m := &Measure{Step: step, Kind: kind, Cmd: append([]string{name}, args...)}
	r.awaitRemovals(ctx, step)
	if o.cold {
		m.Cold = dropCaches()
		if !m.Cold {
			r.coldDenied = true
		}
	}
	tf, err := os.CreateTemp("", "bench-time-")
	if err != nil {
		m.Err = err.Error()
		return m
	}
	tf.Close()
	defer os.Remove(tf.Name())
	cmd := exec.CommandContext(ctx, r.cfg.timeBin, append([]string{"-v", "-o", tf.Name(), name}, args...)...)
	cmd.Stdout, cmd.Stderr = o.stdout, o.stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	cmd.Dir = o.dir
	if o.env != nil {
		cmd.Env = append(os.Environ(), o.env...)
	}
	m.Load1 = load1()
	r.log.Info("step", "step", step, "cmd", strings.Join(m.Cmd, " "), "load1", m.Load1, "cold", m.Cold)
	m.started = time.Now()
	err = cmd.Run()
	m.Wall = time.Since(m.started).Seconds()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		m.Exit = ee.ExitCode()
		m.Err = err.Error()
	case err != nil:
		m.Exit = -1
		m.Err = err.Error()
	}
	if err := parseTimeV(tf.Name(), m); err != nil && m.Err == "" {
		m.Err = err.Error()
	}
	r.log.Info("done", "step", step, "wall", m.Wall, "rss_mib", m.RSSMiB, "user", m.User, "sys", m.Sys, "exit", m.Exit)
	return m
}

// parseTimeV reads GNU time's -v report: peak RSS, user and system time,
// and the exit status of the command.
func parseTimeV(path string, m *Measure) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		num, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch k {
		case "Maximum resident set size (kbytes)":
			m.RSSMiB = num / 1024
			found = true
		case "User time (seconds)":
			m.User = num
		case "System time (seconds)":
			m.Sys = num
		case "Exit status":
			m.Exit = int(num)
		}
	}
	if !found {
		return fmt.Errorf("no peak RSS in /usr/bin/time -v output %s", path)
	}
	return sc.Err()
}

// inProcess times f in this process (for steps that are not a command of
// their own, such as the COPY floor), with a cold page cache when cold.
func (r *runner) inProcess(ctx context.Context, step, kind string, cold bool, f func() error) *Measure {
	m := &Measure{Step: step, Kind: kind}
	r.awaitRemovals(ctx, step)
	if cold {
		m.Cold = dropCaches()
	}
	m.Load1 = load1()
	start := time.Now()
	if err := f(); err != nil {
		m.Err = err.Error()
		m.Exit = -1
	}
	m.Wall = time.Since(start).Seconds()
	r.log.Info("done", "step", step, "wall", m.Wall, "err", m.Err)
	return m
}
