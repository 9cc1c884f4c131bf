package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/harbor-import/harbor-import/bench/benchdb"

	"golang.org/x/sys/unix"
)

// Step names; the table and the targets look steps up by them.
const (
	stCpAl  = "floor: cp -al storage (same fs)"
	stCpA   = "floor: cp -a storage (loop ext4 -> disk)"
	stTarX  = "floor: tar -xf docker.tar"
	stTarXz = "floor: tar -xzf docker.tar.gz"
	stSha   = "floor: sha256sum every blob (xargs -P2)"
	// The dry run's floor: a dry run must at least read every directory
	// of repositories/ to find the links (and then reads the manifests
	// and stats the blobs they name).
	stFind = "floor: find repositories/ (metadata walk)"
	// Durable floors: the importer syncs its filesystem twice (staged data,
	// then names) before it writes rows; plain cp and tar leave the
	// writeback to later.
	stCpAlS  = "floor: cp -al storage; sync -f (durable)"
	stTarXS  = "floor: tar -xf docker.tar; sync -f (durable)"
	stCopy   = "floor: PostgreSQL COPY of the import's row count"
	stDir    = "harbor-import dir, same fs (hardlink)"
	stDirV   = "harbor-import dir, same fs (hardlink) --verify"
	stX      = "harbor-import dir, other fs (copy)"
	stXV     = "harbor-import dir, other fs (copy) --verify"
	stTar    = "harbor-import docker.tar"
	stTgz    = "harbor-import docker.tar.gz"
	stDry    = "harbor-import --dry-run dir, no DB"
	stDryDB  = "harbor-import --dry-run dir, with DB"
	stDryTar = "harbor-import --dry-run docker.tar, no DB"
	stDryHot = "harbor-import --dry-run dir, no DB, warm cache"
	stSkLay  = "skopeo: hardlink tags into dir: layout"
	stSkSync = "skopeo sync --src dir --dest docker"
	stSkDir  = "skopeo dir+sync (layout + sync)"
	stSkReg  = "skopeo sync --src docker --dest docker"
	stPDir   = "profile: dir same fs, in process"
	stPTar   = "profile: docker.tar, in process"
	stPDry   = "profile: --dry-run dir, in process"
)

