package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
)

// TestTarScanStages runs a tarball's scan with a placer: small blobs are
// handed to the stager goroutines, larger ones than tarStageMax streamed
// by the scan itself; a blob appended twice is staged once, whichever path
// it takes; a corrupt blob, or an archive ending inside a streamed one,
// fails the scan naming its entry.
func TestTarScanStages(t *testing.T) {
	type entry struct {
		data []byte
		d    digest.Digest
	}
	mk := func(seed, n int) entry {
		b := bytes.Repeat([]byte(fmt.Sprintf("%08d", seed)), n/8+1)[:n]
		return entry{b, digest.FromBytes(b)}
	}
	var blobs []entry
	for i := range 300 {
		blobs = append(blobs, mk(i, 100+i*97))
	}
	big := mk(1000, tarStageMax+1)
	huge := mk(1001, 3*tarStageMax+12345)
	blobs = append(blobs, big, huge, mk(1002, tarStageMax))

	writeTar := func(t *testing.T, entries []entry, corrupt digest.Digest) string {
		p := filepath.Join(t.TempDir(), "docker.tar")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		tw := tar.NewWriter(f)
		for _, e := range entries {
			name := fmt.Sprintf("docker/registry/v2/blobs/sha256/%s/%s/data", e.d.Encoded()[:2], e.d.Encoded())
			data := e.data
			if e.d == corrupt {
				data = bytes.Clone(data)
				data[len(data)/2] ^= 1
			}
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(data); err != nil {
				t.Fatal(err)
			}
		}
		if err := errors.Join(tw.Close(), f.Close()); err != nil {
			t.Fatal(err)
		}
		return p
	}
	scan := func(t *testing.T, archive string) (*tarSource, *fsmove.Placer, error) {
		owner := &fsmove.Owner{UID: os.Geteuid(), GID: os.Getegid()}
		p, err := fsmove.New(context.Background(), fsmove.Options{Root: t.TempDir(), Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		s, err := openTar(archive)
		if err != nil {
			t.Fatal(err)
		}
		err = s.scan(context.Background(), newInventory(), scanEnv{placer: p})
		return s, p, err
	}

	t.Run("every blob staged once", func(t *testing.T) {
		// Appended twice: a small blob, one streamed, and (at once after
		// its first copy, likely still being staged) another small one.
		entries := append(append([]entry{}, blobs...), blobs[7], big, blobs[len(blobs)-1], blobs[len(blobs)-1])
		s, p, err := scan(t, writeTar(t, entries, ""))
		if err != nil {
			t.Fatal(err)
		}
		if s.staged != len(blobs) {
			t.Errorf("staged %d blobs, want %d (each once)", s.staged, len(blobs))
		}
		for _, e := range blobs {
			size, ok, err := p.StagedBlob(e.d)
			if err != nil || !ok || size != int64(len(e.data)) {
				t.Fatalf("blob of %d bytes: staged %v, size %d, err %v", len(e.data), ok, size, err)
			}
			f, err := p.OpenStagedBlob(e.d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || !bytes.Equal(got, e.data) {
				t.Fatalf("blob %s: staged content differs (err %v)", e.d, err)
			}
		}
		n, err := p.DiscardBlobsExcept(func(digest.Digest) bool { return true })
		if err != nil || n != 0 {
			t.Fatalf("DiscardBlobsExcept kept all: dropped %d, err %v", n, err)
		}
	})

	t.Run("archive ends inside a streamed blob", func(t *testing.T) {
		archive := writeTar(t, blobs, "")
		raw, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(raw, huge.data[:4096])
		if i < 0 {
			t.Fatal("the large blob is not in the archive")
		}
		cut := i + 2*tarStageMax + 100 // well inside it
		if err := os.WriteFile(archive, raw[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = scan(t, archive)
		want := fmt.Sprintf("tar entry docker/registry/v2/blobs/sha256/%s/%s/data", huge.d.Encoded()[:2], huge.d.Encoded())
		if !errors.Is(err, ErrUnsafeArchive) || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Fatalf("got %v, want ErrUnsafeArchive naming %s", err, want)
		}
	})

	for _, c := range []struct {
		name string
		bad  entry
	}{{"corrupt small blob", blobs[150]}, {"corrupt streamed blob", huge}} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := scan(t, writeTar(t, blobs, c.bad.d))
			if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("got %v, want ErrDigestMismatch", err)
			}
			want := fmt.Sprintf("tar entry docker/registry/v2/blobs/sha256/%s/%s/data", c.bad.d.Encoded()[:2], c.bad.d.Encoded())
			if !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Fatalf("error %q does not name %s", err, want)
			}
		})
	}
}

