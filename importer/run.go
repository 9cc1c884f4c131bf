package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/opencontainers/go-digest"
)

// Run imports opts.Source into the Harbor at opts.HarborData / opts.DSN.
//
// Order makes failures harmless: everything is read and planned first
// (names, manifests, blobs, conflicts; nothing written if anything is
// wrong), then files are staged, synced and renamed into place, then every
// row is written in one transaction. If the transaction fails, the files
// this run created are removed again. The returned Report is non-nil
// whenever planning got far enough to say something, also with an error.
func Run(ctx context.Context, opts Options) (rep *Report, err error) {
	var committed bool
	defer func() {
		if err == nil || ctx.Err() == nil {
			return
		}
		if committed {
			err = fmt.Errorf("%w after the import committed: every row and file is in place, only the final check was cut short (run harbor-import verify): %w", ErrInterrupted, err)
		} else {
			err = fmt.Errorf("%w: nothing changed in Harbor (the transaction was rolled back and the files this run placed were removed): %w", ErrInterrupted, err)
		}
	}()
	rep, err = run(ctx, opts, &committed)
	return rep, err
}

func run(ctx context.Context, opts Options, committed *bool) (_ *Report, runErr error) {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Source: opts.Source, HarborData: opts.HarborData, Mode: "import", started: start}
	switch {
	case opts.DryRun:
		rep.Mode = "dry-run"
	case opts.FilesOnly:
		rep.Mode = "files-only"
	}
	defer func() { rep.DurationSeconds = time.Since(start).Seconds() }()

	registryRoot := filepath.Join(opts.HarborData, "registry")
	if fi, err := os.Stat(registryRoot); err != nil || !fi.IsDir() {
		return rep, fmt.Errorf("%w: %s has no registry/ directory; --harbor-data is Harbor's data_volume (harbor.yml), /data by default", ErrNotHarborData, opts.HarborData)
	}
	v2 := filepath.Join(registryRoot, "docker", "registry", "v2")

	src, err := openSource(opts.Source)
	if err != nil {
		return rep, err
	}
	defer src.close()
	rep.Source = src.describe()
	log.Info("source", "source", rep.Source)

	// Database: connected and its schema read on a goroutine while the
	// source is scanned (both mostly wait, on the server and on the disk).
	// A failure there stops the scan at once; the scan's staged files go
	// with the placer.
	scanCtx, stopScan := context.WithCancelCause(ctx)
	defer stopScan(nil)
	harbor := make(chan harborConn, 1)
	if opts.DSN != "" && !opts.FilesOnly {
		go func() {
			h := connectHarbor(scanCtx, opts.DSN, log)
			if h.err != nil {
				stopScan(h.err)
			}
			harbor <- h
		}()
	} else {
		schema := harbordb.Schema{Version: opts.SchemaVersion}
		if !opts.FilesOnly {
			// A dry run without a database plans for --schema-version.
			v := opts.SchemaVersion
			if v == 0 {
				v = harbordb.DefaultVersion
			}
			schema = harbordb.SchemaFor(v)
			if err := schema.Check(); err != nil {
				return rep, err
			}
		}
		harbor <- harborConn{schema: schema}
	}
	var (
		conn   *pgx.Conn
		schema harbordb.Schema
	)
	// joinHarbor waits for the connection. After the scan, run returns its
	// error before the scan's (a wrong database is the first thing to fix).
	joinHarbor := sync.OnceValue(func() error {
		h := <-harbor
		conn, schema = h.conn, h.schema
		rep.SchemaVersion, rep.HarborRelease = schema.Version, schema.Releases
		return h.err
	})
	defer func() {
		stopScan(nil) // a connection still being made gives up
		_ = joinHarbor()
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()

	// Harbor's storage, read-only helpers.
	harborBlob := func(d digest.Digest) (string, error) {
		rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
		return filepath.Join(v2, filepath.FromSlash(rel)), err
	}
	inHarbor := func(d digest.Digest) (int64, bool, error) {
		p, err := harborBlob(d)
		if err != nil {
			return 0, false, err
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("checking Harbor's storage: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return 0, false, fmt.Errorf("Harbor's storage: %s is not a regular file", p)
		}
		return fi.Size(), true, nil
	}
	readHarbor := func(d digest.Digest) ([]byte, error) {
		p, err := harborBlob(d)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading Harbor's blob %s: %w", d, err)
		}
		defer f.Close()
		return readLimited(f, maxJSONBlob, p)
	}

	// Files: a placer for a real run (it cleans what killed runs left).
	var placer *fsmove.Placer
	if !opts.DryRun {
		// A run that places nothing leaves no trace: the directories it made
		// for itself go again if they stayed empty (this defer runs last).
		made := fresh(registryRoot, "docker/registry/v2", ".harbor-import/staging", ".harbor-import/lock")
		defer func() {
			if runErr != nil && !*committed {
				removeIfEmpty(registryRoot, made)
			}
		}()
		fopts := fsmove.Options{Root: registryRoot, Owner: opts.Owner, Strategy: opts.Strategy, Logger: log}
		// One harbor-import per Harbor: this lock for the files, an advisory
		// lock in the transaction for the rows.
		unlock, err := fsmove.Lock(ctx, registryRoot, 0)
		if err != nil {
			return rep, err
		}
		defer unlock()
		if n, err := fsmove.CleanStaging(ctx, fopts); err != nil {
			return rep, fmt.Errorf("cleaning staging leftovers: %w", err)
		} else if n > 0 {
			log.Info("removed temporary files left by an interrupted run", "files", n)
		}
		placer, err = fsmove.New(ctx, fopts)
		if err != nil {
			return rep, fmt.Errorf("preparing Harbor's storage: %w", err)
		}
		defer placer.Close()
	}

	// 1. Scan: link files, and for a tarball every blob (the one pass over it).
	inv := newInventory()
	env := scanEnv{
		placer:  placer,
		tempDir: opts.TempDir,
		inHarbor: func(d digest.Digest, size int64) (bool, error) {
			got, ok, err := inHarbor(d)
			if err != nil || !ok {
				return false, err
			}
			if got != size {
				return false, fmt.Errorf("blob %s: Harbor's storage holds %d bytes, the source %d; refusing to overwrite", d, got, size)
			}
			return true, nil
		},
		progress: func(entries int, bytes int64) { opts.progress("scan", bytes, 0, "bytes") },
	}
	restoreProcs := func() {}
	if _, ok := src.(*dirSource); ok {
		// Scan and plan wait on the disk (procs.go); placing files does not.
		restoreProcs = widenProcs()
	}
	defer restoreProcs()
	scanErr := src.scan(scanCtx, inv, env)
	if scanErr != nil {
		stopScan(scanErr) // a connection still being made gives up
	}
	// The database's error comes first unless the scan failed first (then
	// the connection only gave up).
	if err := joinHarbor(); err != nil && (scanErr == nil || context.Cause(scanCtx) == err) {
		return rep, err
	}
	if scanErr != nil {
		return rep, scanErr
	}
	if schema.Releases == "" {
		schema.Releases = releasesOf(schema.Version)
	}
	rep.SchemaVersion, rep.HarborRelease = schema.Version, schema.Releases
	inv.seal()
	log.Info("scanned source", "repositories", len(inv.repos), "link_files", inv.linkFiles)
	failpoint(ctx, "scanned")
	// 2. Plan (a directory's blobs are read ahead, in parallel).
	stopPrefetch := func() {}
	if d, ok := src.(*dirSource); ok {
		stopPrefetch = d.prefetch(ctx, inv)
	}
	p, err := newPlan(opts.TempDir)
	if err != nil {
		stopPrefetch()
		return rep, err
	}
	defer p.close()
	pl := &planner{opts: &opts, flavor: flavorOf(schema.Version), p: p, br: blobReader{src: src, inHarbor: inHarbor, readHarbor: readHarbor}}
	var links *linkStager
	if _, ok := src.(*tarSource); ok && placer != nil {
		// A tarball's link files are staged as soon as their repository is
		// planned, on other goroutines while the planner goes on: the
		// planner reads what the scan staged (CPU on one core), and making
		// the link files' directories is kernel work on the other. A
		// directory's plan waits on the disk with twice the Ps (procs.go):
		// there, staging beside it slowed the plan more than it saved (5,000
		// tags: 6.4-7.3 s against 6.0-6.2 s). Nothing syncs the tarball's
		// blobs meanwhile: a syncfs during the plan held the link files'
		// directories up (bench/HISTORY.md). A run that fails later removes
		// the links with the rest of the staging area (placer.Close,
		// deferred above: it runs after stop).
		links = startLinkStager(ctx, placer, p, linkQueue)
		defer links.stop()
		pl.linksPlanned = links.stage
	}
	err = pl.build(ctx, inv)
	stopPrefetch()
	restoreProcs()
	if err != nil {
		return rep, err
	}
	p.batch.Settings = harbordb.Settings{Username: opts.Username, OverwriteTags: opts.OverwriteTags, IgnoreQuota: opts.IgnoreQuota}

	var state *harbordb.State
	if conn != nil {
		t := time.Now()
		state, err = inspect(ctx, conn, p.batch)
		if err != nil {
			return rep, err
		}
		log.Info("read what Harbor already has", "projects", len(state.Projects), "repositories", len(state.Repositories), "artifacts", len(state.Artifacts), "seconds", time.Since(t).Seconds())
	}
	if err := rep.fill(p, state); err != nil {
		return rep, err
	}
	if state != nil && state.DataMigrations >= 0 && state.DataMigrations < 30 && schema.Version >= 40 && schema.Version <= 111 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("data_migrations.version is %d: Harbor core %s re-reads every artifact from the registry at its next start and rewrites its metadata (harbor-facts §3.3); the imported rows will be rewritten the same way a push's would", state.DataMigrations, schema.Releases))
	}
	for id := range uint32(p.blobs.len()) {
		b := p.blobs.at(id)
		switch {
		case !b.file():
			rep.Blobs.NoData++
		case b.fromHarbor():
			rep.Blobs.Existing++
		}
	}
	if opts.DryRun {
		// A real run skips what Harbor's storage already holds (scan,
		// placeFiles). A stat each, cold on a Harbor that has them: on
		// the stage workers (5,000 tags held already: 1.6 s on one).
		var held atomic.Int64
		err := inParallel(ctx, uint32(p.blobs.len()), func(id uint32) bool {
			return p.blobs.at(id).toPlace()
		}, nil, func(_ context.Context, id uint32) error {
			if size, ok, err := inHarbor(p.blobs.digest(id)); err == nil && ok && size == p.blobs.size(id) {
				held.Add(1)
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		rep.Blobs.Existing += int(held.Load())
	}
	if len(p.problems) > 0 {
		return rep, problemsError(p.problems)
	}
	if state != nil {
		var proxies []string
		for _, pr := range p.batch.Projects {
			if e, ok := state.Projects[pr.Name]; ok && e.RegistryID > 0 {
				proxies = append(proxies, pr.Name)
			}
		}
		if len(proxies) > 0 {
			return rep, fmt.Errorf("%w: projects %v are proxy caches, which refuse pushes; import into other projects", ErrConflict, proxies)
		}
		if err := quotaCheck(p, state, opts.IgnoreQuota); err != nil {
			return rep, err
		}
		if len(rep.Conflicts) > 0 && !opts.OverwriteTags {
			return rep, fmt.Errorf("%w: %d tags already exist in Harbor on other digests; --overwrite-tags moves them as a push would; nothing was written:\n%s", ErrConflict, len(rep.Conflicts), listLines(rep.Conflicts, 20))
		}
	}

	// 3. Dry run: the SQL script, nothing else.
	if opts.DryRun {
		rep.Blobs.Method = methodName(src, opts.Strategy)
		if opts.SQLOut != nil {
			info := harbordb.ScriptInfo{Source: rep.Source, Generated: time.Now(), Version: opts.Version}
			if err := harbordb.WriteScript(opts.SQLOut, schema, p.batch, info); err != nil {
				return rep, fmt.Errorf("writing SQL script: %w", err)
			}
			rep.SQLWritten = true
		}
		return rep, nil
	}

	// 4. Files and rows at the same time. The rows are loaded into an open
	// transaction while the files are staged, synced and renamed into place;
	// the transaction commits only once every file is in place and durable,
	// so no committed row ever names a missing file. Either failing undoes
	// both: the transaction is rolled back and the files this run placed are
	// removed again.
	placeCtx, stopPlacing := context.WithCancel(ctx)
	defer stopPlacing()
	var (
		tx       pgx.Tx
		counts   harbordb.Counts
		loadErr  error
		loadDone chan struct{}
	)
	if !opts.FilesOnly {
		opts.progress("database", 0, int64(harbordb.Count[harbordb.Artifact](p.batch)), "artifacts")
		if tx, err = conn.Begin(ctx); err != nil {
			return rep, fmt.Errorf("starting the transaction: %w", err)
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // nothing after a commit
		loadDone = make(chan struct{})
		go func() {
			defer close(loadDone)
			counts, loadErr = harbordb.Load(ctx, tx, schema, p.batch, log)
			if loadErr != nil {
				stopPlacing() // no point placing files for rows that will not land
			}
		}()
	}
	res, err := placeFiles(placeCtx, &opts, src, placer, p, links)
	if loadDone != nil {
		<-loadDone
	}
	rep.Blobs.Linked, rep.Blobs.Copied, rep.Blobs.Streamed = res.Linked, res.Copied, res.Streamed
	rep.Blobs.Written, rep.Blobs.Links = res.Bytes, res.Links
	rep.Blobs.Existing = rep.Blobs.Total - rep.Blobs.NoData - res.Linked - res.Copied - res.Streamed
	if err != nil && loadErr == nil {
		return rep, err // placeFiles removed what it had placed
	}
	if err == nil {
		failpoint(ctx, "placed")
	}
	if opts.FilesOnly {
		return rep, nil
	}
	if loadErr == nil {
		failpoint(ctx, "loaded")
		loadErr = ctx.Err() // an interrupt now still rolls back
	}
	if loadErr == nil {
		loadErr = tx.Commit(ctx)
	}
	if loadErr != nil {
		if rerr := placer.Rollback(context.WithoutCancel(ctx)); rerr != nil {
			log.Error("removing placed files after the failed transaction", "err", rerr)
			return rep, fmt.Errorf("writing rows: %w (and removing the placed files failed: %v)", loadErr, rerr)
		}
		return rep, fmt.Errorf("writing rows (rolled back; the files placed by this run were removed): %w", loadErr)
	}
	arts := int64(harbordb.Count[harbordb.Artifact](p.batch))
	opts.progress("database", arts, arts, "artifacts")
	*committed = true
	placer.Release() // the rows are in: the files stay whatever happens now
	rep.Rows = &counts
	failpoint(ctx, "committed")

	// 6. Check what was written, as Harbor will read it.
	if !opts.NoVerify {
		repos := make([]string, 0, len(p.batch.Repositories))
		for _, r := range p.batch.Repositories {
			repos = append(repos, r.Name)
		}
		p.close() // the check reads what was written, not the plan
		if len(repos) > 0 {
			vr, err := verifyWith(ctx, conn, VerifyOptions{HarborData: opts.HarborData, Repositories: repos, Owner: opts.Owner, Progress: opts.Progress})
			rep.Verify = vr
			if err != nil {
				return rep, fmt.Errorf("the import committed, but checking it found problems (run harbor-import verify): %w", err)
			}
		}
	}
	return rep, nil
}

// harborConn is a connection to Harbor's database and the schema read
// from it, or why there is none.
type harborConn struct {
	conn   *pgx.Conn
	schema harbordb.Schema
	err    error
}

// connectHarbor connects to dsn and reads Harbor's schema version; on an
// error the connection is closed again.
func connectHarbor(ctx context.Context, dsn string, log *slog.Logger) harborConn {
	start := time.Now()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return harborConn{err: fmt.Errorf("parsing database DSN: %w", redactErr(err))}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return harborConn{err: fmt.Errorf("connecting to Harbor's database at %s:%d/%s as %s: %w", cfg.Host, cfg.Port, cfg.Database, cfg.User, redactErr(err))}
	}
	schema, err := harbordb.Detect(ctx, conn)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		// The version found, if any, still goes into the report.
		return harborConn{schema: schema, err: err}
	}
	log.Info("connected to Harbor's database", "host", cfg.Host, "database", cfg.Database, "schema_version", schema.Version, "harbor", schema.Releases, "seconds", time.Since(start).Seconds())
	return harborConn{conn: conn, schema: schema}
}

func inspect(ctx context.Context, conn *pgx.Conn, b harbordb.Rows) (*harbordb.State, error) {
	var st *harbordb.State
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		st, err = harbordb.Inspect(ctx, tx, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading what Harbor already has: %w", err)
	}
	return st, nil
}

// placeFiles stages every needed blob and link, then commits them. It
// keeps no handle per file: Commit places everything staged, and on failure
// Close (deferred by run) removes what is still staged. links, when not
// nil, are the workers staging the link files as the plan was built:
// placeFiles waits for them instead of staging the links itself.
func placeFiles(ctx context.Context, opts *Options, src source, placer *fsmove.Placer, p *plan, links *linkStager) (fsmove.Result, error) {
	// On failure, run's deferred Close removes everything staged.
	fail := func(err error) (fsmove.Result, error) { return fsmove.Result{}, err }
	if err := stageBlobs(ctx, opts, src, placer, p); err != nil {
		return fail(err)
	}
	if links == nil {
		links = startLinkStager(ctx, placer, p, stageWorkers)
		defer links.stop()
		if err := links.stage(0, p.links); err != nil {
			return fail(err)
		}
	}
	if err := links.wait(); err != nil {
		return fail(err)
	}
	used := func(d digest.Digest) bool {
		_, b := p.blobs.get(d)
		return b != nil && b.toPlace()
	}
	if err := src.discardUnused(placer, used); err != nil {
		return fail(err)
	}
	res, err := placer.Commit(ctx, func(done, total int) {
		opts.progress("place", int64(done), int64(total), "files")
	})
	if err != nil {
		if rerr := placer.Rollback(context.WithoutCancel(ctx)); rerr != nil {
			return res, fmt.Errorf("placing files in Harbor's storage: %w (and removing the files placed so far failed: %v)", err, rerr)
		}
		return res, fmt.Errorf("placing files in Harbor's storage (the files placed so far were removed again): %w", err)
	}
	return res, nil
}

// stageWorkers stage files concurrently: one per core the Go runtime may
// use, at least 4 and at most 16. Each blob costs an open, a link or copy
// and, with --verify, a read and hash of the whole file, each link file a
// few metadata calls; one file at a time used one core and kept the disk
// at one request in flight.
var stageWorkers = min(16, max(4, runtime.GOMAXPROCS(0)))

// stageBlobs stages the plan's blobs that Harbor's storage lacks.
func stageBlobs(ctx context.Context, opts *Options, src source, placer *fsmove.Placer, p *plan) error {
	_, isDir := src.(*dirSource)
	n := uint32(p.blobs.len())
	return inParallel(ctx, n, func(i uint32) bool {
		return p.blobs.at(i).toPlace()
	}, func(i uint32) {
		if i%64 == 0 {
			opts.progress("stage", int64(i), int64(n), "blobs")
		}
		if i == n/2 {
			failpoint(ctx, "staging")
		}
	}, func(ctx context.Context, i uint32) error {
		size, d := p.blobs.size(i), p.blobs.digest(i)
		if isDir {
			has, err := placer.BlobExists(d, size)
			if err != nil || has {
				return err
			}
		}
		return src.stage(ctx, placer, d, size, opts.Verify)
	})
}

func methodName(src source, st fsmove.Strategy) string {
	if _, ok := src.(*tarSource); ok {
		return "stream"
	}
	switch st {
	case fsmove.Copy:
		return "copy"
	case fsmove.Link:
		return "hardlink"
	}
	return "hardlink (copy across filesystems)"
}

func releasesOf(v int64) string { return harbordb.ReleasesOf(v) }

// listLines indents the first max items, one per line, and counts the rest.
func listLines(items []string, max int) string {
	var lines []string
	for i, it := range items {
		if i == max {
			lines = append(lines, fmt.Sprintf("  ... and %d more", len(items)-max))
			break
		}
		lines = append(lines, "  "+it)
	}
	return strings.Join(lines, "\n")
}

// redactErr keeps passwords out of connection errors: pgx includes the
// config's host and user, never the password, but a DSN parse error may
// echo the DSN.
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("invalid connection string (not shown: it may hold a password)")
	}
	return err
}