// all runs every selected step; a failed step is recorded and the run goes on.
func (r *runner) all(ctx context.Context) error {
	var errs []error
	keep := func(m *Measure) {
		r.results.Steps = append(r.results.Steps, m)
		if m.Err != "" {
			errs = append(errs, fmt.Errorf("%s: %s", m.Step, m.Err))
		}
	}
	storage := r.c.Storage
	// best runs a step cfg.repeat times and keeps the fastest run: the
	// machine may be shared, and the minimum is the least disturbed.
	best := func(f func() *Measure) *Measure {
		var keep *Measure
		var runs []float64
		for range max(1, r.cfg.repeat) {
			m := f()
			runs = append(runs, m.Wall)
			if m.Err != "" {
				return m
			}
			if keep == nil || m.Wall < keep.Wall {
				keep = m
			}
		}
		if len(runs) > 1 {
			keep.Runs = runs
		}
		return keep
	}

	// The other filesystem: a loop-mounted ext4 image holding a copy of the storage.
	var cross string
	if !r.cfg.skipCross && (r.want("floors") || r.want("imports")) {
		mnt, unmount, err := r.crossFS(ctx)
		if err != nil {
			r.results.CrossFS = "unavailable: " + err.Error()
			r.log.Warn("no second filesystem; skipping the copy steps", "err", err)
		} else {
			defer unmount()
			cross = mnt
			r.results.CrossFS = "loop-mounted ext4 image (" + filepath.Join(r.c.Dir, "xfs.img") + ") at " + mnt + "; Harbor's data on the corpus's filesystem"
		}
	}

	if r.want("floors") {
		keep(best(func() *Measure {
			return r.floorCmd(ctx, stCpAl, "", "cp", "-al", filepath.Join(storage, "docker"), r.scratch("cpal"))
		}))
		if cross != "" {
			keep(best(func() *Measure {
				return r.floorCmd(ctx, stCpA, "", "cp", "-a", filepath.Join(cross, "docker"), r.scratch("cpa"))
			}))
		}
		keep(best(func() *Measure { return r.floorCmd(ctx, stTarX, "", "tar", "-xf", r.c.Tar, "-C", r.scratch("tarx")) }))
		keep(best(func() *Measure {
			d := r.scratch("cpals")
			return r.floorCmd(ctx, stCpAlS, "", "sh", "-c", `cp -al "$0" "$1" && sync -f "$1"`, filepath.Join(storage, "docker"), d)
		}))
		keep(best(func() *Measure {
			d := r.scratch("tarxs")
			return r.floorCmd(ctx, stTarXS, "", "sh", "-c", `tar -xf "$0" -C "$1" && sync -f "$1"`, r.c.Tar, d)
		}))
		keep(best(func() *Measure {
			return r.floorCmd(ctx, stTarXz, "", "tar", "-xzf", r.c.TarGz, "-C", r.scratch("tarxz"))
		}))
		keep(best(func() *Measure {
			return r.floorCmd(ctx, stFind, "", "sh", "-c", `find "$0" > /dev/null`, filepath.Join(r.c.V2(), "repositories"))
		}))
		keep(r.floorCmd(ctx, stSha, "", "sh", "-c",
			`find "$0" -type f -name data -print0 | xargs -0 -P2 -n 256 sha256sum > /dev/null`,
			filepath.Join(r.c.V2(), "blobs")))
	}
	if r.want("imports") {
		keep(best(func() *Measure { return r.importStep(ctx, stDir, "import", storage, true) }))
		keep(best(func() *Measure { return r.importStep(ctx, stDirV, "import", storage, true, "--verify") }))
		if cross != "" {
			keep(best(func() *Measure { return r.importStep(ctx, stX, "import", cross, true) }))
			keep(best(func() *Measure { return r.importStep(ctx, stXV, "import", cross, true, "--verify") }))
		}
		keep(best(func() *Measure { return r.importStep(ctx, stTar, "import", r.c.Tar, true) }))
		keep(best(func() *Measure { return r.importStep(ctx, stTgz, "import", r.c.TarGz, true) }))
	}
	if r.want("dry") {
		keep(best(func() *Measure { return r.importStep(ctx, stDry, "dry-run", storage, false, "--dry-run") }))
		keep(best(func() *Measure { return r.importStep(ctx, stDryDB, "dry-run", storage, true, "--dry-run") }))
		// The same again right after a run, without dropping the cache.
		keep(best(func() *Measure {
			_ = r.importStepCache(ctx, stDryHot, "dry-run", storage, false, false, "--dry-run")
			return r.importStepCache(ctx, stDryHot, "dry-run", storage, false, false, "--dry-run")
		}))
		keep(best(func() *Measure { return r.importStep(ctx, stDryTar, "dry-run", r.c.Tar, false, "--dry-run") }))
	}
	if r.want("profile") && !r.cfg.noProfile {
		keep(r.profileStep(ctx, stPDir, storage, true))
		keep(r.profileStep(ctx, stPTar, r.c.Tar, true))
		keep(r.profileStep(ctx, stPDry, storage, false, "-dry-run"))
	}
	if r.want("copy") {
		keep(r.copyFloor(ctx))
	}
	if r.want("skopeo") && !r.cfg.skipSkopeo {
		for _, m := range r.skopeo(ctx) {
			keep(m)
		}
	}
	return errors.Join(errs...)
}

// scratch returns a fresh directory under the work directory.
func (r *runner) scratch(name string) string {
	r.seq++
	d := filepath.Join(r.work, fmt.Sprintf("%02d-%s", r.seq, name))
	_ = os.MkdirAll(d, 0o755)
	return d
}

