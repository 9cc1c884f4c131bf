package importer_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harbor-import/harbor-import/cmd"
	"github.com/harbor-import/harbor-import/harbordb"
	"github.com/harbor-import/harbor-import/importer"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This file proves that bad input is refused with an error naming what is
// wrong, matching the right sentinel, and that a refused run leaves Harbor's
// database and data volume as they were.

// harborTarget is a Harbor to import into.
type harborTarget struct {
	dsn, data string
	// empty: nothing was ever imported (a fresh Harbor).
	empty bool
}

// priorImport is a small storage imported before each case, so that
// "unchanged" covers existing projects, rows and files. Its repositories
// and blobs are disjoint from the classic fixture's.
func priorImport(t *testing.T) *fixtureSet {
	return sharedFixture(t, "refusal-prior", testenv.PushReferenceCases)
}

// emptyHarbor is a fresh Harbor: schema, no import, a data volume with an empty registry/.
func emptyHarbor(t *testing.T) harborTarget {
	t.Helper()
	return harborTarget{dsn: harborDB(t), data: harborData(t), empty: true}
}

// seededHarbor is a Harbor that already holds one import (priorImport).
func seededHarbor(t *testing.T) harborTarget {
	t.Helper()
	h := harborTarget{dsn: harborDB(t), data: harborData(t)}
	if _, err := importer.Run(context.Background(), importer.Options{Source: priorImport(t).tarball, HarborData: h.data, DSN: h.dsn}); err != nil {
		t.Fatalf("previous import: %v", err)
	}
	return h
}

// harborSnapshot is everything an import could change.
type harborSnapshot struct {
	rows  map[string][]string
	files []string
}

// snapshot reads the database (every table an import writes; for a
// database without Harbor's tables, the list of its tables) and the whole
// data volume. Only harbor-import's own staging directory is compared
// without its mtime: temps come and go there, and leftovers still show.
func snapshot(t *testing.T, h harborTarget) harborSnapshot {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(ctx)
	var harbor bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('public.project') IS NOT NULL`).Scan(&harbor); err != nil {
		t.Fatal(err)
	}
	var rows map[string][]string
	if harbor {
		rows = dbState(t, conn)
	} else {
		r, err := conn.Query(ctx, `SELECT table_schema || '.' || table_name FROM information_schema.tables
			WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(r, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		rows = map[string][]string{"tables": tables}
	}
	files := treeState(t, h.data)
	for i, l := range files {
		if strings.HasPrefix(l, filepath.Join("registry", ".harbor-import")) {
			files[i] = dirBookkeepingOff(l)
			files[i], _, _ = strings.Cut(files[i], " mtime=")
		}
	}
	return harborSnapshot{rows: rows, files: files}
}

// dirBookkeepingOff drops what creating and removing entries changes in a
// directory's treeState line (its size and mtime); other lines stay.
func dirBookkeepingOff(l string) string {
	f := strings.Fields(l)
	if len(f) != 6 || !strings.HasPrefix(f[1], "d") {
		return l
	}
	return strings.Join([]string{f[0], f[1], f[3], f[4]}, " ")
}

// checkUnchanged fails unless after equals before. In an empty Harbor a
// refused run removes the directories it made for itself (the v2 skeleton,
// its staging directory and lock), which leaves registry/'s mtime changed.
func checkUnchanged(t *testing.T, h harborTarget, before, after harborSnapshot) {
	t.Helper()
	if !reflect.DeepEqual(before.rows, after.rows) {
		t.Errorf("database changed:\n%s", diffStates(before.rows, after.rows))
	}
	beforeFiles, files := before.files, after.files
	if h.empty {
		strip := func(in []string) (out []string) {
			for _, l := range in {
				if rel, _, _ := strings.Cut(l, " "); rel == "registry" {
					l = dirBookkeepingOff(l)
				}
				out = append(out, l)
			}
			return out
		}
		beforeFiles, files = strip(beforeFiles), strip(files)
	}
	if !reflect.DeepEqual(beforeFiles, files) {
		t.Errorf("data volume changed:\n%s", diffLines(beforeFiles, files))
	}
}

