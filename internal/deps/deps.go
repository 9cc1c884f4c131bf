//go:build tools

// Package deps pins modules the project uses before every package imports
// them, so that `go mod tidy` keeps them. It is never built.
package deps

import (
	_ "github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/reference"
	_ "github.com/google/go-containerregistry/pkg/crane"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/opencontainers/go-digest"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/spf13/cobra"
	_ "github.com/testcontainers/testcontainers-go"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/term"
)
