package importer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/opencontainers/go-digest"
)

// maxJSONBlob bounds manifests and configs read into memory.
const maxJSONBlob = 16 << 20

// maxLinkFile bounds a link file: it holds one digest ("sha256:<hex>", 71
// bytes); anything much larger is not a link file.
const maxLinkFile = 1024

// source is a registry storage to import from.
type source interface {
	// describe names the source for messages: "directory /x (v2 root /x/docker/registry/v2)".
	describe() string
	// scan reads every tag and revision link into inv. A tarball is read
	// once, here: blobs are staged into p as they pass (p nil: dry run, they
	// are only hashed), except those harbor already holds.
	scan(ctx context.Context, inv *inventory, env scanEnv) error
	// stat returns the size of blob d's data, ok false when the source lacks it.
	stat(d digest.Digest) (size int64, ok bool, err error)
	// read returns blob d (a manifest or config), checked against d.
	read(ctx context.Context, d digest.Digest) ([]byte, error)
	// stage puts blob d into p's staging area (a tarball's scan staged it
	// already); verify also hashes it.
	stage(ctx context.Context, p *fsmove.Placer, d digest.Digest, size int64, verify bool) error
	// discardUnused drops the blobs scan staged that used refuses (the plan
	// does not place them), and what was kept only for planning; placement
	// calls it once staging is done.
	discardUnused(p *fsmove.Placer, used func(digest.Digest) bool) error
	close() error
}

// scanEnv is what scan needs from the run.
type scanEnv struct {
	placer *fsmove.Placer
	// inHarbor reports whether Harbor's storage already holds blob d with that size.
	inHarbor func(d digest.Digest, size int64) (bool, error)
	// readHarbor reads a blob Harbor already holds.
	readHarbor func(d digest.Digest) ([]byte, error)
	// tempDir holds a tarball's JSON blobs while they are planned
	// (Options.TempDir; "" for the system's).
	tempDir  string
	progress func(entries int, bytes int64)
}

// ErrNotRegistryStorage is returned when --src is neither a registry
// storage directory nor a tarball of one.
var ErrNotRegistryStorage = errors.New("not a registry storage")

// openSource detects what path is: a directory holding docker/registry/v2,
// the v2 directory itself (or its parent registry/), or a tarball (.tar,
// .tar.gz/.tgz, .tar.zst, detected by content, not by name).
func openSource(path string) (source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening source: %w", err)
	}
	if fi.IsDir() {
		for _, cand := range []string{filepath.Join(path, "docker", "registry", "v2"), filepath.Join(path, "registry", "v2"), filepath.Join(path, "v2"), path} {
			if isDir(filepath.Join(cand, "repositories")) || isDir(filepath.Join(cand, "blobs")) {
				return &dirSource{root: path, v2: cand}, nil
			}
		}
		return nil, fmt.Errorf("%w: directory %s holds no docker/registry/v2 (nor v2/, nor blobs/ and repositories/); give the registry's storage root (e.g. /var/lib/registry), its v2 directory, or a tarball made with `tar -cpf docker.tar docker`", ErrNotRegistryStorage, path)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is neither a directory nor a regular file", ErrNotRegistryStorage, path)
	}
	return openTar(path)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// verifyBytes checks b against d.
func verifyBytes(d digest.Digest, b []byte) error {
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("blob %s: unsupported digest algorithm", d)
	}
	sum := sha256.Sum256(b)
	if got := digest.NewDigestFromBytes(digest.SHA256, sum[:]); got != d {
		return fmt.Errorf("%w: blob %s has content with digest %s", ErrDigestMismatch, d, got)
	}
	return nil
}

// readLimited reads at most max bytes of r, failing when there is more.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, max)
	}
	return buf.Bytes(), nil
}