// runImport runs importer.Run, or with cli the harbor-import command
// in-process with the equivalent flags; it returns the error and, for the
// CLI, what the command printed.
func runImport(t *testing.T, opts importer.Options, cli bool) (*importer.Report, string, error) {
	t.Helper()
	ctx := context.Background()
	if !cli {
		opts.Logger = testLogger(t)
		rep, err := importer.Run(ctx, opts)
		return rep, "", err
	}
	args := []string{"--src", opts.Source, "--harbor-data", opts.HarborData, "--no-progress"}
	if opts.DSN != "" {
		args = append(args, "--db", opts.DSN)
	}
	if opts.DefaultProject != "" {
		args = append(args, "--default-project", opts.DefaultProject)
	}
	for _, p := range opts.Include {
		args = append(args, "--include", p)
	}
	for _, p := range opts.Exclude {
		args = append(args, "--exclude", p)
	}
	for flag, on := range map[string]bool{"--verify": opts.Verify, "--skip-invalid": opts.SkipInvalid,
		"--overwrite-tags": opts.OverwriteTags, "--ignore-quota": opts.IgnoreQuota, "--dry-run": opts.DryRun} {
		if on {
			args = append(args, flag)
		}
	}
	c := cmd.NewRootCmd()
	var out bytes.Buffer
	c.SetArgs(args)
	c.SetOut(&out)
	c.SetErr(tWriter{t})
	err := c.ExecuteContext(ctx)
	return nil, out.String(), err
}

// refusalCase is one bad input.
type refusalCase struct {
	name string
	// empty runs against a fresh Harbor instead of one holding a previous import.
	empty bool
	// own gives the case a Harbor of its own, for setups that change it;
	// the others share one (each compares its own before and after).
	own bool
	// cli runs the command in-process instead of importer.Run.
	cli bool
	// setup makes the source (and may change the Harbor, before the
	// snapshot) and returns the options and the strings the error must contain.
	setup func(t *testing.T, h *harborTarget) (importer.Options, []string)
	// want are the sentinels the error must match.
	want []error
	// printed: what the command must print (cli only).
	printed []string
}

// runRefusals runs cases against Harbors holding the prior import (one
// shared by the cases that do not change it), or an empty one.
func runRefusals(t *testing.T, cases []refusalCase) {
	t.Helper()
	runRefusalsOn(t, seededHarbor(t), cases)
}

// runRefusalsOn runs cases against shared (but empty and own cases get their own).
func runRefusalsOn(t *testing.T, shared harborTarget, cases []refusalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h harborTarget
			switch {
			case tc.empty:
				h = emptyHarbor(t)
			case tc.own:
				h = seededHarbor(t)
			default:
				h = shared
			}
			opts, mentions := tc.setup(t, &h)
			if opts.HarborData == "" {
				opts.HarborData = h.data
			}
			if opts.DSN == "" {
				opts.DSN = h.dsn
			}
			before := snapshot(t, h)
			_, out, err := runImport(t, opts, tc.cli)
			if err == nil {
				t.Fatalf("import succeeded; want an error matching %v", tc.want)
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("got error %q, want one matching %q", err, w)
				}
			}
			for _, m := range mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not name %q:\n%v", m, err)
				}
			}
			if tc.cli {
				t.Logf("the command printed:\n%s", out)
			}
			for _, m := range tc.printed {
				if !strings.Contains(out, m) {
					t.Errorf("the command did not print %q:\n%s", m, out)
				}
			}
			checkUnchanged(t, h, before, snapshot(t, h))
		})
	}
}

// --- storage helpers -------------------------------------------------------

func v2Of(root string) string { return filepath.Join(root, "docker", "registry", "v2") }

// blobRel is the tar entry / path of blob d's data relative to root.
func blobRel(d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	return path.Join("docker/registry/v2/blobs/sha256", hex[:2], hex, "data")
}

