package fsmove

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// crashEnv tells TestCrashChild what to run: "<scenario> <step> <root> <src>".
const crashEnv = "FSMOVE_CRASH"

// crashOwner is an owner the tests can see applied: an unusual one as root.
func crashOwner() Owner {
	if os.Geteuid() == 0 {
		return Owner{UID: 12345, GID: 12346}
	}
	return Owner{UID: os.Geteuid(), GID: os.Getegid()}
}

// crashBlob returns deterministic content for blob i.
func crashBlob(i int) ([]byte, digest.Digest) {
	b := make([]byte, 3000+i*17)
	var x [8]byte
	binary.LittleEndian.PutUint64(x[:], uint64(i)+1000)
	s := sha256.Sum256(x[:])
	for j := 0; j < len(b); j += len(s) {
		copy(b[j:], s[:])
		s = sha256.Sum256(s[:])
	}
	return b, digest.FromBytes(b)
}

// crashScenario stages and commits blobs from..to-1 (even ones hardlinked
// from src, odd ones streamed, blob from staged twice), a layer link for
// each in two repositories and a tag; "rollback" then rolls back.
func crashScenario(ctx context.Context, scenario, root, src string, from, to int) error {
	o := crashOwner()
	p, err := New(ctx, Options{Root: root, Owner: &o})
	if err != nil {
		return err
	}
	defer p.Close()
	var staged []*Staged
	add := func(s *Staged, err error) error {
		if err == nil {
			staged = append(staged, s)
		}
		return err
	}
	for i := from; i < to; i++ {
		data, d := crashBlob(i)
		if i%2 == 0 {
			err = add(p.StageFile(ctx, d, int64(len(data)), filepath.Join(src, strconv.Itoa(i)), false))
		} else {
			err = add(p.StageReader(ctx, d, int64(len(data)), bytes.NewReader(data)))
		}
		if err != nil {
			return err
		}
		for _, repo := range []string{"team/app", "base"} {
			rel, _ := regpath.For(regpath.Spec{Kind: regpath.LayerLink, Repo: repo, Digest: d})
			if err := add(p.StageLink(ctx, rel, d)); err != nil {
				return err
			}
		}
	}
	data, d := crashBlob(from)
	if err := add(p.StageReader(ctx, d, int64(len(data)), bytes.NewReader(data))); err != nil {
		return err
	}
	tag, _ := regpath.For(regpath.Spec{Kind: regpath.TagCurrentLink, Repo: "team/app", Tag: "v" + strconv.Itoa(from)})
	if err := add(p.StageLink(ctx, tag, d)); err != nil {
		return err
	}
	if _, err := p.Commit(ctx, nil); err != nil {
		return err
	}
	if scenario == "rollback" {
		return p.Rollback(ctx)
	}
	return nil
}

