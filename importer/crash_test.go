package importer_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// harborImportBinary builds the harbor-import command once per test binary.
func harborImportBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "harbor-import-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "harbor-import")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/harbor-import/harbor-import").CombinedOutput()
		if err != nil {
			binary.err = errors.New(string(out))
		}
	})
	if binary.err != nil {
		t.Fatalf("building harbor-import: %v", binary.err)
	}
	return binary.path
}

// runBinary runs harbor-import as an operator would, with extra environment.
func runBinary(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(harborImportBinary(t), args...)
	c.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

// TestKilledImportsConverge kills a real harbor-import process (SIGKILL) at
// every point of an import, then runs it again: the result must be exactly
// what an uninterrupted import gives, rows (ids and timestamps aside) and
// files, with no temporary file left.
func TestKilledImportsConverge(t *testing.T) {
	fs := classic(t)
	for _, src := range []struct{ name, path string }{{"tarball", fs.tarball}, {"directory", fs.root}} {
		t.Run(src.name, func(t *testing.T) {
			cleanDSN, cleanData := harborDB(t), harborData(t)
			if out, err := runBinary(t, nil, "--src", src.path, "--harbor-data", cleanData, "--db", cleanDSN); err != nil {
				t.Fatalf("clean import: %v\n%s", err, out)
			}
			wantRows := naturalState(t, connect(t, cleanDSN))
			wantFiles := storageState(t, filepath.Join(cleanData, "registry", "docker"))

			for _, phase := range []string{"scanned", "planning", "staging", "placed", "loaded", "committed"} {
				t.Run(phase, func(t *testing.T) {
					dsn, data := harborDB(t), harborData(t)
					args := []string{"--src", src.path, "--harbor-data", data, "--db", dsn}
					out, err := runBinary(t, []string{"HARBOR_IMPORT_FAILPOINT=" + phase + ":kill"}, args...)
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
						t.Fatalf("want the process killed at %s, got %v\n%s", phase, err, out)
					}
					if out, err := runBinary(t, nil, args...); err != nil {
						t.Fatalf("re-run after kill at %s: %v\n%s", phase, err, out)
					}
					compareStates(t, "rows after kill at "+phase+" and re-run", wantRows, naturalState(t, connect(t, dsn)))
					if got := storageState(t, filepath.Join(data, "registry", "docker")); !reflect.DeepEqual(got, wantFiles) {
						t.Errorf("files after kill at %s and re-run differ (- clean, + got):\n%s", phase, diffLines(wantFiles, got))
					}
					if left, _ := os.ReadDir(filepath.Join(data, "registry", ".harbor-import", "staging")); len(left) > 0 {
						t.Errorf("%d temporary files left in staging", len(left))
					}
				})
			}
		})
	}
}

// TestKilledAtRandomTimesConverge kills imports after growing delays, so
// kills also land between the failpoints.
func TestKilledAtRandomTimesConverge(t *testing.T) {
	fs := classic(t)
	cleanDSN, cleanData := harborDB(t), harborData(t)
	if out, err := runBinary(t, nil, "--src", fs.tarball, "--harbor-data", cleanData, "--db", cleanDSN); err != nil {
		t.Fatalf("clean import: %v\n%s", err, out)
	}
	wantRows := naturalState(t, connect(t, cleanDSN))
	wantFiles := storageState(t, filepath.Join(cleanData, "registry", "docker"))
	for _, delay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond} {
		dsn, data := harborDB(t), harborData(t)
		args := []string{"--src", fs.tarball, "--harbor-data", data, "--db", dsn}
		c := exec.Command(harborImportBinary(t), args...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = c.Process.Kill()
		_ = c.Wait()
		if out, err := runBinary(t, nil, args...); err != nil {
			t.Fatalf("re-run after kill at %v: %v\n%s", delay, err, out)
		}
		compareStates(t, "rows after kill at "+delay.String(), wantRows, naturalState(t, connect(t, dsn)))
		if got := storageState(t, filepath.Join(data, "registry", "docker")); !reflect.DeepEqual(got, wantFiles) {
			t.Errorf("files after kill at %v differ:\n%s", delay, diffLines(wantFiles, got))
		}
	}
}

// TestInterruptRollsBack: Ctrl-C (SIGINT) while rows are written, or while
// files are placed, leaves Harbor as it was and says so.
func TestInterruptRollsBack(t *testing.T) {
	fs := classic(t)
	for _, phase := range []string{"planning", "staging", "placed", "loaded"} {
		t.Run(phase, func(t *testing.T) {
			dsn, data := harborDB(t), harborData(t)
			conn := connect(t, dsn)
			beforeRows, beforeFiles := dbState(t, conn), storageState(t, filepath.Join(data, "registry"))
			out, err := runBinary(t, []string{"HARBOR_IMPORT_FAILPOINT=" + phase + ":interrupt"},
				"--src", fs.tarball, "--harbor-data", data, "--db", dsn)
			if err == nil {
				t.Fatalf("interrupted import exited 0:\n%s", out)
			}
			if !strings.Contains(out, "interrupted") || !strings.Contains(out, "nothing changed") {
				t.Errorf("output does not say the import was interrupted and rolled back:\n%s", out)
			}
			if after := dbState(t, conn); !reflect.DeepEqual(beforeRows, after) {
				t.Errorf("rows changed:\n%s", diffStates(beforeRows, after))
			}
			// The data volume may keep the (empty) directories New creates and the lock file.
			after := storageState(t, filepath.Join(data, "registry"))
			var extra []string
			for _, line := range strings.Split(diffLines(beforeFiles, after), "\n") {
				// fsmove.New creates the v2 root and the staging directory; both stay empty.
				if line == "" || strings.Contains(line, ".harbor-import") || line == "+ docker drwxr-xr-x 10000:10000" ||
					line == "+ docker/registry drwxr-xr-x 10000:10000" || line == "+ docker/registry/v2 drwxr-xr-x 10000:10000" {
					continue
				}
				extra = append(extra, line)
			}
			if len(extra) > 0 {
				t.Errorf("files changed:\n%s", strings.Join(extra, "\n"))
			}
		})
	}
}