func blobPath(root, d string) string { return filepath.Join(root, filepath.FromSlash(blobRel(d))) }

func tagLinkPath(root, repo, tag string) string {
	return filepath.Join(v2Of(root), "repositories", filepath.FromSlash(repo), "_manifests", "tags", tag, "current", "link")
}

// imageManifest reads the manifest of a fixture image from the storage.
func imageManifest(t *testing.T, root, d string) ocispec.Manifest {
	t.Helper()
	b, err := os.ReadFile(blobPath(root, d))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest %s: %v", d, err)
	}
	return m
}

// fixtureDigest is the digest repo:tag has in fx.
func fixtureDigest(t *testing.T, fx *testenv.Fixture, repo, tag string) string {
	t.Helper()
	im, ok := fx.Image(repo, tag)
	if !ok {
		t.Fatalf("fixture has no %s:%s", repo, tag)
	}
	return im.Digest
}

// flipByte changes one byte of a file in place: same size, other digest.
func flipByte(t *testing.T, p string, at int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// putManifest stores raw as a blob of the storage under root and tags it
// repo:tag, as the registry would (blob, revision link, tag link), and
// returns its digest.
func putManifest(t *testing.T, root, repo, tag string, raw []byte) string {
	t.Helper()
	d := digest.FromBytes(raw)
	writeFile(t, blobPath(root, d.String()), raw)
	writeFile(t, filepath.Join(v2Of(root), "repositories", repo, "_manifests", "revisions", "sha256", d.Encoded(), "link"), []byte(d.String()))
	writeFile(t, tagLinkPath(root, repo, tag), []byte(d.String()))
	return d.String()
}

// tarOf packs a copy of a storage like a user would.
func tarOf(t *testing.T, root, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if err := testenv.TarStorage(context.Background(), root, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// tarEntry is one entry of a hand-written archive.
type tarEntry struct {
	hdr  tar.Header
	body []byte
}

// writeTar writes entries as a tarball (gzip'd when the name ends in .gz).
func writeTar(t *testing.T, name string, entries ...tarEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(name, ".gz") {
		zw = gzip.NewWriter(f)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// storageEntries reads every entry of a plain tarball, for copying it into
// a hand-written one.
func storageEntries(t *testing.T, tarball string) []tarEntry {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tarEntry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr: *h, body: b})
	}
}

// tarEntryAt is where an entry lies in a plain tarball: its start, with
// any extended headers before it (where the entry before it ends), where
// its data starts, and the data's size.
type tarEntryAt struct{ start, data, size int64 }

// entryAt finds entry name in a plain tarball.
func entryAt(t *testing.T, tarball, name string) tarEntryAt {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := &countReader{r: f}
	tr := tar.NewReader(cr)
	var end int64
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no entry %s in %s: %v", name, tarball, err)
		}
		if h.Name == name {
			return tarEntryAt{start: end, data: cr.n, size: h.Size}
		}
		end = cr.n + (h.Size+511)&^511
	}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// gzipPrefix gzips the first n bytes of file into docker.tar.gz; without
// end, the gzip stream stops after a flush, as a copy cut there would.
func gzipPrefix(t *testing.T, file string, n int64, end bool) string {
	t.Helper()
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "docker.tar.gz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	if _, err := io.CopyN(zw, in, n); err != nil {
		t.Fatal(err)
	}
	if end {
		err = zw.Close()
	} else {
		err = zw.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// truncateAt copies file to a new file cut at n bytes (truncate(1)).
func truncateAt(t *testing.T, file string, n int64) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	writeFile(t, out, b)
	if err := os.Truncate(out, n); err != nil {
		t.Fatal(err)
	}
	return out
}

// alpineBlobs returns alpine:latest's manifest, config and own (second) layer digests.
func alpineBlobs(t *testing.T, fs *fixtureSet) (manifest, config, layer string) {
	t.Helper()
	manifest = fixtureDigest(t, fs.fx, "alpine", "latest")
	m := imageManifest(t, fs.root, manifest)
	return manifest, m.Config.Digest.String(), m.Layers[1].Digest.String()
}

// --- the cases ----------------------------------------------------------

// TestRefusedSources covers broken blobs, link files, manifests, archives
// and sources that are no registry storage.
func TestRefusedSources(t *testing.T) {
	fs := classic(t)
	man, cfg, layer := alpineBlobs(t, fs)
	bbMan := fixtureDigest(t, fs.fx, "busybox", "latest")

	// modified returns a private directory copy of the classic storage after change.
	modified := func(t *testing.T, change func(root string)) string {
		root := copyTree(t, fs.root)
		change(root)
		return root
	}
	dir := func(src string) importer.Options { return importer.Options{Source: src} }

	cases := []refusalCase{
		// 1. Missing blobs.
		{name: "missing layer/directory", want: []error{importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { os.Remove(blobPath(r, layer)) })
				return dir(src), []string{"alpine:latest@" + man, "alpine:3.19@" + man, "team/base:3.19@" + man, layer}
			}},
		{name: "missing layer/directory/empty Harbor", empty: true, want: []error{importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { os.Remove(blobPath(r, layer)) })
				return dir(src), []string{"alpine:latest@" + man, layer}
			}},
		{name: "missing layer/directory/cli", cli: true, want: []error{importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { os.Remove(blobPath(r, layer)) })
				return dir(src), []string{"alpine:latest@" + man, layer}
			}},
		{name: "missing layer/tarball", want: []error{importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { os.Remove(blobPath(r, layer)) })
				return dir(tarOf(t, src, "docker.tar")), []string{"alpine:latest@" + man, layer}
			}},
		{name: "missing manifest/directory", want: []error{importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { os.Remove(blobPath(r, bbMan)) })
				return dir(src), []string{"busybox:latest@" + bbMan}
			}},

		// 2. Digest mismatch: same size, other bytes.
		{name: "corrupt layer/tarball", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { flipByte(t, blobPath(r, layer), 100) })
				return dir(tarOf(t, src, "docker.tar")), []string{"tar entry " + blobRel(layer), layer}
			}},
		{name: "corrupt layer/tarball.gz", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { flipByte(t, blobPath(r, layer), 100) })
				return dir(tarOf(t, src, "docker.tar.gz")), []string{"tar entry " + blobRel(layer), layer}
			}},
		{name: "corrupt layer/directory with Verify", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { flipByte(t, blobPath(r, layer), 100) })
				o := dir(src)
				o.Verify = true
				return o, []string{blobRel(layer), layer}
			}},
		{name: "corrupt config/directory", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { flipByte(t, blobPath(r, cfg), 10) })
				return dir(src), []string{"alpine:latest@" + man, "config " + cfg}
			}},
		{name: "corrupt manifest/directory", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { flipByte(t, blobPath(r, man), 30) })
				return dir(src), []string{"alpine:latest@" + man, blobPath(src, man)}
			}},

		// 3. Truncated blobs and archives.
		{name: "truncated layer/directory", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) {
					if err := os.Truncate(blobPath(r, layer), fileSize(t, blobPath(r, layer))/2); err != nil {
						t.Fatal(err)
					}
				})
				return dir(src), []string{"alpine:latest@" + man, "layer " + layer}
			}},
		{name: "truncated layer/tarball", want: []error{importer.ErrDigestMismatch},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) {
					if err := os.Truncate(blobPath(r, layer), fileSize(t, blobPath(r, layer))/2); err != nil {
						t.Fatal(err)
					}
				})
				return dir(tarOf(t, src, "docker.tar")), []string{"tar entry " + blobRel(layer), layer}
			}},
		{name: "archive cut mid-entry/tar", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				e := entryAt(t, fs.tarball, blobRel(layer))
				off, size := e.data, e.size
				return dir(truncateAt(t, fs.tarball, off+size/2)), []string{blobRel(layer)}
			}},
		{name: "archive cut mid-entry/tar.gz", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				gz := tarOf(t, fs.root, "docker.tar.gz")
				return dir(truncateAt(t, gz, fileSize(t, gz)/2)), []string{"docker.tar.gz"}
			}},

		{name: "archive cut at an entry boundary/tar", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return dir(truncateAt(t, fs.tarball, entryAt(t, fs.tarball, blobRel(layer)).start)), []string{"docker.tar", "end-of-archive marker"}
			}},
		{name: "archive cut after an entry's long-name header/tar", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				// The blob's path is longer than a tar header holds: an
				// extra header and a block of name come before its own.
				e := entryAt(t, fs.tarball, blobRel(layer))
				if e.data-e.start < 3*512 {
					t.Fatalf("%s has no long-name header in %s", blobRel(layer), fs.tarball)
				}
				return dir(truncateAt(t, fs.tarball, e.start+2*512)), []string{"docker.tar", "end-of-archive marker"}
			}},
		{name: "archive cut at an entry boundary, then gzip'd/tar.gz", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return dir(gzipPrefix(t, fs.tarball, entryAt(t, fs.tarball, blobRel(layer)).start, true)), []string{"docker.tar.gz", "end-of-archive marker"}
			}},
		{name: "gzip stream cut at an entry boundary/tar.gz", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return dir(gzipPrefix(t, fs.tarball, entryAt(t, fs.tarball, blobRel(layer)).start, false)), []string{"docker.tar.gz", "unexpected EOF"}
			}},

		// 4. Link files.
		{name: "garbage tag link/directory", want: []error{importer.ErrCorruptSource},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var link string
				src := modified(t, func(r string) {
					link = tagLinkPath(r, "alpine", "latest")
					writeFile(t, link, []byte("garbage\x00\xff"))
				})
				return dir(src), []string{link}
			}},
		{name: "empty tag link/directory", want: []error{importer.ErrCorruptSource},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var link string
				src := modified(t, func(r string) {
					link = tagLinkPath(r, "alpine", "latest")
					writeFile(t, link, nil)
				})
				return dir(src), []string{link, "empty"}
			}},
		{name: "garbage tag link/tarball", want: []error{importer.ErrCorruptSource},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				src := modified(t, func(r string) { writeFile(t, tagLinkPath(r, "alpine", "latest"), []byte("sha256:1234")) })
				return dir(tarOf(t, src, "docker.tar")), []string{"docker/registry/v2/repositories/alpine/_manifests/tags/latest/current/link"}
			}},
		{name: "revision link naming another digest/directory", want: []error{importer.ErrCorruptSource},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var link string
				src := modified(t, func(r string) {
					link = filepath.Join(v2Of(r), "repositories", "alpine", "_manifests", "revisions", "sha256", strings.TrimPrefix(man, "sha256:"), "link")
					writeFile(t, link, []byte(bbMan))
				})
				return dir(src), []string{link, bbMan}
			}},

		// 5. Manifests.
		{name: "malformed manifest JSON", want: []error{importer.ErrCorruptSource},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var d string
				src := modified(t, func(r string) {
					d = putManifest(t, r, "alpine", "broken", []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": `))
				})
				return dir(src), []string{"alpine:broken@" + d, "not valid JSON"}
			}},
		{name: "unknown manifest media type", want: []error{importer.ErrUnsupported},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var d string
				src := modified(t, func(r string) {
					d = putManifest(t, r, "alpine", "odd", []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.example.thing.v1+json", "config": {}}`))
				})
				return dir(src), []string{"alpine:odd@" + d, "application/vnd.example.thing.v1+json"}
			}},
		{name: "docker schema 1 manifest without its layer", want: []error{importer.ErrMissingBlob},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var d string
				missing := digest.FromString("no such layer").String()
				src := modified(t, func(r string) { d = putManifest(t, r, "alpine", "old", schema1Manifest(missing)) })
				return dir(src), []string{"alpine:old@" + d, "schema 1", missing}
			}},

		// 6. Unsafe archives, written entry by entry.
		{name: "archive entry with ..", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				name := "docker/registry/v2/../../../../etc/cron.d/evil"
				return dir(writeTar(t, "evil.tar", dirEntry("docker/registry/v2/blobs/"), tarEntry{hdr: tar.Header{Name: name}, body: []byte("x")})), []string{name}
			}},
		{name: "archive entry with absolute path", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				return dir(writeTar(t, "evil.tar", tarEntry{hdr: tar.Header{Name: "/etc/passwd"}, body: []byte("x")})), []string{"/etc/passwd"}
			}},
		{name: "archive symlink to an absolute path", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				name := "docker/registry/v2/blobs/sha256/ab"
				return dir(writeTar(t, "evil.tar.gz", dirEntry("docker/registry/v2/blobs/"),
					tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: "/etc"}})), []string{name, "/etc"}
			}},
		{name: "archive symlink climbing out", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				name := "docker/registry/v2/repositories/x"
				return dir(writeTar(t, "evil.tar", dirEntry("docker/registry/v2/blobs/"),
					tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: "../../../../../root"}})), []string{name, "../../../../../root"}
			}},
		{name: "archive hardlink out of the tree", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				name := "docker/registry/v2/repositories/x"
				return dir(writeTar(t, "evil.tar", dirEntry("docker/registry/v2/blobs/"),
					tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: "../outside"}})), []string{name, "../outside"}
			}},
		{name: "archive hardlink to ../", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				// Found by FuzzTarEntryName: "../" was not cleaned before the check.
				name := "docker/registry/v2/repositories/y"
				return dir(writeTar(t, "evil.tar", dirEntry("docker/registry/v2/blobs/"),
					tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: "../"}})), []string{name, `"../"`}
			}},
		{name: "archive symlink after the whole storage", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				// Every blob is staged before the bad entry shows: the temps must go again.
				name := "docker/registry/v2/blobs/sha256/zz"
				entries := append(storageEntries(t, fs.tarball), tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: "/var/lib"}})
				return dir(writeTar(t, "docker.tar", entries...)), []string{name, "/var/lib"}
			}},

		// 7. Not a registry storage.
		{name: "not storage/empty directory", empty: true, want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				d := t.TempDir()
				return dir(d), []string{d}
			}},
		{name: "not storage/empty directory/seeded", want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				d := t.TempDir()
				return dir(d), []string{d}
			}},
		{name: "not storage/directory of other files", cli: true, want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				d := t.TempDir()
				writeFile(t, filepath.Join(d, "docker", "notes.txt"), []byte("hello"))
				return dir(d), []string{d}
			}},
		{name: "not storage/text file", want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				p := filepath.Join(t.TempDir(), "docker.tar")
				writeFile(t, p, []byte("this is not a tarball\n"))
				return dir(p), []string{p}
			}},
		{name: "not storage/empty file", want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				p := filepath.Join(t.TempDir(), "docker.tar")
				writeFile(t, p, nil)
				return dir(p), []string{p}
			}},
		{name: "not storage/random bytes", want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				b := make([]byte, 64<<10)
				rng := rand.New(rand.NewPCG(1, 2))
				for i := range b {
					b[i] = byte(rng.UintN(256))
				}
				b[0] = 'x' // neither gzip nor zstd magic
				p := filepath.Join(t.TempDir(), "docker.tar")
				writeFile(t, p, b)
				return dir(p), []string{p}
			}},
		{name: "not storage/tar of something else", want: []error{importer.ErrNotRegistryStorage},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				p := writeTar(t, "etc.tar", dirEntry("etc/"), tarEntry{hdr: tar.Header{Name: "etc/hosts"}, body: []byte("127.0.0.1 localhost\n")})
				return dir(p), []string{p}
			}},
		{name: "not storage/gzip of text", want: []error{importer.ErrUnsafeArchive},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(bytes.Repeat([]byte("not a tar archive\n"), 100))
				zw.Close()
				p := filepath.Join(t.TempDir(), "docker.tar.gz")
				writeFile(t, p, buf.Bytes())
				return dir(p), []string{p}
			}},
		{name: "not storage/missing path", want: []error{os.ErrNotExist},
			setup: func(t *testing.T, _ *harborTarget) (importer.Options, []string) {
				p := filepath.Join(t.TempDir(), "nothing-here")
				return dir(p), []string{p}
			}},
	}
	runRefusals(t, cases)
}

