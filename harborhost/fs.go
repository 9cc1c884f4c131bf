package harborhost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// freeBytes is the space an unprivileged writer may still use on path's
// filesystem (root may use the reserved blocks too; this is the safe number).
func freeBytes(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // field types differ per OS
}

// ownerOf returns path's uid and gid.
func ownerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// sourceInfo is what preflight learns of --src without reading blobs.
type sourceInfo struct {
	// tarball is true for a file; Compressed when it starts with a gzip or zstd magic.
	tarball, compressed bool
	// blobsDir is the v2/blobs directory of a directory source.
	blobsDir string
	// bytes is the sum of blob data sizes (directory) or the file size (tarball).
	bytes int64
	// blobs counts data files (directory source).
	blobs int
}

// measureSource sums what a source holds: a walk of blobs/ for a directory
// (found as the importer finds it), the file size for a tarball.
func measureSource(ctx context.Context, src string) (sourceInfo, error) {
	var si sourceInfo
	fi, err := os.Stat(src)
	if err != nil {
		return si, fmt.Errorf("reading source: %w", err)
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return si, fmt.Errorf("source %s is neither a directory nor a regular file", src)
		}
		si.tarball, si.bytes = true, fi.Size()
		f, err := os.Open(src)
		if err != nil {
			return si, fmt.Errorf("reading source: %w", err)
		}
		defer f.Close()
		magic := make([]byte, 4)
		if n, _ := io.ReadFull(f, magic); n >= 2 {
			si.compressed = bytes.HasPrefix(magic, []byte{0x1f, 0x8b}) || bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd})
		}
		return si, nil
	}
	for _, v2 := range []string{filepath.Join(src, "docker", "registry", "v2"), filepath.Join(src, "registry", "v2"), filepath.Join(src, "v2"), src} {
		if isDirPath(filepath.Join(v2, "blobs")) || isDirPath(filepath.Join(v2, "repositories")) {
			si.blobsDir = filepath.Join(v2, "blobs")
			break
		}
	}
	if si.blobsDir == "" {
		return si, fmt.Errorf("directory %s holds no docker/registry/v2 (nor v2/, nor blobs/ and repositories/)", src)
	}
	if !isDirPath(si.blobsDir) {
		return si, nil
	}
	n := 0
	err = filepath.WalkDir(si.blobsDir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if de.Type().IsRegular() && de.Name() == "data" {
			info, err := de.Info()
			if err != nil {
				return err
			}
			si.bytes += info.Size()
			si.blobs++
		}
		return nil
	})
	if err != nil {
		return si, fmt.Errorf("walking %s: %w", si.blobsDir, err)
	}
	return si, nil
}

func isDirPath(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// sameMount reports whether a and b are on one filesystem *and* one mount:
// link(2) fails with EXDEV across mounts even of the same filesystem (a
// bind mount), so st_dev alone is not enough.
func sameMount(a, b string) (bool, error) {
	da, err := devOf(a)
	if err != nil {
		return false, err
	}
	db, err := devOf(b)
	if err != nil {
		return false, err
	}
	if da != db {
		return false, nil
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return true, nil // same device; no mount table to say more
	}
	ma, err := mountID(info, a)
	if err != nil {
		return true, nil
	}
	mb, err := mountID(info, b)
	if err != nil {
		return true, nil
	}
	return ma == mb, nil
}

func devOf(p string) (uint64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no device number")
	}
	return uint64(st.Dev), nil //nolint:unconvert // Dev is int32 on some systems
}

// mountID returns the id of the mount holding path in a mountinfo table:
// the longest mount point that is a prefix of the resolved path, the last
// one listed when a mount point was mounted over.
func mountID(mountinfo []byte, path string) (string, error) {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", err
	}
	best, bestLen := "", -1
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeOctal(f[4])
		if mp != "/" && p != mp && !strings.HasPrefix(p, mp+"/") {
			continue
		}
		if len(mp) >= bestLen {
			best, bestLen = f[0], len(mp)
		}
	}
	if best == "" {
		return "", fmt.Errorf("no mount holds %s", p)
	}
	return best, nil
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}
