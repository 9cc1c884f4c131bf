package importer

import "errors"

var (
	// ErrDigestMismatch: a blob's bytes do not hash to its digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrMissingBlob: a manifest references a blob the source does not hold.
	ErrMissingBlob = errors.New("missing blob")
	// ErrInvalidNames: names Harbor would refuse (and --skip-invalid was not given).
	ErrInvalidNames = errors.New("invalid names")
	// ErrUnsupported: content harbor-import cannot import faithfully yet.
	ErrUnsupported = errors.New("unsupported content")
	// ErrUnsafeArchive: a tar entry that could escape the tree, or a broken archive.
	ErrUnsafeArchive = errors.New("unsafe or broken archive")
	// ErrConflict: Harbor already has a tag on another digest (and --overwrite-tags was not given).
	ErrConflict = errors.New("conflict with existing Harbor data")
	// ErrInterrupted: the context was cancelled (SIGINT, SIGTERM); the message says whether anything was committed.
	ErrInterrupted = errors.New("interrupted")
	// ErrNotHarborData: --harbor-data does not look like Harbor's data volume.
	ErrNotHarborData = errors.New("not a Harbor data volume")
	// ErrCorruptSource: a link file or manifest no registry writes (empty, garbage, not JSON).
	ErrCorruptSource = errors.New("corrupt registry storage")
)