func dirEntry(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

// schema1Manifest is a Docker schema 1 manifest (unsigned form) of one layer.
func schema1Manifest(layer string) []byte {
	return []byte(`{
   "schemaVersion": 1,
   "name": "alpine",
   "tag": "old",
   "architecture": "amd64",
   "fsLayers": [{"blobSum": "` + layer + `"}],
   "history": [{"v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\",\"created\":\"2024-01-01T00:00:00Z\"}"}]
}`)
}

// TestCorruptLayerWithoutVerify documents the default: a layer taken from a
// directory is checked by size only (hashing every layer costs a full read of
// the storage; --verify does it), so same-size corruption goes through.
// Manifests and configs are always hashed (see "corrupt config/directory").
func TestCorruptLayerWithoutVerify(t *testing.T) {
	fs := classic(t)
	_, _, layer := alpineBlobs(t, fs)
	src := copyTree(t, fs.root)
	flipByte(t, blobPath(src, layer), 100)
	h := seededHarbor(t)
	if _, err := importer.Run(context.Background(), importer.Options{Source: src, HarborData: h.data, DSN: h.dsn, Logger: testLogger(t)}); err != nil {
		t.Fatalf("got %v, want the size-only check to pass (no --verify)", err)
	}
}

// TestUnsupportedSkippedWithSkipInvalid: with SkipInvalid, a manifest
// Harbor does not accept is skipped and reported, and everything else imports.
func TestUnsupportedSkippedWithSkipInvalid(t *testing.T) {
	fs := classic(t)
	src := copyTree(t, fs.root)
	d := putManifest(t, src, "alpine", "old", []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.example.thing.v1+json", "config": {}}`))
	h := seededHarbor(t)
	rep, err := importer.Run(context.Background(), importer.Options{Source: src, HarborData: h.data, DSN: h.dsn, SkipInvalid: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Kind != "unsupported" || rep.Skipped[0].Repository != "alpine" ||
		rep.Skipped[0].Tag != "old" || rep.Skipped[0].Digest != d {
		t.Errorf("got skipped %+v, want one unsupported alpine:old@%s", rep.Skipped, d)
	}
	conn := connect(t, h.dsn)
	checkTags(t, conn, fs.fx)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM tag t JOIN repository r ON r.repository_id = t.repository_id
		WHERE r.name = 'library/alpine' AND t.name = 'old'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("got %d rows for library/alpine:old (%v), want 0", n, err)
	}
}

// TestRefusedHarbor covers databases and data volumes that are not a
// Harbor harbor-import writes.
func TestRefusedHarbor(t *testing.T) {
	fs := classic(t)
	src := importer.Options{Source: fs.tarball}
	exec := func(t *testing.T, dsn string, sqls ...string) {
		t.Helper()
		conn := connect(t, dsn)
		for _, s := range sqls {
			if _, err := conn.Exec(context.Background(), s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	// Refusals name what was found and what is supported. Version 15 is
	// Harbor 1.10's schema; every 2.x schema is supported.
	supported := harbordb.SupportedSummary()
	cases := []refusalCase{
		{name: "schema 15 (Harbor 1.10)", own: true, want: []error{harbordb.ErrUnsupportedSchema},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `UPDATE schema_migrations SET version = 15`)
				return src, []string{"15 (not a Harbor 2.x release)", supported}
			}},
		{name: "schema 15 (Harbor 1.10)/empty Harbor", empty: true, want: []error{harbordb.ErrUnsupportedSchema},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `UPDATE schema_migrations SET version = 15`)
				return src, []string{"15 (not a Harbor 2.x release)", supported}
			}},
		{name: "schema 15 (Harbor 1.10)/cli", own: true, cli: true, want: []error{harbordb.ErrUnsupportedSchema},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `UPDATE schema_migrations SET version = 15`)
				return src, []string{"15 (not a Harbor 2.x release)", supported}
			}},
		{name: "schema 100 with columns of a later Harbor", own: true, want: []error{harbordb.ErrUnsupportedSchema},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `UPDATE schema_migrations SET version = 100`)
				return src, []string{"schema version 100", "added by a later version", "artifact.artifact_type"}
			}},
		{name: "schema 999", own: true, want: []error{harbordb.ErrUnsupportedSchema},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `UPDATE schema_migrations SET version = 999`)
				return src, []string{"999", "newer than", supported}
			}},
		{name: "dirty schema", own: true, want: []error{harbordb.ErrDirtySchema},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `UPDATE schema_migrations SET dirty = true`)
				return src, []string{"version 180", "dirty"}
			}},
		{name: "two schema rows", own: true, want: []error{harbordb.ErrNotHarbor},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				exec(t, h.dsn, `INSERT INTO schema_migrations (version, dirty) VALUES (170, false)`)
				return src, []string{"schema_migrations holds 2 rows"}
			}},
		{name: "plain empty database", want: []error{harbordb.ErrNotHarbor},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				h.dsn = plainDB(t, h.dsn)
				return src, []string{"schema_migrations does not exist"}
			}},
		{name: "harbor-data without registry/", want: []error{importer.ErrNotHarborData},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				h.data = t.TempDir()
				writeFile(t, filepath.Join(h.data, "database", "PG_VERSION"), []byte("15\n"))
				o := src
				o.HarborData = h.data
				return o, []string{h.data, "registry/"}
			}},
		{name: "harbor-data missing", cli: true, want: []error{importer.ErrNotHarborData},
			setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
				o := src
				o.HarborData = filepath.Join(h.data, "nowhere")
				return o, []string{o.HarborData}
			}},
	}
	runRefusals(t, cases)
}

