package importer

import (
	"os"
	"runtime"
	"testing"
)

func TestWidenProcs(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set: widenProcs leaves it")
	}
	base := runtime.GOMAXPROCS(0)
	a := widenProcs()
	if got := runtime.GOMAXPROCS(0); got != 2*base {
		t.Fatalf("widened: GOMAXPROCS %d, want %d", got, 2*base)
	}
	b := widenProcs() // a second run at the same time shares it
	if got := runtime.GOMAXPROCS(0); got != 2*base {
		t.Fatalf("widened twice: GOMAXPROCS %d, want %d", got, 2*base)
	}
	a()
	a() // a second call changes nothing
	if got := runtime.GOMAXPROCS(0); got != 2*base {
		t.Fatalf("one of two done: GOMAXPROCS %d, want %d", got, 2*base)
	}
	b()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("both done: GOMAXPROCS %d, want %d back", got, base)
	}
	t.Setenv("GOMAXPROCS", "3")
	c := widenProcs()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("with GOMAXPROCS set: %d, want %d untouched", got, base)
	}
	c()
}
