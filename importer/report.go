package importer

import (
	"fmt"
	"github.com/harbor-import/harbor-import/internal/units"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/harbor-import/harbor-import/harbordb"
)

// Report says what an import did (or, in a dry run, would do).
type Report struct {
	Source        string `json:"source"`
	HarborData    string `json:"harbor_data"`
	Mode          string `json:"mode"` // "import", "dry-run", "files-only"
	SchemaVersion int64  `json:"schema_version,omitempty"`
	HarborRelease string `json:"harbor_release,omitempty"`

	Projects     []ProjectReport `json:"projects"`
	Repositories []RepoSummary   `json:"repositories"`
	Artifacts    int             `json:"artifacts"`
	Tags         int             `json:"tags"`
	// UntaggedSkipped are manifests no tag reaches (Harbor's GC would delete them).
	UntaggedSkipped []string  `json:"untagged_skipped"`
	Excluded        []string  `json:"excluded"`
	Skipped         []Problem `json:"skipped"`
	Problems        []Problem `json:"problems"`

	Blobs      BlobReport       `json:"blobs"`
	Rows       *harbordb.Counts `json:"rows,omitempty"`
	Conflicts  []string         `json:"conflicts,omitempty"`
	NewTags    int              `json:"new_tags"`
	Present    int              `json:"tags_already_present"`
	SQLWritten bool             `json:"sql_written"`
	// Warnings are things the operator should know; they do not stop the import.
	Warnings []string `json:"warnings,omitempty"`
	// Verify is the check run after the import (nil when skipped).
	Verify *VerifyReport `json:"verify,omitempty"`

	DurationSeconds float64 `json:"duration_seconds"`
	started         time.Time
}

// ProjectReport is one project of the import.
type ProjectReport struct {
	Name         string `json:"name"`
	Exists       bool   `json:"exists"`
	Repositories int    `json:"repositories"`
	Tags         int    `json:"tags"`
	// QuotaUsedBefore is the project's quota usage before, when known.
	QuotaUsedBefore int64 `json:"quota_used_before"`
	QuotaHard       int64 `json:"quota_hard"`
}

// BlobReport counts blob files.
type BlobReport struct {
	Total    int   `json:"total"`
	Bytes    int64 `json:"bytes"`
	Linked   int   `json:"linked"`
	Copied   int   `json:"copied"`
	Streamed int   `json:"streamed"`
	Existing int   `json:"already_present"`
	NoData   int   `json:"without_data"`
	Written  int64 `json:"bytes_written"`
	Links    int   `json:"link_files"`
	// Method is what a real run would do ("hardlink", "copy", "stream").
	Method string `json:"method,omitempty"`
}

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	switch r.Mode {
	case "dry-run":
		p("DRY RUN: nothing was written. This is what the import would do.\n")
	case "files-only":
		p("FILES ONLY: files placed, no database row written.\n")
	}
	p("Source: %s\nHarbor data: %s\n", r.Source, r.HarborData)
	if r.SchemaVersion != 0 {
		p("Harbor schema: %d (Harbor %s)\n", r.SchemaVersion, r.HarborRelease)
	}
	for _, w := range r.Warnings {
		p("WARNING: %s\n", w)
	}
	if len(r.Problems) > 0 {
		p("\nProblems (nothing was written):\n")
		for _, pr := range r.Problems {
			p("  - [%s] %s\n", pr.Kind, pr)
		}
	}
	if len(r.Conflicts) > 0 {
		p("\nTag conflicts (a tag already exists in Harbor on another digest):\n")
		for _, c := range r.Conflicts {
			p("  - %s\n", c)
		}
	}
	if len(r.Projects) > 0 {
		p("\nProjects:\n")
		for _, pr := range r.Projects {
			state := "exists"
			if !pr.Exists {
				state = "create"
			}
			p("  %-30s %-7s %4d repositories %6d tags\n", pr.Name, state, pr.Repositories, pr.Tags)
		}
	}
	p("\n%d repositories, %d artifacts, %d tags", len(r.Repositories), r.Artifacts, r.Tags)
	if r.Present > 0 || r.NewTags > 0 {
		p(" (%d new, %d already present)", r.NewTags, r.Present)
	}
	p("\n")
	b := r.Blobs
	p("Blobs: %d (%s)", b.Total, units.Bytes(b.Bytes))
	if r.Mode == "dry-run" {
		p(", to place by %s: %d, already in Harbor: %d", b.Method, b.Total-b.Existing-b.NoData, b.Existing)
	} else {
		p(": linked %d, copied %d, streamed %d, already present %d; %s written; %d link files", b.Linked, b.Copied, b.Streamed, b.Existing, units.Bytes(b.Written), b.Links)
	}
	if b.NoData > 0 {
		p("; %d without data (foreign layers)", b.NoData)
	}
	p("\n")
	if r.Rows != nil {
		c := r.Rows
		p("Rows written: %d projects, %d repositories, %d artifacts, %d tags (%d moved), %d blobs, %d project_blob, %d artifact_blob, %d artifact_reference, %d artifact_accessory, %d quotas updated\n",
			c.ProjectsCreated, c.Repositories, c.Artifacts, c.Tags, c.TagsMoved, c.Blobs, c.ProjectBlobs, c.ArtifactBlobs, c.References, c.Accessories, c.QuotasUpdated)
		if c.Total() == 0 {
			p("Everything was already present: nothing changed.\n")
		}
	}
	if n := len(r.UntaggedSkipped); n > 0 {
		p("Untagged manifests skipped: %d (Harbor's garbage collection would delete them)\n", n)
	}
	if n := len(r.Excluded); n > 0 {
		p("Repositories excluded by --include/--exclude: %d\n", n)
	}
	if n := len(r.Skipped); n > 0 {
		p("Skipped (--skip-invalid): %d\n", n)
		for _, s := range r.Skipped {
			p("  - [%s] %s\n", s.Kind, s)
		}
	}
	if v := r.Verify; v != nil {
		p("Verified %d artifacts and %d blobs against Harbor's storage: %d problems, %d warnings\n", v.Artifacts, v.Blobs, len(v.Problems), len(v.Warnings))
		for _, pr := range v.Problems {
			p("  - %s\n", pr)
		}
	}
	if r.SQLWritten {
		p("SQL script written.\n")
	}
	p("Time: %.1fs\n", r.DurationSeconds)
}