func slug(step string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(step) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// floorCmd times a plain command with a cold cache, then removes what it
// wrote under the work directory.
func (r *runner) floorCmd(ctx context.Context, step, _ string, name string, args ...string) *Measure {
	logf, err := os.Create(filepath.Join(r.out, slug(step)+".log"))
	if err != nil {
		return &Measure{Step: step, Kind: "floor", Err: err.Error()}
	}
	defer logf.Close()
	m := r.timed(ctx, step, "floor", runOpts{cold: true, stdout: logf, stderr: logf}, name, args...)
	r.cleanWork()
	return m
}

// cleanWork empties the work directory (not timed). Removing hundreds of
// thousands of files right before a timed step slows that step down (ext4
// without a journal passes over recently freed inodes: removalWindow), so
// while the disk has room for three more copies of the corpus the entries
// are only moved to the trash, which emptyTrash removes after the last
// step. Without that room they are removed, and the next timed step waits
// out the window first (awaitRemovals).
func (r *runner) cleanWork() {
	entries, _ := os.ReadDir(r.work)
	var fs unix.Statfs_t
	room := unix.Statfs(r.work, &fs) == nil && int64(fs.Bavail)*int64(fs.Bsize) > 3*r.c.Info.TarBytes+(4<<30)
	removed := false
	for _, e := range entries {
		p := filepath.Join(r.work, e.Name())
		if room {
			r.trashed++
			if os.Rename(p, filepath.Join(r.trash, fmt.Sprintf("%d-%s", r.trashed, e.Name()))) == nil {
				continue
			}
		}
		removed = true
		if err := os.RemoveAll(p); err != nil {
			r.log.Warn("cleaning work directory", "err", err)
		}
	}
	if removed {
		r.removed()
	}
}

// removalWindow is how long after files are removed ext4 without a journal
// (this machine's root file system) still passes over their inodes when it
// allocates new ones, each pass a look-up of the inode's table block
// (fs/ext4/ialloc.c, recently_deleted: 60 s after the inode's deletion
// time, RECENTCY_MIN, and 300 s more while that block is dirty,
// RECENTCY_DIRTY, which a step making files in the same block group makes
// it), plus a margin. Measured: a 50,000-tag directory import's stage phase
// took 39-42 s within that window after the last step's files were removed,
// 24.6 s past it. A 36 s wait (the 5 s window older kernels had, plus the
// writeback expiry) left the bench's 50,000-tag imports inside it.
const removalWindow = 366 * time.Second

// removalStamp is the file that keeps the time of the bench's last removal
// across runs (run.sh starts the next size right after emptyTrash).
func (r *runner) removalStamp() string { return filepath.Join(r.cfg.benchDir, "last-removal") }

// removed records that files were removed just now.
func (r *runner) removed() {
	r.removedAt = time.Now()
	_ = os.WriteFile(r.removalStamp(), []byte(r.removedAt.UTC().Format(time.RFC3339Nano)), 0o644)
}

// loadRemoval reads the time of the last removal an earlier run recorded.
func (r *runner) loadRemoval() {
	b, err := os.ReadFile(r.removalStamp())
	if err != nil {
		return
	}
	if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); err == nil {
		r.removedAt = t
	}
}

// awaitRemovals waits until removalWindow has passed since the last
// removal (or ctx is done), before a timed step.
func (r *runner) awaitRemovals(ctx context.Context, step string) {
	if r.removedAt.IsZero() {
		return
	}
	if wait := time.Until(r.removedAt.Add(removalWindow)); wait > 0 {
		r.log.Info("waiting until ext4 reuses the inodes removed before this step freely", "step", step, "wait", wait.Round(time.Second))
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// removeTree removes the directory dir and, when it held anything, records
// the removal (awaitRemovals).
func (r *runner) removeTree(dir string) error {
	entries, _ := os.ReadDir(dir)
	err := os.RemoveAll(dir)
	if len(entries) > 0 {
		r.removed()
	}
	return err
}

// emptyTrash removes what cleanWork moved aside.
func (r *runner) emptyTrash() {
	if err := r.removeTree(r.trash); err != nil {
		r.log.Warn("emptying the bench trash", "dir", r.trash, "err", err)
	}
}

// importStep runs bin/harbor-import from src into a fresh Harbor data
// directory and, when db, a fresh database.
func (r *runner) importStep(ctx context.Context, step, kind, src string, db bool, extra ...string) *Measure {
	return r.importStepCache(ctx, step, kind, src, db, true, extra...)
}

// importStepCache is importStep with the page cache dropped first or not.
func (r *runner) importStepCache(ctx context.Context, step, kind, src string, db, cold bool, extra ...string) *Measure {
	s := slug(step)
	harbor := r.scratch("harbor")
	if err := os.MkdirAll(filepath.Join(harbor, "registry"), 0o755); err != nil {
		return &Measure{Step: step, Kind: kind, Err: err.Error()}
	}
	defer r.cleanWork()
	args := []string{"--src", src, "--harbor-data", harbor, "--output", "json", "-v", "--no-progress"}
	if db {
		name := "bench_" + strings.ReplaceAll(s, "-", "_")
		dsn, err := r.db.Create(ctx, name)
		if err != nil {
			return &Measure{Step: step, Kind: kind, Err: err.Error()}
		}
		defer func() { _ = r.db.Drop(context.WithoutCancel(ctx), name) }()
		args = append(args, "--db", dsn)
	}
	args = append(args, extra...)
	jsonPath := filepath.Join(r.out, s+".json")
	logPath := filepath.Join(r.out, s+".log")
	jf, err := os.Create(jsonPath)
	if err != nil {
		return &Measure{Step: step, Kind: kind, Err: err.Error()}
	}
	lf, err := os.Create(logPath)
	if err != nil {
		jf.Close()
		return &Measure{Step: step, Kind: kind, Err: err.Error()}
	}
	m := r.timed(ctx, step, kind, runOpts{cold: cold, stdout: jf, stderr: lf}, r.cfg.bin, args...)
	jf.Close()
	lf.Close()
	r.checkReport(m, jsonPath)
	m.Phases = logPhases(logPath, m.started, m.Wall)
	return m
}

// report is the part of harbor-import's JSON report the bench reads.
type report struct {
	Mode      string `json:"mode"`
	Artifacts int    `json:"artifacts"`
	Tags      int    `json:"tags"`
	Problems  []any  `json:"problems"`
	Blobs     struct {
		Total    int   `json:"total"`
		Linked   int   `json:"linked"`
		Copied   int   `json:"copied"`
		Streamed int   `json:"streamed"`
		Existing int   `json:"already_present"`
		Written  int64 `json:"bytes_written"`
		Links    int   `json:"link_files"`
	} `json:"blobs"`
	Rows   map[string]int64 `json:"rows"`
	Verify *struct {
		Artifacts int   `json:"artifacts"`
		Problems  []any `json:"problems"`
	} `json:"verify"`
	Duration float64 `json:"duration_seconds"`
}

func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("reading report %s: %w", path, err)
	}
	return &rep, nil
}

