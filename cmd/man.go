package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

const manExample = `  # Install the pages, then read them:
  harbor-import man /usr/local/share/man/man1
  man harbor-import-preflight`

func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:          "man DIR",
		Short:        "Write man pages for harbor-import and its commands into DIR",
		Long:         "man writes one roff page per command (harbor-import.1, harbor-import-preflight.1, ...) into DIR, creating it if needed.",
		Example:      manExample,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("creating man page directory: %w", err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Title: "HARBOR-IMPORT", Section: "1", Source: "harbor-import " + Version, Manual: "harbor-import manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("writing man pages: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "man pages written to %s\n", dir)
			return nil
		},
	}
}