func (r *Report) fill(p *plan, st *harbordb.State) error {
	r.Repositories = p.repos
	r.UntaggedSkipped = p.untagged
	r.Excluded = p.excluded
	r.Skipped = p.skipped
	r.Problems = p.problems
	r.Warnings = append(r.Warnings, p.warnings...)
	r.Artifacts = harbordb.Count[harbordb.Artifact](p.batch)
	r.Tags = harbordb.Count[harbordb.Tag](p.batch)
	r.Blobs.Total = p.blobs.len()
	r.Blobs.Bytes = p.totalSize
	byProject := map[string]*ProjectReport{}
	for _, pr := range p.batch.Projects {
		rep := &ProjectReport{Name: pr.Name, QuotaHard: -1}
		if st != nil {
			if e, ok := st.Projects[pr.Name]; ok {
				rep.Exists, rep.QuotaUsedBefore, rep.QuotaHard = true, e.Used, e.Hard
			}
		}
		byProject[pr.Name] = rep
	}
	for _, rs := range p.repos {
		if rep := byProject[rs.Project]; rep != nil {
			rep.Repositories++
			rep.Tags += rs.Tags
		}
	}
	for _, rep := range byProject {
		r.Projects = append(r.Projects, *rep)
	}
	sort.Slice(r.Projects, func(i, j int) bool { return r.Projects[i].Name < r.Projects[j].Name })
	if st != nil {
		// Reading the plan's own spool back fails only with the disk.
		return harbordb.Each(p.batch, func(t harbordb.Tag) error {
			switch d, ok := st.Tags[t.Repository+":"+t.Name]; {
			case !ok:
				r.NewTags++
			case d == t.Digest:
				r.Present++
			default:
				r.Conflicts = append(r.Conflicts, fmt.Sprintf("%s:%s is %s in Harbor, %s in the source", t.Repository, t.Name, d, t.Digest))
			}
			return nil
		})
	}
	return nil
}

// problemsError summarises problems as one error.
func problemsError(ps []Problem) error {
	kinds := map[string]int{}
	for _, p := range ps {
		kinds[p.Kind]++
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	var lines []string
	for i, p := range ps {
		if i == 20 {
			lines = append(lines, fmt.Sprintf("... and %d more", len(ps)-20))
			break
		}
		lines = append(lines, "  "+p.String())
	}
	// The error matches the sentinel of every kind present.
	var errs []any
	for _, k := range []struct {
		kind string
		err  error
	}{{"invalid-name", ErrInvalidNames}, {"missing-blob", ErrMissingBlob}, {"digest-mismatch", ErrDigestMismatch},
		{"unsupported", ErrUnsupported}, {"bad-manifest", ErrCorruptSource}} {
		if kinds[k.kind] > 0 {
			errs = append(errs, k.err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, ErrInvalidNames)
	}
	format := strings.Repeat("%w, ", len(errs)-1) + "%w: %s; nothing was written:\n%s"
	return fmt.Errorf(format, append(errs, strings.Join(parts, ", "), strings.Join(lines, "\n"))...)
}
