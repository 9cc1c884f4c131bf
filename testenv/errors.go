package testenv

import "errors"

// ErrDebootstrapMissing is returned when the PostgreSQL image must be built
// and debootstrap is not installed.
var ErrDebootstrapMissing = errors.New("debootstrap not found: run scripts/setup-test-deps.sh")

// ErrNoMirror is returned when no Debian bookworm mirror is configured in apt's sources.
var ErrNoMirror = errors.New("no Debian bookworm mirror found in apt sources")

// ErrVerify is returned by PullAndVerify when pulled content does not match
// its descriptor.
var ErrVerify = errors.New("pulled content does not match")
