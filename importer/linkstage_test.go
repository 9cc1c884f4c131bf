package importer_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/harbor-import/harbor-import/importer"
)

// TestTarballLinksStagedWhilePlanning: a tarball import stages each
// repository's link files while later repositories are still being planned,
// and a run stopped then (here: its context canceled halfway through the
// plan) leaves Harbor's rows and storage as they were, the links staged so
// far removed again.
func TestTarballLinksStagedWhilePlanning(t *testing.T) {
	fx := classic(t)
	dsn, data := harborDB(t), harborData(t)
	conn := connect(t, dsn)
	beforeRows := dbState(t, conn)
	staging := filepath.Join(data, "registry", ".harbor-import", "staging")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stagedWhilePlanning, planTotal int64
	opts := importer.Options{Source: fx.tarball, HarborData: data, DSN: dsn, Logger: testLogger(t)}
	opts.Progress = func(p importer.Progress) {
		if p.Phase != "plan" || p.Total < 2 || p.Done < p.Total/2 || stagedWhilePlanning != 0 || ctx.Err() != nil {
			return
		}
		planTotal = p.Total
		// Half the repositories are planned: their links are being staged
		// on other goroutines. Wait (a while) for one to show up.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if stagedWhilePlanning = countStagedLinks(staging); stagedWhilePlanning > 0 {
				break
			}
		}
		cancel()
	}
	_, err := importer.Run(ctx, opts)
	if planTotal == 0 {
		t.Fatalf("the fixture's plan never reached half of two or more repositories (err %v)", err)
	}
	if stagedWhilePlanning == 0 {
		t.Errorf("no link file was staged while the plan was halfway (%d repositories)", planTotal)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled import: got %v, want context.Canceled", err)
	}
	if after := dbState(t, conn); !reflect.DeepEqual(beforeRows, after) {
		t.Errorf("rows changed:\n%s", diffStates(beforeRows, after))
	}
	if n := countStagedLinks(staging); n > 0 {
		t.Errorf("%d staged link files left after the canceled import", n)
	}
	var placed []string
	_ = filepath.WalkDir(filepath.Join(data, "registry", "docker"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			placed = append(placed, p)
		}
		return nil
	})
	if len(placed) > 0 {
		t.Errorf("the canceled import left %d files in Harbor's storage:\n%s", len(placed), strings.Join(placed[:min(len(placed), 10)], "\n"))
	}
}

// countStagedLinks counts the link files under a staging directory.
func countStagedLinks(staging string) int64 {
	var n int64
	_ = filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() == "link" && strings.Contains(p, "/repositories/") {
			n++
		}
		return nil
	})
	return n
}
