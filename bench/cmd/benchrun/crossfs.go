package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// crossFS mounts a loop ext4 image holding a copy of the corpus's storage
// (made once and kept next to the corpus as xfs.img) and returns the
// storage's rootdirectory on it. A loop device is a real block device, so
// dropping caches makes its reads cold, unlike tmpfs.
func (r *runner) crossFS(ctx context.Context) (string, func(), error) {
	img := filepath.Join(r.c.Dir, "xfs.img")
	ready := img + ".ok"
	mnt := filepath.Join(r.cfg.benchDir, "mnt-"+filepath.Base(r.c.Dir))
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return "", nil, err
	}
	_ = exec.Command("umount", mnt).Run() // a killed run's mount
	if _, err := os.Stat(ready); err != nil {
		if err := r.makeImage(ctx, img, mnt); err != nil {
			os.Remove(img)
			return "", nil, err
		}
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return "", nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("mount -o loop %s: %v: %s", img, err, strings.TrimSpace(string(out)))
	}
	unmount := func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			r.log.Warn("umount", "mnt", mnt, "err", err, "out", string(out))
		}
	}
	return mnt, unmount, nil
}

func (r *runner) makeImage(ctx context.Context, img, mnt string) error {
	var bytes, entries int64
	err := filepath.WalkDir(r.c.Storage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			bytes += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		return err
	}
	size := bytes + bytes/8 + 512<<20
	r.log.Info("making loop ext4 image for the cross-filesystem steps", "img", img, "bytes", size, "inodes", entries*2+16384)
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	f.Close()
	for _, c := range [][]string{
		{"mkfs.ext4", "-q", "-F", "-m", "0", "-N", fmt.Sprint(entries*2 + 16384), img},
		{"mount", "-o", "loop", img, mnt},
		{"cp", "-a", filepath.Join(r.c.Storage, "docker"), mnt + "/"},
		{"umount", mnt},
	} {
		if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			_ = exec.Command("umount", mnt).Run()
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
