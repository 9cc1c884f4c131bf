// Package rawimage serves images made of exact bytes to go-containerregistry,
// so that what a test or benchmark pushes is byte for byte what it built:
// nothing is re-serialised on the way to the registry.
//
// A [Blob] is a layer or config; an [Image] is a manifest and config given as
// bytes plus the blobs the manifest lists, a partial.CompressedImageCore that
// [Image.Image] turns into a v1.Image for remote.Write; an [Index] is an index
// or manifest list given as bytes plus its child images, a v1.ImageIndex for
// remote.WriteIndex. [Image.MountFrom] makes a push mount a shared layer from
// another repository, as docker push does with a base image's layers.
//
// The package builds no JSON: callers write their manifests and configs
// themselves, using each value's [Blob.Descriptor], [Image.Descriptor] or
// [Index.Descriptor], and hand the bytes here. testenv's fixtures and
// bench/corpus's corpus are built this way.
package rawimage
