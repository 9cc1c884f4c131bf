package importer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/harbor-import/harbor-import/fsmove"
)

// Options configure Run. Zero values mean the documented defaults.
type Options struct {
	// Source is the registry storage: a directory holding docker/registry/v2
	// (e.g. /var/lib/registry), the v2 directory itself, or a tarball of it
	// (.tar, .tar.gz/.tgz, .tar.zst; detected by content). Required.
	Source string
	// HarborData is Harbor's data_volume (e.g. /data); files go under
	// HarborData/registry/docker/registry/v2. Required.
	HarborData string
	// DSN of Harbor's PostgreSQL (postgres://user:pass@host:5432/registry).
	// Required unless FilesOnly, or DryRun with SQL output only.
	DSN string

	// DefaultProject receives single-component repositories ("alpine"
	// becomes "library/alpine"). Default "library".
	DefaultProject string
	// Public makes created projects public. Default private, as the API does.
	Public bool
	// Include and Exclude select source repositories by glob ("team/**").
	Include, Exclude []string
	// SkipInvalid skips references with names Harbor refuses or content not
	// supported yet, and reports them; default: list them all and write nothing.
	SkipInvalid bool
	// OverwriteTags moves tags that exist on other digests, as a push would;
	// default: report every conflict and write nothing.
	OverwriteTags bool
	// IgnoreQuota imports even when a project's storage quota would be exceeded.
	IgnoreQuota bool
	// IncludeUntagged also imports manifests no tag, index or subject reaches (default: skipped and reported).
	IncludeUntagged bool

	// Owner of every file written. Default 10000:10000 (Harbor's registry user).
	Owner *fsmove.Owner
	// Strategy: hardlink with copy fallback (default), link only, copy only.
	Strategy fsmove.Strategy
	// Verify hashes every blob taken from a directory source (tarball blobs
	// are always verified as they stream). Manifests and configs are always verified.
	Verify bool

	// DryRun writes nothing anywhere: it plans, reads the database if DSN
	// is set (read-only transaction), and writes the SQL script to SQLOut.
	DryRun bool
	// SQLOut receives the SQL script (dry run only).
	SQLOut io.Writer
	// SchemaVersion to plan for when DryRun has no DSN. Default:
	// harbordb.DefaultVersion, the newest released Harbor's (180, 2.15).
	SchemaVersion int64
	// FilesOnly places the files and writes no row (the DBA then applies the script).
	FilesOnly bool

	// NoVerify skips the check of the imported repositories' rows against
	// Harbor's storage that runs after an import (see Verify).
	NoVerify bool

	// TempDir holds the plan's rows between planning and writing, and (in
	// a dry run, which stages nothing) a tarball's manifests and configs
	// while they are planned, in files unlinked as soon as they are
	// created. Default: os.TempDir().
	TempDir string

	// Username recorded in audit rows. Default "harbor-import".
	Username string
	// Logger receives progress and decisions. Default (nil) discards.
	Logger *slog.Logger
	// Progress is called on long work. Default none.
	Progress func(Progress)
	// Version is this program's version, for the script header.
	Version string
}

// Progress is one progress event.
type Progress struct {
	// Phase: "scan", "plan", "stage", "place", "database", "verify".
	Phase string
	Done  int64
	// Total is 0 when unknown.
	Total int64
	// Unit of Done and Total: "bytes", "repositories", "blobs", "files",
	// "artifacts".
	Unit string
}

func (o *Options) defaultProject() string {
	if o.DefaultProject == "" {
		return "library"
	}
	return o.DefaultProject
}

func (o *Options) validate() error {
	switch {
	case o.Source == "":
		return errors.New("no source: give --src, a registry storage directory or a tarball of it")
	case o.HarborData == "":
		return errors.New("no Harbor data volume: give --harbor-data (harbor.yml data_volume, /data by default)")
	case o.DryRun && o.FilesOnly:
		return errors.New("--dry-run and --files-only exclude each other")
	case !o.DryRun && !o.FilesOnly && o.DSN == "":
		return errors.New("no database: give --db (Harbor's PostgreSQL DSN), or --files-only to place files only, or --dry-run")
	case o.SQLOut != nil && !o.DryRun:
		return errors.New("SQL output is written in a dry run only")
	}
	if err := checkProjectName(o.defaultProject()); err != nil {
		return fmt.Errorf("%w: --default-project: %w", ErrInvalidNames, err)
	}
	return nil
}

func (o *Options) progress(phase string, done, total int64, unit string) {
	if o.Progress != nil {
		o.Progress(Progress{Phase: phase, Done: done, Total: total, Unit: unit})
	}
}