// TestTarScanDry runs a dry run's scan (no placer): every blob is found by
// its digest with its size, a JSON blob whole, any other by its head; a
// blob appended twice is kept once; a digest sharing a kept blob's first 8
// bytes (the table's key) is not found.
func TestTarScanDry(t *testing.T) {
	type entry struct {
		data []byte
		d    digest.Digest
	}
	var blobs []entry
	for i := range 500 {
		var b []byte
		switch i % 3 {
		case 0:
			b = []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, bytes.Repeat([]byte("x"), i)))
		case 1:
			b = append([]byte{byte(i), byte(i >> 8)}, bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, i%40)...) // 2 to 158 bytes
		default:
			b = []byte(fmt.Sprintf("[not an object %d]", i))
		}
		blobs = append(blobs, entry{b, digest.FromBytes(b)})
	}
	p := filepath.Join(t.TempDir(), "docker.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// The last blob again at once: its sum still waits in the spill's buffer.
	for _, e := range append(append([]entry{}, blobs...), blobs[499], blobs[3], blobs[4], blobs[3]) {
		name := fmt.Sprintf("docker/registry/v2/blobs/sha256/%s/%s/data", e.d.Encoded()[:2], e.d.Encoded())
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := openTar(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.scan(context.Background(), newInventory(), scanEnv{tempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if s.blobs.len() != len(blobs) {
		t.Errorf("kept %d blobs, want %d (each once)", s.blobs.len(), len(blobs))
	}
	ctx := context.Background()
	for _, e := range blobs {
		size, ok, err := s.stat(e.d)
		if err != nil || !ok || size != int64(len(e.data)) {
			t.Fatalf("stat(%s) = %d %v %v, want %d", e.d, size, ok, err, len(e.data))
		}
		head, ok, err := s.head(e.d)
		if err != nil || !ok || !bytes.Equal(head, e.data[:min(len(e.data), tarHeadLen)]) {
			t.Fatalf("head(%s) = %q %v %v, want %q", e.d, head, ok, err, e.data[:min(len(e.data), tarHeadLen)])
		}
		got, err := s.read(ctx, e.d)
		if len(e.data) > 0 && e.data[0] == '{' {
			if err != nil || !bytes.Equal(got, e.data) {
				t.Fatalf("read(%s) = %q %v, want %q", e.d, got, err, e.data)
			}
		} else if !errors.Is(err, errNotCaptured) {
			t.Fatalf("read(%s) of a blob that is no JSON object: got %q %v, want errNotCaptured", e.d, got, err)
		}
		// Same key (first 8 bytes), another sum.
		sum, _ := sha256Key(e.d)
		sum[31] ^= 1
		other := sumDigest(sum)
		if _, ok, err := s.stat(other); ok || err != nil {
			t.Fatalf("stat(%s), sharing the key of %s: found %v, err %v; want not found", other, e.d, ok, err)
		}
		if _, err := s.read(ctx, other); !errors.Is(err, ErrMissingBlob) {
			t.Fatalf("read(%s), sharing the key of %s: %v, want ErrMissingBlob", other, e.d, err)
		}
	}
}

// TestSumTableSharedKeys: records pushed under one sumPrefix are each
// found through lookupFunc's match, in any order, and a key no match
// accepts is not found.
func TestSumTableSharedKeys(t *testing.T) {
	var tab sumTable[sumPrefix, int]
	keys := []sumPrefix{1<<63 | 5, 1<<63 | 5, 1<<63 | 6, 1<<63 | 5, 1<<63 | 1029}
	for i, k := range keys {
		tab.push(k, i*10)
	}
	for i, k := range keys {
		id, ok := tab.lookupFunc(&k, func(id uint32) bool { return *tab.at(id) == i*10 })
		if !ok || id != uint32(i) {
			t.Errorf("record %d: lookupFunc = %d %v", i, id, ok)
		}
	}
	k := keys[0]
	if id, ok := tab.lookupFunc(&k, func(uint32) bool { return false }); ok {
		t.Errorf("no match accepted, yet found %d", id)
	}
	if id, ok := tab.lookup(&k); !ok || id != 0 {
		t.Errorf("lookup returns the first record pushed under a key: got %d %v", id, ok)
	}
}