// checkReport notes what the import did and whether it imported every tag.
func (r *runner) checkReport(m *Measure, path string) {
	rep, err := readReport(path)
	if err != nil {
		m.note("no report: %v", err)
		return
	}
	if rep.Tags != r.c.Info.Tags {
		m.note("planned %d tags, the corpus has %d", rep.Tags, r.c.Info.Tags)
	}
	if len(rep.Problems) > 0 {
		m.note("%d problems", len(rep.Problems))
	}
	for _, n := range rep.Rows {
		m.Rows += n
	}
	b := rep.Blobs
	if rep.Mode == "import" {
		m.note("blobs linked %d, copied %d, streamed %d, present %d; %d link files; %d MiB written",
			b.Linked, b.Copied, b.Streamed, b.Existing, b.Links, b.Written>>20)
	}
	if rep.Verify != nil {
		m.note("post-import check: %d artifacts, %d problems", rep.Verify.Artifacts, len(rep.Verify.Problems))
	}
}

// logPhases splits a CLI run's wall time with the timestamps of its -v
// log: scan (until "scanned source"), plan+files (until "committed files
// to registry storage"), db+verify (until exit). A dry run has scan and
// plan. The log's timestamps have millisecond precision.
func logPhases(path string, start time.Time, wall float64) []Phase {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	marks := map[string]time.Time{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		for _, msg := range []string{`msg="scanned source"`, `msg="committed files to registry storage"`} {
			if strings.Contains(line, msg) {
				if _, seen := marks[msg]; !seen {
					marks[msg] = t
				}
			}
		}
	}
	end := start.Add(time.Duration(wall * float64(time.Second)))
	scanned, okS := marks[`msg="scanned source"`]
	committed, okC := marks[`msg="committed files to registry storage"`]
	switch {
	case okS && okC:
		return []Phase{{"scan", scanned.Sub(start).Seconds()}, {"plan+files", committed.Sub(scanned).Seconds()}, {"db+verify", end.Sub(committed).Seconds()}}
	case okS:
		return []Phase{{"scan", scanned.Sub(start).Seconds()}, {"plan", end.Sub(scanned).Seconds()}}
	}
	return nil
}

