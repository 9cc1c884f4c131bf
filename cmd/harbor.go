package cmd

import (
	"fmt"
	"io"

	"github.com/harbor-import/harbor-import/harborhost"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/spf13/cobra"
)

const harborYMLUsage = "Harbor's harbor.yml, read for data_volume and the database (default: found next to the running harbor-core/harbor-db compose project, or in /opt/harbor, /etc/harbor, /root/harbor, ./)"

// discoverForImport fills opts.HarborData and opts.DSN from harbor.yml
// where no flag gave them, and prints what it found on stderr. It does
// nothing when the flags say everything (and no --harbor-yml was given),
// and nothing without --src, so that the importer names that first. In a
// dry run the database is optional: not finding it is not an error.
func discoverForImport(cmd *cobra.Command, harborYML string, opts *importer.Options) (*harborhost.Host, error) {
	needData := opts.HarborData == ""
	needDB := opts.DSN == "" && !opts.FilesOnly && !(opts.DryRun && opts.SchemaVersion != 0)
	if opts.Source == "" || (harborYML == "" && !needData && !needDB) {
		return nil, nil
	}
	ctx, stderr := cmd.Context(), cmd.ErrOrStderr()
	h, err := harborhost.Discover(ctx, harborhost.DiscoverOptions{HarborYML: harborYML})
	if err != nil {
		if harborYML != "" || needData || (needDB && !opts.DryRun) {
			return nil, err
		}
		return nil, nil // a dry run without --db plans without the database
	}
	used := map[string]string{}
	if needData {
		opts.HarborData = h.DataVolume
	} else {
		used["data_volume"] = "--harbor-data"
	}
	switch {
	case needDB:
		db, err := h.Database(ctx)
		if err != nil && !opts.DryRun {
			printDiscovered(stderr, h, used)
			return nil, err
		}
		if err != nil {
			fmt.Fprintf(stderr, "note: %v; planning without the database\n", err)
		} else {
			opts.DSN = db.DSN
		}
	case opts.DSN != "":
		used["database"] = "--db"
	}
	printDiscovered(stderr, h, used)
	return h, nil
}

// printDiscovered shows the discovered values; overridden names the flag
// that won for a value.
func printDiscovered(w io.Writer, h *harborhost.Host, overridden map[string]string) {
	fmt.Fprintln(w, "Harbor on this host:")
	for _, v := range h.Values() {
		from := v.From
		if flag := overridden[v.Name]; flag != "" {
			from = "not used: " + flag + " given"
		}
		if from != "" {
			fmt.Fprintf(w, "  %-27s %s (%s)\n", v.Name, v.Value, from)
		} else {
			fmt.Fprintf(w, "  %-27s %s\n", v.Name, v.Value)
		}
	}
}

// writeNextSteps prints what to do on Harbor after an import.
func writeNextSteps(w io.Writer, h *harborhost.Host, rep *importer.Report) {
	f := harborhost.ImportFacts{Mode: rep.Mode}
	for _, p := range rep.Projects {
		f.Projects = append(f.Projects, p.Name)
	}
	switch {
	case rep.Rows != nil:
		f.Changed = rep.Rows.Total() > 0
		f.TagsMoved = rep.Rows.TagsMoved
	case rep.Mode == "files-only":
		f.Changed = rep.Blobs.Linked+rep.Blobs.Copied+rep.Blobs.Streamed+rep.Blobs.Links > 0
	}
	steps := harborhost.NextSteps(h, f)
	if len(steps) == 0 {
		return
	}
	fmt.Fprintln(w, "\nNext steps:")
	for i, s := range steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
}

// reportActivity tells, before an import writes anything, whether Harbor's
// services look active and whether Harbor is read-only (the import stays
// consistent either way: Harbor's caches hold only what exists, harbor-facts
// §5; but a push or GC meanwhile is better avoided).
func reportActivity(cmd *cobra.Command, dsn string) {
	for _, c := range harborhost.Activity(cmd.Context(), dsn, nil) {
		label := "note"
		if c.Status != harborhost.StatusOK {
			label = "warning"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", label, c.Reason)
	}
}
