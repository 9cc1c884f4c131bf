package cmd

import (
	"fmt"
	"runtime"

	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the Harbor versions this build supports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "harbor-import %s (commit %s, %s)\nsupports %s\n",
				Version, Commit, runtime.Version(), harbordb.SupportedSummary())
			return nil
		},
	}
}
