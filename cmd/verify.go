package cmd

import (
	"encoding/json"
	"fmt"
	"github.com/harbor-import/harbor-import/harborhost"
	"os"

	"github.com/harbor-import/harbor-import/importer"
	"github.com/spf13/cobra"
)

func newVerifyCmd() *cobra.Command {
	var (
		opts                     importer.VerifyOptions
		owner, output, harborYML string
	)
	c := &cobra.Command{
		Use:   "verify --harbor-data DIR --db DSN [--project NAME]... [--deep]",
		Short: "Check Harbor's database against its registry storage",
		Long: `verify reads every artifact of the chosen projects (all by default) from Harbor's database and
checks that the registry storage can serve it and that Harbor's garbage collector will keep it:
manifest, config and layer data present with the size the blob rows say (and the right sha256 with
--deep), the revision and layer link files of its repository, the blob, artifact_blob (including
the manifest's own row) and project_blob rows, and the ownership Harbor's registry needs.
Untagged artifacts that are neither index children nor accessories are warned about.
It runs automatically for the imported repositories at the end of an import (--no-verify skips it),
writes nothing, and exits non-zero when it finds a problem.`,
		Example: `  harbor-import verify                      # on the Harbor host: data volume and database from harbor.yml
  harbor-import verify --harbor-data /data --db "$DSN"
  harbor-import verify --harbor-data /data --db "$DSN" --project team --deep --output json`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.DSN == "" {
				opts.DSN = os.Getenv("HARBOR_IMPORT_DB")
			}
			if err := discoverForVerify(cmd, harborYML, &opts); err != nil {
				return err
			}
			o, err := parseOwner(owner)
			if err != nil {
				return err
			}
			opts.Owner = o
			if output != "text" && output != "json" {
				return fmt.Errorf("--output must be text or json, not %q", output)
			}
			rep, err := importer.Verify(cmd.Context(), opts)
			if rep != nil {
				out := cmd.OutOrStdout()
				if output == "json" {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(rep); jerr != nil {
						return jerr
					}
				} else {
					fmt.Fprintf(out, "Checked %d artifacts, %d blobs: %d problems, %d warnings\n", rep.Artifacts, rep.Blobs, len(rep.Problems), len(rep.Warnings))
					for _, p := range rep.Problems {
						fmt.Fprintf(out, "PROBLEM %s\n", p)
					}
					for _, w := range rep.Warnings {
						fmt.Fprintf(out, "WARNING %s\n", w)
					}
				}
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&opts.HarborData, "harbor-data", "", "Harbor's data_volume (harbor.yml; /data by default)")
	f.StringVar(&opts.DSN, "db", "", "Harbor's PostgreSQL DSN (env HARBOR_IMPORT_DB)")
	f.StringVar(&harborYML, "harbor-yml", "", "Harbor's harbor.yml, to find --harbor-data and --db when they are not given (searched in the usual places otherwise)")
	f.StringArrayVar(&opts.Projects, "project", nil, "check only this project (repeatable)")
	f.BoolVar(&opts.Deep, "deep", false, "also hash every blob (reads all data)")
	f.StringVar(&owner, "owner", "10000:10000", "uid:gid every file must have")
	f.StringVarP(&output, "output", "o", "text", "report format: text or json")
	return c
}

// discoverForVerify fills --harbor-data and --db from harbor.yml when they
// are missing, printing what it found (passwords masked).
func discoverForVerify(cmd *cobra.Command, harborYML string, opts *importer.VerifyOptions) error {
	if opts.HarborData != "" && opts.DSN != "" && harborYML == "" {
		return nil
	}
	ctx := cmd.Context()
	h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: harborYML})
	if err != nil {
		return err
	}
	used := map[string]string{}
	if opts.HarborData == "" {
		opts.HarborData = h.DataVolume
	} else {
		used["data_volume"] = "--harbor-data"
	}
	if opts.DSN == "" {
		db, err := h.Database(ctx)
		if err != nil {
			printDiscovered(cmd.ErrOrStderr(), h, used)
			return err
		}
		opts.DSN = db.DSN
	} else {
		used["database"] = "--db"
	}
	printDiscovered(cmd.ErrOrStderr(), h, used)
	return nil
}
