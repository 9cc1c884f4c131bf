package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/harbor-import/harbor-import/harborhost"
	"github.com/spf13/cobra"
)

// preflightFlags are the preflight command's flags.
type preflightFlags struct {
	src, harborData, db, harborYML string
	dbContainer, owner, output     string
}

const preflightExample = `  # On the Harbor host, with harbor.yml found by itself:
  harbor-import preflight --src /var/lib/registry

  # Explicit values; the flags win over harbor.yml:
  harbor-import preflight --src docker.tar.zst --harbor-data /data \
    --db postgres://postgres:PASSWORD@172.18.0.2:5432/registry

  # For a script: JSON, and the exit status says go (0) or no-go (1):
  harbor-import preflight --harbor-yml /opt/harbor/harbor.yml -o json`

func newPreflightCmd() *cobra.Command {
	f := &preflightFlags{}
	c := &cobra.Command{
		Use:   "preflight [--src SOURCE] [--harbor-yml FILE | --harbor-data DIR --db DSN]",
		Short: "Check that this Harbor host is ready for an import (go/no-go), writing nothing",
		Long: `preflight checks, without writing anything, what an import needs of this Harbor host and
prints one OK / WARN / FAIL line per check:

  data volume   <data_volume>/registry exists
  ownership     the registry tree's top directories belong to 10000:10000
  storage       harbor.yml's storage_service is the filesystem
  source        --src is a registry storage directory or a tarball
  disk space    free space on the data volume against what the blobs of --src need
                (nothing when they can be hardlinked: same filesystem and mount)
  placement     hardlinks or copies
  database      Harbor's PostgreSQL answers and its schema is supported
  services      which of Harbor's containers run (Docker Engine API)
  writes        Harbor is read-only, or harbor-core and harbor-jobservice are stopped
  quota         quota per project and the default limit; the Redis quota provider
  cache         harbor.yml cache.enabled (stale entries after --overwrite-tags)

Values not given by flags come from harbor.yml (see --harbor-yml); every value found is
printed, passwords masked. The exit status is 1 when a check fails.`,
		Example:      preflightExample,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPreflight(cmd, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.src, "src", "", "registry storage to import (directory or tarball), to check space and placement")
	fl.StringVar(&f.harborData, "harbor-data", "", "Harbor's data_volume (default: from harbor.yml)")
	fl.StringVar(&f.db, "db", "", "Harbor's PostgreSQL DSN (env HARBOR_IMPORT_DB; default: from harbor.yml and the harbor-db container)")
	fl.StringVar(&f.harborYML, "harbor-yml", "", harborYMLUsage)
	fl.StringVar(&f.dbContainer, "db-container", harborhost.DefaultDBContainer, "name of Harbor's database container")
	fl.StringVar(&f.owner, "owner", "10000:10000", "uid:gid the registry tree should belong to")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	return c
}

// preflightJSON is the JSON output of preflight.
type preflightJSON struct {
	Discovered []harborhost.Value `json:"discovered"`
	Checks     []harborhost.Check `json:"checks"`
	Go         bool               `json:"go"`
}

func runPreflight(cmd *cobra.Command, f *preflightFlags) error {
	ctx := cmd.Context()
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", f.output)
	}
	owner, err := parseOwner(f.owner)
	if err != nil {
		return err
	}
	if f.db == "" {
		f.db = os.Getenv("HARBOR_IMPORT_DB")
	}
	opts := harborhost.PreflightOptions{
		HarborData: f.harborData, DSN: f.db, Source: f.src, DBContainer: f.dbContainer, Owner: owner,
	}

	// harbor.yml: needed for missing values, useful for the settings checks.
	h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: f.harborYML, DBContainer: f.dbContainer})
	switch {
	case err != nil && (f.harborYML != "" || opts.HarborData == ""):
		return err
	case err != nil && !errors.Is(err, harborhost.ErrNoHarborYML):
		return err
	}
	used := map[string]string{}
	var dbErr error
	if h != nil {
		opts.Config = h.Config
		if opts.HarborData == "" {
			opts.HarborData = h.DataVolume
		} else {
			used["data_volume"] = "--harbor-data"
		}
		if opts.DSN == "" {
			db, err := h.Database(ctx)
			if err != nil {
				dbErr = err
			} else {
				opts.DSN = db.DSN
			}
		} else {
			used["database"] = "--db"
		}
	}
	rep := harborhost.Preflight(ctx, opts)
	if dbErr != nil {
		// Discovery found no database: that is the database check's verdict.
		for i, c := range rep.Checks {
			if c.Name == harborhost.CheckDatabase {
				rep.Checks[i] = harborhost.Check{Name: c.Name, Status: harborhost.StatusFail, Reason: dbErr.Error()}
			}
		}
	}

	out := cmd.OutOrStdout()
	if f.output == "json" {
		j := preflightJSON{Checks: rep.Checks, Go: !rep.Failed(), Discovered: []harborhost.Value{}}
		if h != nil {
			j.Discovered = h.Values()
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(j); err != nil {
			return err
		}
	} else {
		if h != nil {
			printDiscovered(out, h, used)
			fmt.Fprintln(out)
		}
		rep.WriteText(out)
	}
	if rep.Failed() {
		return fmt.Errorf("%w: %d of %d checks failed", harborhost.ErrPreflightFailed, rep.Count(harborhost.StatusFail), len(rep.Checks))
	}
	return nil
}
