package harborhost

import (
	"context"
	"errors"
	"fmt"
	"github.com/harbor-import/harbor-import/internal/units"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Status is a check's verdict.
type Status string

// Check verdicts: OK, WARN (go, but read the reason), FAIL (no go).
const (
	StatusOK   Status = "OK"
	StatusWarn Status = "WARN"
	StatusFail Status = "FAIL"
)

// Check is one preflight check.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
}

// PreflightReport holds the checks in the order they ran.
type PreflightReport struct {
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r *PreflightReport) Failed() bool { return r.Count(StatusFail) > 0 }

// Count returns how many checks have status s.
func (r *PreflightReport) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Check returns the check named name, if it ran.
func (r *PreflightReport) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// WriteText prints one line per check and the verdict.
func (r *PreflightReport) WriteText(w io.Writer) {
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-12s %s\n", c.Status, c.Name, c.Reason)
	}
	fails, warns := r.Count(StatusFail), r.Count(StatusWarn)
	switch {
	case fails > 0:
		fmt.Fprintf(w, "NO-GO: %d of %d checks failed, %d warnings\n", fails, len(r.Checks), warns)
	case warns == 1:
		fmt.Fprintf(w, "GO: no check failed; read the warning\n")
	case warns > 1:
		fmt.Fprintf(w, "GO: no check failed; read the %d warnings\n", warns)
	default:
		fmt.Fprintf(w, "GO: every check passed\n")
	}
}

// Check names, in the order Preflight runs them.
const (
	CheckDataVolume = "data volume"
	CheckOwnership  = "ownership"
	CheckStorage    = "storage"
	CheckSource     = "source"
	CheckDiskSpace  = "disk space"
	CheckPlacement  = "placement"
	CheckDatabase   = "database"
	CheckServices   = "services"
	CheckWrites     = "writes"
	CheckQuota      = "quota"
	CheckCache      = "cache"
)

// DefaultServices are the containers of Harbor's installer Preflight
// reports on (besides the database container).
var DefaultServices = []string{"harbor-core", "harbor-jobservice", "registry", "registryctl", "redis", "nginx", "harbor-portal"}

// PreflightOptions configure Preflight. Zero values mean the defaults.
type PreflightOptions struct {
	// HarborData is Harbor's data_volume. Required (its absence fails a check).
	HarborData string
	// DSN of Harbor's PostgreSQL; "" skips the database checks with a warning.
	DSN string
	// Source is the registry storage to import (directory or tarball);
	// "" skips the space needed and placement checks.
	Source string
	// Config is the harbor.yml read by Discover; nil skips the storage
	// driver check and leaves cache and quota provider unknown.
	Config *Config
	// Docker is the engine asked about Harbor's containers. Default NewDocker("").
	Docker *Docker
	// DBContainer is the name of Harbor's database container. Default harbor-db.
	DBContainer string
	// Owner the registry tree should have. Default 10000:10000.
	Owner *fsmove.Owner
	// Logger receives details. Default (nil) discards.
	Logger *slog.Logger
}

// dbTimeout bounds connecting to the database and each query.
const dbTimeout = 10 * time.Second

// spaceMargin is the free space wanted on top of what copies need.
const spaceMargin = 1 << 30

