// Package bench holds harbor-import's benchmarks: `go test -bench` cases
// over generated corpora (this package), the corpus generator
// (bench/corpus, bench/cmd/mkcorpus), and the harness that times
// harbor-import against its floors and skopeo (bench/run.sh, `make bench`,
// bench/cmd/benchrun). See README.md.
package bench
