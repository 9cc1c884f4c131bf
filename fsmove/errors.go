package fsmove

import (
	"errors"

	"github.com/opencontainers/go-digest"
)

var (
	// ErrDigestMismatch means a blob's content does not hash to its digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch means a blob, a stream or an existing file has another size than expected.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrConflict means a destination exists with other content, or is not a regular file or directory.
	ErrConflict = errors.New("conflicting file in registry storage")
	// ErrNotSameFilesystem means the staging directory cannot be renamed into the v2 root.
	ErrNotSameFilesystem = errors.New("staging directory not on the registry storage's filesystem")
	// ErrNotRegular means a source is not a regular file (symlinks are never followed).
	ErrNotRegular = errors.New("not a regular file")
	// ErrNotStaged means a *Staged is not pending in this Placer (committed, discarded or foreign).
	ErrNotStaged = errors.New("not a pending staged file of this placer")
	// ErrClosed means the Placer has been closed.
	ErrClosed = errors.New("placer closed")
)

// PathError records a failure on one file. Op is a gerund ("staging",
// "verifying", "placing", ...), Path the file acted on (source, staged file
// or destination, absolute), Digest the blob digest or link target when
// known.
type PathError struct {
	Op     string
	Path   string
	Digest digest.Digest
	Err    error
}

func (e *PathError) Error() string {
	s := e.Op + " " + e.Path
	if e.Digest != "" {
		s += " (" + e.Digest.String() + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }
