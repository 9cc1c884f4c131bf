package harborschema

import "errors"

// ErrUnknownVersion means no script exists for the requested schema version.
var ErrUnknownVersion = errors.New("unknown Harbor schema version")