// Preflight runs the go/no-go checks before an import. It never writes
// anything: the database is read in a read-only transaction and the data
// volume only stat'ed. A check that cannot run says so in its reason.
func Preflight(ctx context.Context, opts PreflightOptions) *PreflightReport {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Docker == nil {
		opts.Docker = NewDocker("")
	}
	if opts.DBContainer == "" {
		opts.DBContainer = DefaultDBContainer
	}
	owner := fsmove.DefaultOwner
	if opts.Owner != nil {
		owner = *opts.Owner
	}
	r := &PreflightReport{}
	add := func(name string, s Status, format string, args ...any) {
		r.Checks = append(r.Checks, Check{Name: name, Status: s, Reason: fmt.Sprintf(format, args...)})
		log.Debug("check", "name", name, "status", s)
	}

	// Files.
	registry := filepath.Join(opts.HarborData, "registry")
	haveRegistry := false
	switch fi, err := os.Stat(registry); {
	case opts.HarborData == "":
		add(CheckDataVolume, StatusFail, "no data volume: pass --harbor-data or --harbor-yml")
	case err != nil:
		add(CheckDataVolume, StatusFail, "%s: %v; --harbor-data is harbor.yml's data_volume (/data by default)", registry, errors.Unwrap(err))
	case !fi.IsDir():
		add(CheckDataVolume, StatusFail, "%s is not a directory", registry)
	default:
		haveRegistry = true
		add(CheckDataVolume, StatusOK, "%s exists", registry)
	}
	if haveRegistry {
		checkOwnership(registry, owner, add)
	}
	if c := opts.Config; c != nil {
		if c.StorageDriver == "filesystem" {
			add(CheckStorage, StatusOK, "registry storage is the filesystem under data_volume")
		} else {
			add(CheckStorage, StatusFail, "%s sets storage_service %s: blobs live there, not in %s; harbor-import writes filesystem storage only", c.Path, c.StorageDriver, registry)
		}
	}
	if haveRegistry {
		checkSpace(ctx, registry, opts.Source, owner, add)
	}

	// Database.
	var conn *pgx.Conn
	if opts.DSN == "" {
		add(CheckDatabase, StatusWarn, "not checked: no database (pass --db or --harbor-yml); needed unless --files-only")
	} else {
		var err error
		conn, err = connect(ctx, opts.DSN)
		if err != nil {
			add(CheckDatabase, StatusFail, "%v", err)
		} else {
			defer conn.Close(context.WithoutCancel(ctx))
			dctx, cancel := context.WithTimeout(ctx, dbTimeout)
			s, err := harbordb.Detect(dctx, conn)
			cancel()
			if err != nil {
				add(CheckDatabase, StatusFail, "%v", err)
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			} else {
				add(CheckDatabase, StatusOK, "schema %d (Harbor %s) at %s", s.Version, s.Releases, where(conn))
			}
		}
	}

	// Harbor's services and what may write while importing.
	checkActivity(ctx, conn, opts.Docker, opts.DBContainer, add)

	// Settings.
	checkQuota(ctx, conn, opts.Config, add)
	switch c := opts.Config; {
	case c == nil:
		add(CheckCache, StatusWarn, "not checked (no harbor.yml): if cache.enabled is true, clear Harbor's cache:* keys after --overwrite-tags moved tags")
	case c.CacheEnabled:
		add(CheckCache, StatusWarn, "cache.enabled: core caches repositories and artifacts in Redis; with --overwrite-tags, delete cache:repository:* and cache:artifact:* afterwards (the import prints how)")
	default:
		add(CheckCache, StatusOK, "cache.enabled is false: new rows are seen at once")
	}
	return r
}

