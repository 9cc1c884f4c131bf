package main

import (
	"strings"
	"testing"
)

func TestScaledAlongside(t *testing.T) {
	lookup := func(ms ...*Measure) func(string) *Measure {
		return func(n string) *Measure {
			for _, m := range ms {
				if m.Step == n {
					return m
				}
			}
			return nil
		}
	}
	big := &Measure{Step: stDirV, Wall: 90, User: 40, Sys: 20}
	small := &Measure{Step: stDirV, Wall: 6, User: 5, Sys: 1}
	now := lookup(big, &Measure{Step: stCpAl, Wall: 80}, &Measure{Step: stSha, Wall: 46})
	before := lookup(small, &Measure{Step: stCpAl, Wall: 8}, &Measure{Step: stSha, Err: "failed"})

	got := scaledAlongside(big, small, now, before)
	for _, want := range []string{"CPU 10.0x (60.0s vs 6.0s)", "cp -al storage (same fs) 10.0x (80.0s vs 8.0s)"} {
		if !strings.Contains(got, want) {
			t.Errorf("scaledAlongside = %q, want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "sha256sum") {
		t.Errorf("scaledAlongside = %q: names a floor the smaller run did not measure", got)
	}
	if got := scaledAlongside(&Measure{Step: stTar, Wall: 1}, &Measure{Step: stTar, Wall: 1}, now, before); got != "" {
		t.Errorf("nothing to compare: got %q, want \"\"", got)
	}
}