// TestDatabaseFailsDuringScan: the connection to Harbor's database is made
// while the source is scanned. A server that fails only once the scan has
// staged blobs must stop the import with the database's error and leave
// Harbor as it was (the staged blobs removed).
func TestDatabaseFailsDuringScan(t *testing.T) {
	fs := classic(t)
	var sawStaged func() bool
	runRefusals(t, []refusalCase{{name: "server closes once blobs are staged",
		setup: func(t *testing.T, h *harborTarget) (importer.Options, []string) {
			var addr string
			addr, sawStaged = lateFailingServer(t, filepath.Join(h.data, "registry", ".harbor-import", "staging"))
			return importer.Options{Source: fs.tarball, DSN: "postgres://harbor@" + addr + "/registry?sslmode=disable&connect_timeout=30"},
				[]string{"connecting to Harbor's database at 127.0.0.1", "/registry as harbor"}
		}}})
	if !sawStaged() {
		t.Error("the server never saw a staged file: the scan did not run beside the connection")
	}
}

// lateFailingServer accepts connections and closes each once a regular
// file appears under staging (or after 20 s); sawStaged reports whether
// one did.
func lateFailingServer(t *testing.T, staging string) (addr string, sawStaged func() bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var saw atomic.Bool
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	staged := func() bool {
		found := false
		_ = filepath.WalkDir(staging, func(_ string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		return found
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) && !staged() {
				select {
				case <-done:
					c.Close()
					return
				case <-time.After(time.Millisecond):
				}
			}
			if staged() {
				saw.Store(true)
			}
			c.Close()
		}
	}()
	return l.Addr().String(), saw.Load
}

// plainDB creates an empty database (no Harbor schema) on the server of dsn.
func plainDB(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dsn)
	name := "plain_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			return r
		}
		return '_'
	}, name)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return withDB(dsn, name)
}