// fresh lists, deepest first, the components of the paths under root that
// do not exist yet.
func fresh(root string, paths ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range paths {
		parts := strings.Split(p, "/")
		for i := len(parts); i > 0; i-- {
			rel := filepath.Join(parts[:i]...)
			if seen[rel] {
				continue
			}
			seen[rel] = true
			if _, err := os.Lstat(filepath.Join(root, rel)); errors.Is(err, os.ErrNotExist) {
				out = append(out, rel)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

// removeIfEmpty removes the paths under root that are empty directories or
// the lock file, deepest first; anything holding data stays.
func removeIfEmpty(root string, rels []string) {
	for _, rel := range rels {
		p := filepath.Join(root, rel)
		if filepath.Base(rel) == "lock" {
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
				_ = os.Remove(p)
			}
			continue
		}
		_ = os.Remove(p) // fails, harmlessly, unless p is an empty directory
	}
}

// quotaCheck refuses, before anything is written, an import that would take
// a project over its storage quota, as a push would be refused: usage grows
// by the blobs not yet associated with the project, foreign layers excepted
// (harbor-facts §2.5). The transaction checks again with the final numbers.
func quotaCheck(p *plan, st *harbordb.State, ignore bool) error {
	if ignore {
		return nil
	}
	growth := map[string]int64{}
	err := harbordb.Each(p.batch, func(pb harbordb.ProjectBlob) error {
		id, ok := p.blobs.find(digest.Digest(pb.BlobDigest))
		if ok && p.blobs.contentType(id) != mtForeignLayer && !st.ProjectBlobs[pb.Project+"\x00"+pb.BlobDigest] {
			growth[pb.Project] += p.blobs.size(id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var over []string
	for _, pr := range p.batch.Projects {
		hard, used := st.StoragePerProject, int64(0)
		if e, ok := st.Projects[pr.Name]; ok {
			hard, used = e.Hard, e.Used
		} else if !st.QuotaPerProject {
			continue
		}
		if hard >= 0 && used+growth[pr.Name] > hard {
			over = append(over, fmt.Sprintf("%s (limit %d bytes, used %d, the import adds %d)", pr.Name, hard, used, growth[pr.Name]))
		}
	}
	if len(over) > 0 {
		return fmt.Errorf("%w: a push would be refused; raise the projects' quotas or use --ignore-quota; nothing was written: %s",
			harbordb.ErrQuotaExceeded, strings.Join(over, ", "))
	}
	return nil
}
