package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

const completionExample = `  # bash (Photon OS, RHEL, Debian: needs the bash-completion package):
  harbor-import completion bash > /etc/bash_completion.d/harbor-import

  # bash, this shell only:
  source <(harbor-import completion bash)

  # zsh (the directory must be in $fpath; compinit enabled):
  harbor-import completion zsh > "${fpath[1]}/_harbor-import"

  # fish:
  harbor-import completion fish > ~/.config/fish/completions/harbor-import.fish`

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:          "completion bash|zsh|fish",
		Short:        "Print the shell completion script for bash, zsh or fish",
		Long:         "completion prints a script that completes harbor-import's commands and flags in the given shell.",
		Example:      completionExample,
		ValidArgs:    []string{"bash", "zsh", "fish"},
		Args:         cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			}
			return fmt.Errorf("unsupported shell %q: bash, zsh or fish", args[0])
		},
	}
}
