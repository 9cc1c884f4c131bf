package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version and the Harbor versions this build supports",
		Example: `  harbor-import version
  harbor-import version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			switch output {
			case "text":
				fmt.Fprintf(out, "harbor-import %s (commit %s, %s)\nsupports %s\n",
					Version, Commit, runtime.Version(), harbordb.SupportedSummary())
				return nil
			case "json":
				type schema struct {
					Version  int64  `json:"schema_version"`
					Releases string `json:"harbor_releases"`
				}
				v := struct {
					Version   string   `json:"version"`
					Commit    string   `json:"commit"`
					Go        string   `json:"go"`
					Supported []schema `json:"supported"`
				}{Version: Version, Commit: Commit, Go: runtime.Version()}
				for _, s := range harbordb.SupportedVersions() {
					v.Supported = append(v.Supported, schema{s, harbordb.ReleasesOf(s)})
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			return fmt.Errorf("--output must be text or json, not %q", output)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return c
}
