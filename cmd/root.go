package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/internal/units"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Build information, set with -ldflags by `make build`.
var (
	Version = "dev"
	Commit  = "unknown"
)

// importFlags are the root command's flags.
type importFlags struct {
	src, harborData, db, defaultProject string
	public, skipInvalid, overwrite      bool
	ignoreQuota, verify, dryRun         bool
	filesOnly                           bool
	include, exclude                    []string
	owner, strategy, sqlOut, output     string
	logFormat                           string
	schemaVersion                       int64
	verbose                             int
	noProgress, noVerify                bool
	includeUntagged                     bool
	harborYML                           string
	memoryLimit, tempDir                string
}

const rootExample = `  # Import a tarball of a registry storage (tar -cpf docker.tar docker) into Harbor:
  harbor-import --src docker.tar --harbor-data /data \
    --db postgres://postgres:PASSWORD@127.0.0.1:5432/registry

  # Import a registry's storage directory; blobs are hardlinked when on the same filesystem:
  HARBOR_IMPORT_DB=postgres://postgres@harbor-db:5432/registry PGPASSWORD=... \
    harbor-import --src /var/lib/registry --harbor-data /data

  # Review first: print the plan and write the SQL script, writing nothing:
  harbor-import --src docker.tar --harbor-data /data --db "$DSN" --dry-run --sql-out plan.sql

  # Two steps for a DBA: files by harbor-import, rows by psql inside harbor-db:
  harbor-import --src docker.tar --harbor-data /data --dry-run --sql-out plan.sql
  harbor-import --src docker.tar --harbor-data /data --files-only
  docker exec -i harbor-db psql -U postgres -d registry -v ON_ERROR_STOP=1 -1 < plan.sql

  # Migrate one project at a time:
  harbor-import --src /var/lib/registry --harbor-data /data --db "$DSN" --include 'team/**'`