// TestCrashChild is the process TestKilledAtEveryStep kills.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("runs only as the child of TestKilledAtEveryStep")
	}
	var scenario, root, src string
	var step int
	if _, err := fmt.Sscan(spec, &scenario, &step, &root, &src); err != nil {
		t.Fatal(err)
	}
	n := 0
	crashHook = func(name string) {
		if n++; n == step {
			fmt.Printf("killed at step %d: %s\n", n, name)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	if err := crashScenario(t.Context(), scenario, root, src, 0, 4); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("finished after %d steps\n", n)
}

// TestKilledAtEveryStep kills a process placing files (SIGKILL) at every
// step in turn, into a fresh storage and into one holding part of the
// files, while committing and while rolling back. After each kill the v2
// tree must hold only complete files and directories with the right owner
// and mode; CleanStaging must leave staging empty; and a new run must give
// exactly the tree a run without a kill gives.
func TestKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	src := t.TempDir()
	for i := range 4 {
		data, _ := crashBlob(i)
		if err := os.WriteFile(filepath.Join(src, strconv.Itoa(i)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bases := map[string]func(t *testing.T, root string){
		"fresh": func(*testing.T, string) {},
		"existing": func(t *testing.T, root string) {
			// A run before placed blobs 0 and 1 and their links, and blob
			// 2's directory is there, empty: its data file is placed alone.
			if err := crashScenario(t.Context(), "commit", root, src, 0, 2); err != nil {
				t.Fatal(err)
			}
			_, d := crashBlob(2)
			rel, _ := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
			dir := filepath.Join(root, v2Rel, filepath.Dir(rel))
			o := crashOwner()
			for _, d := range []string{filepath.Dir(dir), dir} {
				if err := os.Mkdir(d, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
					t.Fatal(err)
				}
				if err := os.Chown(d, o.UID, o.GID); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
	for _, base := range slices.Sorted(maps.Keys(bases)) {
		prepare := bases[base]
		clean := t.TempDir()
		prepare(t, clean)
		if err := crashScenario(t.Context(), "commit", clean, src, 0, 4); err != nil {
			t.Fatal(err)
		}
		want := storageState(t, clean)
		for _, scenario := range []string{"commit", "rollback"} {
			t.Run(base+"/"+scenario, func(t *testing.T) {
				steps := 0
				seen := map[string]bool{}
				for step := 1; ; step++ {
					root := t.TempDir()
					prepare(t, root)
					cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
					cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s %s", crashEnv, scenario, step, root, src))
					out, err := cmd.CombinedOutput()
					if err == nil {
						if !strings.Contains(string(out), "finished after") {
							t.Fatalf("child did not run:\n%s", out)
						}
						break
					}
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
						t.Fatalf("step %d: want the child killed, got %v\n%s", step, err, out)
					}
					steps++
					at := strings.TrimSpace(string(out))
					_, name, _ := strings.Cut(at, ": ")
					seen[name] = true
					checkSound(t, at, root)
					if _, err := CleanStaging(t.Context(), Options{Root: root}); err != nil {
						t.Fatalf("%s: CleanStaging: %v", at, err)
					}
					if left := stagingEntries(t, root); len(left) > 0 {
						t.Errorf("%s: staging after CleanStaging: got %q, want nothing", at, left)
					}
					if err := crashScenario(t.Context(), "commit", root, src, 0, 4); err != nil {
						t.Fatalf("%s: re-run: %v", at, err)
					}
					if got := storageState(t, root); !maps.Equal(got, want) {
						t.Errorf("%s: after a re-run the storage differs from a clean run's:\ngot  %v\nwant %v", at, got, want)
					}
					if left := stagingEntries(t, root); len(left) > 0 {
						t.Errorf("%s: staging after the re-run: got %q, want nothing", at, left)
					}
				}
				must := []string{"staging directory made", "staged file created", "staged", "synced staging", "moved directory"}
				switch {
				case base == "fresh" && scenario == "rollback":
					must = append(must, "moved directory back", "removed staged file")
				case base == "existing" && scenario == "commit":
					must = append(must, "placed file", "dropped staged file")
				case base == "existing" && scenario == "rollback":
					must = append(must, "placed file", "rolled back file", "moved directory back")
				}
				if os.Geteuid() == 0 {
					must = append(must, "staged file chowned")
				}
				for _, name := range must {
					if !seen[name] {
						t.Errorf("never killed at %q; killed at %v", name, slices.Sorted(maps.Keys(seen)))
					}
				}
				t.Logf("killed at each of %d steps: %v", steps, slices.Sorted(maps.Keys(seen)))
			})
		}
	}
}

// checkSound fails unless everything below root/docker is a directory
// with mode 0755 or a complete file with mode 0644 (a blob hashing to its
// digest, a link holding exactly its target), all owned by crashOwner.
func checkSound(t *testing.T, at, root string) {
	t.Helper()
	o := crashOwner()
	v2 := filepath.Join(root, v2Rel)
	err := filepath.WalkDir(filepath.Join(root, "docker"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != o.UID || int(st.Gid) != o.GID {
			t.Errorf("%s: %s owned by %d:%d, want %d:%d", at, path, st.Uid, st.Gid, o.UID, o.GID)
		}
		if d.IsDir() {
			if fi.Mode() != os.ModeDir|dirMode {
				t.Errorf("%s: directory %s has mode %v, want %v", at, path, fi.Mode(), os.ModeDir|dirMode)
			}
			return nil
		}
		if fi.Mode() != fileMode {
			t.Errorf("%s: %s has mode %v, want %v", at, path, fi.Mode(), fileMode)
		}
		rel, _ := filepath.Rel(v2, path)
		spec, err := regpath.Parse(filepath.ToSlash(rel))
		if err != nil {
			t.Errorf("%s: unexpected file %s: %v", at, path, err)
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if spec.Kind == regpath.BlobData {
			if digest.FromBytes(b) != spec.Digest {
				t.Errorf("%s: %s: partial or wrong blob (%d bytes)", at, path, len(b))
			}
			return nil
		}
		target, err := digest.Parse(string(b))
		if err != nil || (spec.Digest != "" && target != spec.Digest) {
			t.Errorf("%s: %s: partial or wrong link %q", at, path, b)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: %v", at, err)
	}
}

// storageState describes every entry below root/docker: type, mode, owner
// and, for files, content hash.
func storageState(t *testing.T, root string) map[string]string {
	t.Helper()
	state := map[string]string{}
	base := filepath.Join(root, "docker")
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		v := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			v += " " + digest.FromBytes(b).Encoded()[:12]
		}
		rel, _ := filepath.Rel(base, path)
		state[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// stagingEntries lists the staging directory.
func stagingEntries(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, ".harbor-import", "staging"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
