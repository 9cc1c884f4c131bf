package importer

import (
	"os"
	"strings"
	"syscall"
)

// failpoint lets crash tests stop a real harbor-import process at a chosen
// point of Run: HARBOR_IMPORT_FAILPOINT=<phase>:kill sends SIGKILL to the
// process itself (a kill -9 at exactly that point), <phase>:interrupt sends
// SIGINT and carries on (an operator's Ctrl-C). Phases, in order: scanned,
// staging (half of the blobs staged), placed (files in place, no row yet),
// loaded (rows written, transaction not committed), committed.
// Unset, it does nothing.
func failpoint(phase string) {
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
	}
}