// NewRootCmd builds the harbor-import command tree.
func NewRootCmd() *cobra.Command {
	f := &importFlags{}
	c := &cobra.Command{
		Use:   "harbor-import --src SOURCE --harbor-data DIR [--db DSN]",
		Short: "Import a Docker Registry's storage into Harbor 2.x without any HTTP push",
		Long: `harbor-import moves images from a Docker Registry (distribution) storage into Harbor 2.x
on the Harbor host itself: it places every blob and link file in Harbor's registry storage
(<data>/registry/docker/registry/v2, hardlinked where possible, owned 10000:10000) and writes,
in one transaction, exactly the rows a real push would have written (project, repository,
artifact, tag, blob, artifact_blob, project_blob, artifact_reference, quota usage, audit),
so Harbor serves the images, lists them, counts quota right and never garbage-collects them.

Single-component repositories ("alpine") go to --default-project; "team/app" goes to project
"team". Missing projects are created as Harbor's API creates them. Nothing is written when a
name is invalid, a blob is missing or corrupt, or a tag already exists on another digest;
re-running an import changes nothing.

Supported Harbor databases: ` + harbordb.SupportedSummary() + `.
Run it in a maintenance window, after a backup of the database and data volume.`,
		Example:       rootExample,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.src, "src", "", "registry storage: a directory holding docker/registry/v2 (e.g. /var/lib/registry), its v2 directory, or a tarball of it (.tar, .tar.gz, .tgz, .tar.zst)")
	fl.StringVar(&f.harborData, "harbor-data", "", "Harbor's data_volume (harbor.yml; /data by default); files go to <dir>/registry/docker/registry/v2")
	fl.StringVar(&f.db, "db", "", "Harbor's PostgreSQL as a DSN, e.g. postgres://postgres@127.0.0.1:5432/registry (env HARBOR_IMPORT_DB; the password may come from PGPASSWORD)")
	fl.StringVar(&f.defaultProject, "default-project", "library", "project for single-component repositories such as \"alpine\"")
	fl.BoolVar(&f.public, "public", false, "make the projects harbor-import creates public (Harbor's default is private)")
	fl.StringArrayVar(&f.include, "include", nil, "import only source repositories matching this glob (repeatable; '*' one path component, '**' any number: 'team/**')")
	fl.StringArrayVar(&f.exclude, "exclude", nil, "skip source repositories matching this glob (repeatable)")
	fl.BoolVar(&f.skipInvalid, "skip-invalid", false, "skip (and report) references whose names Harbor refuses or whose content is not supported, instead of refusing the import")
	fl.BoolVar(&f.overwrite, "overwrite-tags", false, "move tags that already exist in Harbor on other digests, as a push would (clear Harbor's cache afterwards if it is enabled)")
	fl.BoolVar(&f.ignoreQuota, "ignore-quota", false, "import even when a project's storage quota would be exceeded (a push would be refused)")
	fl.BoolVar(&f.includeUntagged, "include-untagged", false, "also import untagged manifests (Harbor's GC deletes untagged artifacts unless they are index children or accessories)")
	fl.StringVar(&f.owner, "owner", "10000:10000", "uid:gid of every file and directory written (Harbor's registry runs as 10000:10000)")
	fl.StringVar(&f.strategy, "strategy", "auto", "how blobs from a directory are placed: auto (hardlink, copy across filesystems), link, copy")
	fl.BoolVar(&f.verify, "verify", false, "hash every blob taken from a directory (tarball blobs are always verified while they stream)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "write nothing anywhere: print the plan (and the SQL with --sql-out); with --db reads the database read-only")
	fl.StringVar(&f.sqlOut, "sql-out", "", "with --dry-run: write the SQL script to this file ('-' for standard output)")
	fl.BoolVar(&f.filesOnly, "files-only", false, "place the files only and write no row (apply the --dry-run SQL script afterwards)")
	fl.Int64Var(&f.schemaVersion, "schema-version", 0, "with --dry-run and no --db: the Harbor schema version to plan for (default 180, Harbor 2.15; see harbor-import version)")
	fl.StringVarP(&f.output, "output", "o", "text", "report format: text or json")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	fl.CountVarP(&f.verbose, "verbose", "v", "more logs (-v info, -vv debug)")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress display, even on a terminal")
	fl.StringVar(&f.harborYML, "harbor-yml", "", harborYMLUsage)
	fl.StringVar(&f.memoryLimit, "memory-limit", defaultMemoryLimit, "soft limit of the Go heap, e.g. 512MiB: near it the garbage collector works harder instead of growing the heap (nothing fails); 0 for none; GOMEMLIMIT wins unless this flag is given")
	fl.StringVar(&f.tempDir, "temp-dir", "", "where the planned rows wait until they are written (~30 MB for 50,000 tags), and in a dry run a tarball's manifests and configs until they are planned (~70 MB more); unlinked at once, gone when the run ends; default $TMPDIR or /tmp")
	fl.BoolVar(&f.noVerify, "no-verify", false, "skip the check of the imported repositories against Harbor's storage after the import")
	c.AddCommand(newVersionCmd())
	c.AddCommand(newVerifyCmd())
	c.AddCommand(newPreflightCmd(), newCompletionCmd(), newManCmd())
	return c
}

// defaultMemoryLimit keeps a very large import within bounds on a
// production host: near it the garbage collector works harder instead of
// growing the heap (a 50,000-tag directory import holds ~25 MiB live at its peak).
const defaultMemoryLimit = "192MiB"

// defaultGCPercent is the garbage collector's target (GOGC) unless GOGC is
// set: the heap may grow to 1.25 times what is live instead of twice. What
// an import holds live is mostly pointer-free tables (blob sums, link ids),
// which the collector marks without scanning, so collecting four times as
// often costs little: at 50,000 tags the collector took 1% of the CPU time
// (1,087 cycles) and the peak RSS went from 59 to 52 MB (from 50, measured
// 2026-12-05).
const defaultGCPercent = 25

// applyMemoryLimit sets the Go runtime's soft memory limit from
// --memory-limit, unless GOMEMLIMIT is set and the flag is not given, and
// the collector's target to defaultGCPercent unless GOGC is set.
func applyMemoryLimit(flag string, given bool) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if !given && os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	n, err := units.ParseBytes(flag)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if n == 0 {
		n = math.MaxInt64
	}
	debug.SetMemoryLimit(n)
	return nil
}