// profileStep runs the import in process (bench/cmd/runimport) with a CPU
// profile and exact phase times, then writes pprof's top entries.
func (r *runner) profileStep(ctx context.Context, step, src string, db bool, extra ...string) *Measure {
	s := slug(step)
	harbor := r.scratch("harbor")
	if err := os.MkdirAll(filepath.Join(harbor, "registry"), 0o755); err != nil {
		return &Measure{Step: step, Kind: "profile", Err: err.Error()}
	}
	defer r.cleanWork()
	prof := filepath.Join(r.out, s+".cpu.prof")
	resPath := filepath.Join(r.out, s+".json")
	args := []string{"-src", src, "-harbor-data", harbor, "-cpuprofile", prof, "-out", resPath, "-v", "-db-steps"}
	if db {
		name := "bench_" + strings.ReplaceAll(s, "-", "_")
		dsn, err := r.db.Create(ctx, name)
		if err != nil {
			return &Measure{Step: step, Kind: "profile", Err: err.Error()}
		}
		defer func() { _ = r.db.Drop(context.WithoutCancel(ctx), name) }()
		args = append(args, "-db", dsn)
	}
	args = append(args, extra...)
	lf, err := os.Create(filepath.Join(r.out, s+".log"))
	if err != nil {
		return &Measure{Step: step, Kind: "profile", Err: err.Error()}
	}
	defer lf.Close()
	runimport := filepath.Join(r.cfg.tools, "runimport")
	m := r.timed(ctx, step, "profile", runOpts{cold: true, stderr: lf}, runimport, args...)

	var res struct {
		Phases []Phase `json:"phases"`
		Report struct {
			Rows map[string]int64 `json:"rows"`
		} `json:"report"`
		DBLoad  float64 `json:"db_load_seconds"`
		DBSteps []struct {
			Name    string  `json:"name"`
			Rows    int64   `json:"rows"`
			Seconds float64 `json:"seconds"`
		} `json:"db_steps"`
	}
	if b, err := os.ReadFile(resPath); err == nil && json.Unmarshal(b, &res) == nil {
		m.Phases = res.Phases
		for _, n := range res.Report.Rows {
			m.Rows += n
		}
		if res.DBLoad > 0 && m.Rows > 0 {
			m.DBSeconds = res.DBLoad
			m.RowsPerS = float64(m.Rows) / res.DBLoad
			m.Phases = append(m.Phases, Phase{"db load (concurrent with files)", res.DBLoad})
			// The slowest statements.
			sort.Slice(res.DBSteps, func(i, j int) bool { return res.DBSteps[i].Seconds > res.DBSteps[j].Seconds })
			var top []string
			for _, st := range res.DBSteps[:min(4, len(res.DBSteps))] {
				top = append(top, fmt.Sprintf("%s %.2fs (%d rows)", st.Name, st.Seconds, st.Rows))
			}
			m.note("slowest DB statements: %s", strings.Join(top, ", "))
		}
	}
	for _, mode := range []struct{ suffix, flag string }{{"top", ""}, {"lines", "-lines"}, {"cum", "-cum"}} {
		args := []string{"tool", "pprof", "-top", "-nodecount=40"}
		if mode.flag != "" {
			args = append(args, mode.flag)
		}
		args = append(args, runimport, prof)
		out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		path := filepath.Join(r.out, s+".pprof-"+mode.suffix+".txt")
		if err != nil {
			out = append(out, []byte("\n"+err.Error())...)
		}
		_ = os.WriteFile(path, out, 0o644)
		r.results.Profiles = append(r.results.Profiles, path)
	}
	return m
}

// copyFloor times a COPY of as many rows as the directory import wrote.
func (r *runner) copyFloor(ctx context.Context) *Measure {
	var rows int64
	for _, m := range r.results.Steps {
		if (m.Step == stDir || m.Step == stPDir) && m.Rows > 0 {
			rows = m.Rows
			break
		}
	}
	if rows == 0 {
		return &Measure{Step: stCopy, Kind: "floor", Err: "no row count: the directory import did not run or wrote nothing"}
	}
	name := "bench_copy_floor"
	dsn, err := r.db.Create(ctx, name)
	if err != nil {
		return &Measure{Step: stCopy, Kind: "floor", Err: err.Error()}
	}
	defer func() { _ = r.db.Drop(context.WithoutCancel(ctx), name) }()
	var d time.Duration
	m := r.inProcess(ctx, stCopy, "floor", true, func() error {
		var err error
		d, err = benchdb.CopyFloor(ctx, dsn, int(rows))
		return err
	})
	m.Rows = rows
	if d > 0 {
		m.Wall = d.Seconds()
		m.DBSeconds = d.Seconds()
		m.RowsPerS = float64(rows) / d.Seconds()
	}
	m.note("one transaction, pgx CopyFrom into a table shaped like artifact_blob (serial PK, unique pair of digests); wall is the COPY+commit only")
	return m
}

func (r *runner) step(name string) *Measure {
	for _, m := range r.results.Steps {
		if m.Step == name {
			return m
		}
	}
	return nil
}