func list0(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// checkOwnership looks at the top directories of the registry tree.
func checkOwnership(registry string, owner fsmove.Owner, add func(string, Status, string, ...any)) {
	v2 := filepath.Join("docker", "registry", "v2")
	var wrong, ok []string
	for _, rel := range []string{"", "docker", filepath.Join("docker", "registry"), v2, filepath.Join(v2, "blobs"), filepath.Join(v2, "repositories")} {
		fi, err := os.Stat(filepath.Join(registry, rel))
		if err != nil {
			continue // created by the import, with the right owner
		}
		uid, gid, known := ownerOf(fi)
		if !known {
			continue
		}
		name := filepath.Join("registry", rel)
		if uid != owner.UID || gid != owner.GID {
			wrong = append(wrong, fmt.Sprintf("%s is %d:%d", name, uid, gid))
		} else {
			ok = append(ok, name)
		}
	}
	if len(wrong) > 0 {
		add(CheckOwnership, StatusWarn, "%s, want %d:%d: Harbor's registry may be unable to write there (chown -R %d:%d %s); what the import writes gets %d:%d",
			strings.Join(wrong, ", "), owner.UID, owner.GID, owner.UID, owner.GID, registry, owner.UID, owner.GID)
		return
	}
	add(CheckOwnership, StatusOK, "%s owned by %d:%d", strings.Join(ok, ", "), owner.UID, owner.GID)
}

// checkSpace compares the free space with what the source's blobs need.
func checkSpace(ctx context.Context, registry, src string, owner fsmove.Owner, add func(string, Status, string, ...any)) {
	free, err := freeBytes(registry)
	if err != nil {
		add(CheckDiskSpace, StatusWarn, "cannot tell: %v", err)
		return
	}
	if src == "" {
		add(CheckDiskSpace, StatusOK, "%s free on %s (no --src to compare with)", units.Bytes(free), registry)
		return
	}
	si, err := measureSource(ctx, src)
	if err != nil {
		add(CheckSource, StatusFail, "%v", err)
		return
	}
	var need int64
	var how string
	switch {
	case si.tarball:
		need = si.bytes
		if si.compressed {
			need += si.bytes / 5 // layers are compressed already; the tarball's own compression gains little
			how = "blobs streamed from a compressed tarball"
		} else {
			how = "blobs streamed from the tarball"
		}
		add(CheckSource, StatusOK, "tarball %s, %s", src, units.Bytes(si.bytes))
		add(CheckPlacement, StatusOK, "tarball: every blob is copied (streamed and verified)")
	default:
		add(CheckSource, StatusOK, "directory %s: %d blobs, %s", src, si.blobs, units.Bytes(si.bytes))
		same := false
		if isDirPath(si.blobsDir) {
			same, err = sameMount(si.blobsDir, registry)
			if err != nil {
				add(CheckPlacement, StatusWarn, "cannot compare filesystems: %v; blobs will be hardlinked or copied", err)
			}
		}
		if same {
			need, how = 0, "blobs hardlinked"
			add(CheckPlacement, StatusOK, "source and data volume share a filesystem and mount: blobs are hardlinked (the source files become Harbor's, owned %d:%d; treat the source as read-only afterwards, or use --strategy copy)", owner.UID, owner.GID)
		} else {
			need, how = si.bytes, "blobs copied"
			add(CheckPlacement, StatusOK, "source is on another filesystem or mount: blobs are copied (%s)", units.Bytes(si.bytes))
		}
	}
	switch {
	case free < need:
		add(CheckDiskSpace, StatusFail, "%s free on %s, %s need up to %s", units.Bytes(free), registry, how, units.Bytes(need))
	case free < need+need/10+spaceMargin:
		add(CheckDiskSpace, StatusWarn, "%s free on %s, %s need up to %s: little left afterwards", units.Bytes(free), registry, how, units.Bytes(need))
	default:
		add(CheckDiskSpace, StatusOK, "%s free on %s, %s need up to %s (blobs Harbor has already are skipped)", units.Bytes(free), registry, how, units.Bytes(need))
	}
}

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, errors.New("invalid connection string (not shown: it may hold a password)")
		}
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > dbTimeout {
		cfg.ConnectTimeout = dbTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s:%d/%s as %s: %w", cfg.Host, cfg.Port, cfg.Database, cfg.User, err)
	}
	return conn, nil
}

// checkActivity reports which of Harbor's containers run and whether
// anything else can write to Harbor meanwhile (read-only mode).
func checkActivity(ctx context.Context, conn *pgx.Conn, docker *Docker, dbContainer string, add func(string, Status, string, ...any)) {
	names := append([]string{dbContainer}, DefaultServices...)
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	list, dockerErr := docker.Containers(dctx, names...)
	cancel()
	state := map[string]string{}
	if dockerErr != nil {
		add(CheckServices, StatusWarn, "cannot ask Docker (%v): check by hand which Harbor containers run", dockerErr)
	} else {
		for _, c := range list {
			state[c.Name] = c.State
		}
		var running, stopped, absent []string
		for _, n := range names {
			switch s, ok := state[n]; {
			case !ok:
				absent = append(absent, n)
			case s == "running":
				running = append(running, n)
			default:
				stopped = append(stopped, n+" ("+s+")")
			}
		}
		if len(running)+len(stopped) == 0 {
			add(CheckServices, StatusWarn, "no Harbor container found (%s): not a docker-compose install, or other container names", strings.Join(names, ", "))
		} else {
			add(CheckServices, StatusOK, "running: %s; stopped: %s; absent: %s", list0(running), list0(stopped), list0(absent))
		}
	}
	checkWrites(ctx, conn, dockerErr == nil && len(state) > 0, state, add)
}

