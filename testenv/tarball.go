package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TarStorage packs the storage under rootdir the way a user would, with
// `tar -cpf out docker` run in rootdir, so entries are named
// docker/registry/v2/.... out is compressed by its name: .tar.gz or .tgz
// gzip, .tar.zst zstd, anything else plain tar. On error no out is left.
func TarStorage(ctx context.Context, rootdir, out string) (rerr error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("packing storage: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("packing storage: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && rerr == nil {
			rerr = fmt.Errorf("writing %s: %w", out, cerr)
		}
		if rerr != nil {
			os.Remove(out)
		}
	}()

	var w io.WriteCloser
	switch {
	case strings.HasSuffix(out, ".tar.gz"), strings.HasSuffix(out, ".tgz"):
		w = gzip.NewWriter(f)
	case strings.HasSuffix(out, ".tar.zst"):
		if w, err = zstd.NewWriter(f); err != nil {
			return fmt.Errorf("packing storage: %w", err)
		}
	default:
		w = nopWriteCloser{f}
	}

	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "tar", "-cpf", "-", "docker")
	cmd.Dir = rootdir
	cmd.Stdout = w
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		w.Close()
		return fmt.Errorf("running tar in %s: %w: %s", rootdir, err, strings.TrimSpace(stderr.String()))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compressing %s: %w", out, err)
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
