package rawimage

import "errors"

// ErrUnknownDigest is returned when an Image or Index is asked for a digest it
// does not hold.
var ErrUnknownDigest = errors.New("digest not in this image or index")