// Activity reports, for an import about to start, whether Harbor's
// services look active and whether Harbor is in read-only mode: the
// services and writes checks of Preflight, and nothing else. dsn may be ""
// (read-only mode is then unknown); docker nil means NewDocker("").
func Activity(ctx context.Context, dsn string, docker *Docker) []Check {
	if docker == nil {
		docker = NewDocker("")
	}
	var out []Check
	add := func(name string, s Status, format string, args ...any) {
		out = append(out, Check{Name: name, Status: s, Reason: fmt.Sprintf(format, args...)})
	}
	var conn *pgx.Conn
	if dsn != "" {
		if c, err := connect(ctx, dsn); err == nil {
			conn = c
			defer conn.Close(context.WithoutCancel(ctx))
		}
	}
	checkActivity(ctx, conn, docker, "harbor-db", add)
	return out
}

func where(conn *pgx.Conn) string {
	c := conn.Config()
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// checkWrites says whether anything else can write to Harbor meanwhile;
// sawHarbor is true when Docker listed some of Harbor's containers.
func checkWrites(ctx context.Context, conn *pgx.Conn, sawHarbor bool, state map[string]string, add func(string, Status, string, ...any)) {
	readOnly, known := false, false
	if conn != nil {
		qctx, cancel := context.WithTimeout(ctx, dbTimeout)
		var v string
		err := conn.QueryRow(qctx, `SELECT v FROM properties WHERE k = 'read_only'`).Scan(&v)
		cancel()
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			known = true
		case err == nil:
			readOnly, known = v == "true", true
		}
	}
	writers := []string{"harbor-core", "harbor-jobservice"}
	var up []string
	for _, n := range writers {
		if state[n] == "running" {
			up = append(up, n)
		}
	}
	switch {
	case readOnly:
		add(CheckWrites, StatusOK, "Harbor is read-only (properties read_only = true): no push or deletion meanwhile")
	case sawHarbor && len(up) == 0:
		add(CheckWrites, StatusOK, "harbor-core and harbor-jobservice are not running: nothing else writes meanwhile")
	case known:
		add(CheckWrites, StatusWarn, "Harbor is not read-only and %s runs: a push, deletion or GC could run during the import; set Repository Read Only (Administration → Configuration → System Settings) or stop harbor-core and harbor-jobservice (keep harbor-db)", list0(up))
	default:
		add(CheckWrites, StatusWarn, "cannot tell whether Harbor is read-only or running: set Repository Read Only or stop harbor-core and harbor-jobservice for the import")
	}
}

// checkQuota reports the quota settings new projects get, and the Redis provider.
func checkQuota(ctx context.Context, conn *pgx.Conn, cfg *Config, add func(string, Status, string, ...any)) {
	redis := cfg != nil && cfg.QuotaUpdateProvider == "redis"
	status, settings := StatusOK, ""
	if conn != nil {
		qctx, cancel := context.WithTimeout(ctx, dbTimeout)
		st, err := harbordb.Inspect(qctx, conn, &harbordb.Batch{})
		cancel()
		switch {
		case err != nil:
			status, settings = StatusWarn, fmt.Sprintf("quota settings unreadable (%v)", err)
		case !st.QuotaPerProject:
			settings = "quota per project is off (quota_per_project_enable = false): no quota rows for new projects"
		case st.StoragePerProject < 0:
			settings = "quota per project is on; new projects get no storage limit (storage_per_project -1); existing limits are enforced unless --ignore-quota"
		default:
			settings = fmt.Sprintf("quota per project is on; new projects get %s (storage_per_project); existing limits are enforced unless --ignore-quota", units.Bytes(st.StoragePerProject))
		}
	} else {
		status, settings = StatusWarn, "quota settings not read (no database)"
	}
	if redis {
		add(CheckQuota, StatusWarn, "%s; core.quota_update_provider is redis: a recent push's cached usage can overwrite the import's, so run POST /api/internal/syncquota afterwards", settings)
		return
	}
	add(CheckQuota, status, "%s", settings)
}
