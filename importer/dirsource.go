package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/opencontainers/go-digest"
)

// dirSource is a registry storage directory; blobs are hardlinked or copied
// from it straight into Harbor's staging area.
type dirSource struct {
	root, v2 string
}

func (s *dirSource) describe() string {
	if s.root == s.v2 {
		return "directory " + s.root
	}
	return fmt.Sprintf("directory %s (v2 root %s)", s.root, s.v2)
}

func (s *dirSource) close() error                 { return nil }
func (s *dirSource) discardUnused(*fsmove.Placer) {}

func (s *dirSource) scan(ctx context.Context, inv *inventory, env scanEnv) error {
	repos := filepath.Join(s.v2, "repositories")
	if !isDir(repos) {
		return nil // a storage with blobs but no repository imports nothing
	}
	n := 0
	return filepath.WalkDir(repos, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
		if de.IsDir() {
			switch de.Name() {
			case "_uploads", "_layers", "index":
				// Nothing to read there: layer links are rewritten from the manifests,
				// upload sessions and tag history are not imported.
				return filepath.SkipDir
			}
			return nil
		}
		if de.Name() != "link" {
			return nil
		}
		rel := filepath.ToSlash(p[len(s.v2)+1:])
		spec, err := regpath.Parse(rel)
		if err != nil || !wantsLink(spec.Kind) {
			return nil
		}
		if !de.Type().IsRegular() {
			return fmt.Errorf("link file %s is not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading link file: %w", err)
		}
		if err := inv.addLink(p, spec, b); err != nil {
			return err
		}
		n++
		if n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if env.progress != nil {
				env.progress(n, 0)
			}
		}
		return nil
	})
}

func (s *dirSource) blobPath(d digest.Digest) (string, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	if err != nil {
		return "", err
	}
	return filepath.Join(s.v2, filepath.FromSlash(rel)), nil
}

func (s *dirSource) stat(d digest.Digest) (int64, bool, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return 0, false, err
	}
	fi, err := os.Lstat(p)
	if os.IsNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading source blob %s: %w", d, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, false, fmt.Errorf("source blob %s: %s is not a regular file", d, p)
	}
	return fi.Size(), true, nil
}

func (s *dirSource) read(_ context.Context, d digest.Digest) ([]byte, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", d, err)
	}
	defer f.Close()
	b, err := readLimited(f, maxJSONBlob, "blob "+d.String())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if err := verifyBytes(d, b); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

func (s *dirSource) stage(ctx context.Context, p *fsmove.Placer, d digest.Digest, size int64, verify bool) (*fsmove.Staged, error) {
	src, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	st, err := p.StageFile(ctx, d, size, src, verify)
	if errors.Is(err, fsmove.ErrDigestMismatch) {
		return nil, fmt.Errorf("%w: staging %s: %w", ErrDigestMismatch, strings.TrimPrefix(src, s.root+"/"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", strings.TrimPrefix(src, s.root+"/"), err)
	}
	return st, nil
}
