package bench_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/harbor-import/harbor-import/bench/corpus"
	"github.com/harbor-import/harbor-import/importer"
)

// benchDir is where corpora are cached (BENCH_DIR, as for make bench).
func benchDir() string {
	if d := os.Getenv("BENCH_DIR"); d != "" {
		return d
	}
	return "/var/tmp/harbor-import-bench"
}

// benchCorpus returns the corpus of tags tags: a small one is generated
// when missing (a few seconds, then cached); a large one must exist
// already (make bench, or go run ./bench/cmd/mkcorpus -tags N).
func benchCorpus(b *testing.B, tags int) *corpus.Corpus {
	b.Helper()
	spec := corpus.Spec{Tags: tags}
	c, err := corpus.Open(benchDir(), spec)
	if errors.Is(err, corpus.ErrNotGenerated) && tags <= 500 {
		c, err = corpus.Generate(b.Context(), benchDir(), spec, corpus.Options{})
	}
	if errors.Is(err, corpus.ErrNotGenerated) {
		b.Skipf("no %d-tag corpus in %s: run `go run ./bench/cmd/mkcorpus -tags %d` (or make bench) first", tags, benchDir(), tags)
	}
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func harborData(b *testing.B) string {
	b.Helper()
	d := b.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "registry"), 0o755); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkPlanDir plans an import from a storage directory without a
// database (a dry run): scan the link files, read and hash every manifest
// and config, derive every row. The page cache is warm after the first
// iteration; make bench measures the cold case.
func BenchmarkPlanDir(b *testing.B) {
	for _, tags := range []int{500, 5000} {
		b.Run(fmt.Sprintf("tags=%d", tags), func(b *testing.B) {
			c := benchCorpus(b, tags)
			opts := importer.Options{Source: c.Storage, HarborData: harborData(b), DryRun: true}
			var rep *importer.Report
			for b.Loop() {
				var err error
				if rep, err = importer.Run(b.Context(), opts); err != nil {
					b.Fatal(err)
				}
			}
			if rep.Tags != c.Info.Tags {
				b.Fatalf("planned %d tags, the corpus has %d", rep.Tags, c.Info.Tags)
			}
			b.ReportMetric(float64(rep.Tags)*float64(b.N)/b.Elapsed().Seconds(), "tags/s")
		})
	}
}

// BenchmarkPlanTar plans from docker.tar without a database: one pass over
// the archive, hashing every blob.
func BenchmarkPlanTar(b *testing.B) {
	for _, tags := range []int{500, 5000} {
		b.Run(fmt.Sprintf("tags=%d", tags), func(b *testing.B) {
			c := benchCorpus(b, tags)
			b.SetBytes(c.Info.TarBytes)
			opts := importer.Options{Source: c.Tar, HarborData: harborData(b), DryRun: true}
			for b.Loop() {
				if _, err := importer.Run(b.Context(), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFilesOnlyDir places every blob and link file of the corpus into
// an empty Harbor data directory on the same filesystem (hardlinks, staging,
// chown, two syncfs, renames) and writes no row.
func BenchmarkFilesOnlyDir(b *testing.B) {
	for _, tags := range []int{500, 5000} {
		b.Run(fmt.Sprintf("tags=%d", tags), func(b *testing.B) {
			c := benchCorpus(b, tags)
			// Harbor's data on the corpus's filesystem, so blobs are hardlinked.
			scratch, err := os.MkdirTemp(benchDir(), "gotest-")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(scratch) })
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				hd := filepath.Join(scratch, fmt.Sprint(i))
				if err := os.MkdirAll(filepath.Join(hd, "registry"), 0o755); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rep, err := importer.Run(b.Context(), importer.Options{Source: c.Storage, HarborData: hd, FilesOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if rep.Blobs.Copied > 0 {
					b.Fatalf("%d blobs copied: the bench directory's filesystem does not hardlink", rep.Blobs.Copied)
				}
				os.RemoveAll(hd)
				b.StartTimer()
			}
		})
	}
}