func runImport(cmd *cobra.Command, f *importFlags) error {
	ctx := cmd.Context()
	if err := applyMemoryLimit(f.memoryLimit, cmd.Flags().Changed("memory-limit")); err != nil {
		return err
	}
	if f.db == "" {
		f.db = os.Getenv("HARBOR_IMPORT_DB")
	}
	opts := importer.Options{
		Source: f.src, HarborData: f.harborData, DSN: f.db, DefaultProject: f.defaultProject,
		Public: f.public, Include: f.include, Exclude: f.exclude, SkipInvalid: f.skipInvalid,
		OverwriteTags: f.overwrite, IgnoreQuota: f.ignoreQuota, IncludeUntagged: f.includeUntagged, Verify: f.verify,
		DryRun: f.dryRun, FilesOnly: f.filesOnly, NoVerify: f.noVerify, TempDir: f.tempDir, SchemaVersion: f.schemaVersion, Version: Version,
	}
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", f.output)
	}
	owner, err := parseOwner(f.owner)
	if err != nil {
		return err
	}
	opts.Owner = owner
	switch f.strategy {
	case "auto":
		opts.Strategy = fsmove.Auto
	case "link":
		opts.Strategy = fsmove.Link
	case "copy":
		opts.Strategy = fsmove.Copy
	default:
		return fmt.Errorf("--strategy must be auto, link or copy, not %q", f.strategy)
	}
	host, err := discoverForImport(cmd, f.harborYML, &opts)
	if err != nil {
		return err
	}
	if !opts.DryRun && opts.Source != "" && opts.HarborData != "" {
		reportActivity(cmd, opts.DSN)
	}
	if f.sqlOut != "" {
		if !f.dryRun {
			return errors.New("--sql-out goes with --dry-run")
		}
		if f.sqlOut == "-" {
			opts.SQLOut = cmd.OutOrStdout()
		} else {
			out, err := os.Create(f.sqlOut)
			if err != nil {
				return fmt.Errorf("creating SQL output: %w", err)
			}
			defer out.Close()
			opts.SQLOut = out
		}
	}
	logger, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.verbose)
	if err != nil {
		return err
	}
	opts.Logger = logger
	stderr := cmd.ErrOrStderr()
	if file, ok := stderr.(*os.File); ok && !f.noProgress && term.IsTerminal(int(file.Fd())) && f.verbose == 0 {
		pr := &progressLine{w: stderr}
		opts.Progress = pr.update
		defer pr.done()
	}
	rep, err := importer.Run(ctx, opts)
	reportOut := cmd.OutOrStdout()
	if f.sqlOut == "-" {
		reportOut = stderr // keep stdout a clean SQL script
	}
	if rep != nil {
		if f.output == "json" {
			enc := json.NewEncoder(reportOut)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			rep.WriteText(reportOut)
			if err == nil {
				writeNextSteps(reportOut, host, rep)
			}
		}
	}
	if err != nil {
		return err
	}
	return nil
}

func parseOwner(s string) (*fsmove.Owner, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return nil, fmt.Errorf("--owner must be numeric uid:gid such as 10000:10000, not %q", s)
	}
	return &fsmove.Owner{UID: uid, GID: gid}, nil
}

func newLogger(w io.Writer, format string, verbose int) (*slog.Logger, error) {
	level := slog.LevelWarn
	switch {
	case verbose >= 2:
		level = slog.LevelDebug
	case verbose == 1:
		level = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// progressLine redraws one status line on a terminal.
type progressLine struct {
	w     io.Writer
	last  time.Time
	phase string
	drawn bool
}

func (p *progressLine) update(ev importer.Progress) {
	now := time.Now()
	if ev.Phase == p.phase && now.Sub(p.last) < 200*time.Millisecond && (ev.Total == 0 || ev.Done < ev.Total) {
		return
	}
	p.last, p.phase, p.drawn = now, ev.Phase, true
	var s string
	switch {
	case ev.Unit == "bytes":
		s = fmt.Sprintf("%s: %.1f MiB read", ev.Phase, float64(ev.Done)/(1<<20))
	case ev.Total > 0:
		s = fmt.Sprintf("%s: %d/%d %s (%d%%)", ev.Phase, ev.Done, ev.Total, ev.Unit, ev.Done*100/ev.Total)
	default:
		s = fmt.Sprintf("%s: %d %s", ev.Phase, ev.Done, ev.Unit)
	}
	fmt.Fprintf(p.w, "\r\033[K%s", s)
}

func (p *progressLine) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
