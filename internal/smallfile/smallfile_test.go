package smallfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/harbor-import/harbor-import/internal/smallfile"
	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	content := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(link, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)

	for _, tc := range []struct {
		name  string
		dirfd int
		path  string
		max   int
		want  string
		err   error
	}{
		{"absolute path", unix.AT_FDCWD, link, 1024, content, nil},
		{"relative to a directory", dfd, "link", 1024, content, nil},
		{"exactly max", dfd, "link", len(content), content, nil},
		{"one byte over max", dfd, "link", len(content) - 1, "", smallfile.ErrTooLarge},
		{"symlink", dfd, "sym", 1024, "", smallfile.ErrNotRegular},
		{"directory", dfd, "sub", 1024, "", smallfile.ErrNotRegular},
		{"fifo (must not block)", dfd, "fifo", 1024, "", smallfile.ErrNotRegular},
		{"missing", dfd, "nothing", 1024, "", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, st, err := smallfile.Read(tc.dirfd, tc.path, tc.max)
			if tc.err != nil {
				var pe *fs.PathError
				if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Path != tc.path {
					t.Fatalf("got %q, %v; want a *fs.PathError for %s wrapping %v", b, err, tc.path, tc.err)
				}
				return
			}
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %q, %v; want %q", b, err, tc.want)
			}
			if st.Size != int64(len(tc.want)) || st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("stat: size %d mode %o, want a regular file of %d bytes", st.Size, st.Mode, len(tc.want))
			}
		})
	}
}
