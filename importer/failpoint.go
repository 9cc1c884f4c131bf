package importer

import (
	"context"
	"os"
	"strings"
	"syscall"
	"time"
)

// failpoint lets crash tests stop a real harbor-import process at a chosen
// point of Run: HARBOR_IMPORT_FAILPOINT=<phase>:kill sends SIGKILL to the
// process itself (a kill -9 at exactly that point), <phase>:interrupt sends
// SIGINT and waits until ctx sees it (an operator's Ctrl-C, without the race
// of signal delivery). Phases, in order: scanned,
// staging (half of the blobs staged), placed (files in place, no row yet),
// loaded (rows written, transaction not committed), committed.
// Unset, it does nothing.
func failpoint(ctx context.Context, phase string) {
	spec := os.Getenv("HARBOR_IMPORT_FAILPOINT")
	if spec == "" {
		return
	}
	at, action, _ := strings.Cut(spec, ":")
	if at != phase {
		return
	}
	switch action {
	case "kill":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case "interrupt":
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
}
