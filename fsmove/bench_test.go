package fsmove_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
)

// BenchmarkStageReader streams a 64 MiB blob into staging (sha256 + write).
func BenchmarkStageReader(b *testing.B) {
	p := benchPlacer(b, fsmove.Auto)
	data, d := blob(1, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, err := p.StageReader(b.Context(), d, int64(len(data)), bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Discard(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitLinks stages 1000 blobs of 64 KiB by hardlink (their
// directories made in the staging tree) and commits them (syncfs, one
// rename of blobs/ into the fresh v2 tree, syncfs). MB/s counts the blobs'
// bytes, which a hardlink does not copy. live-B/file is the heap the Placer
// holds per staged file once staging is done (the handles are dropped, as
// the importer drops them): the staging tree on disk is the record.
func BenchmarkCommitLinks(b *testing.B) {
	const n, size = 1000, 64 << 10
	b.SetBytes(n * size)
	srcDir := b.TempDir()
	type src struct {
		path string
		d    digest.Digest
	}
	srcs := make([]src, n)
	for i := range srcs {
		data, d := blob(i, size)
		srcs[i] = src{writeFile(b, srcDir, data), d}
	}
	syncfs(b, srcDir)
	var perFile float64
	for b.Loop() {
		b.StopTimer()
		p := benchPlacer(b, fsmove.Link)
		b.StartTimer()
		before := liveHeap()
		for _, s := range srcs {
			if _, err := p.StageFile(b.Context(), s.d, size, s.path, false); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		perFile = float64(int64(liveHeap())-int64(before)) / n
		b.StartTimer()
		res, err := p.Commit(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Linked != n {
			b.Fatalf("Linked: got %d, want %d", res.Linked, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(perFile, "live-B/file")
}

// liveHeap is the heap in use after a garbage collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func syncfs(b *testing.B, dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		b.Fatal(err)
	}
}

// benchPlacer is newPlacer without debug logs (they would be measured).
func benchPlacer(b *testing.B, st fsmove.Strategy) *fsmove.Placer {
	p, err := fsmove.New(b.Context(), fsmove.Options{Root: b.TempDir(), Owner: testOwner(), Strategy: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// BenchmarkStageLinks stages 4000 revision link files in 40 repositories
// (each in a directory of its own, as a registry lays them out) from 1 or 4
// goroutines, as the importer's stage workers do, and discards the tree.
func BenchmarkStageLinks(b *testing.B) {
	const repos, perRepo = 40, 100
	type link struct {
		rel string
		d   digest.Digest
	}
	var links []link
	for r := range repos {
		for i := range perRepo {
			d := digest.FromString(fmt.Sprint(r, "/", i))
			rel, err := regpath.For(regpath.Spec{Kind: regpath.RevisionLink, Repo: fmt.Sprintf("team/app-%02d", r), Digest: d})
			if err != nil {
				b.Fatal(err)
			}
			links = append(links, link{rel, d})
		}
	}
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				p := benchPlacer(b, fsmove.Auto)
				next := make(chan link)
				var wg sync.WaitGroup
				b.StartTimer()
				for range workers {
					wg.Go(func() {
						for l := range next {
							if _, err := p.StageLink(b.Context(), l.rel, l.d); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for _, l := range links {
					next <- l
				}
				close(next)
				wg.Wait()
				b.StopTimer()
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(links)*b.N)/b.Elapsed().Seconds(), "links/s")
		})
	}
}
