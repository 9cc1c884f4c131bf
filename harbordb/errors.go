package harbordb

import "errors"

var (
	// ErrNotHarbor means the database has no Harbor schema (no schema_migrations table).
	ErrNotHarbor = errors.New("not a Harbor database")
	// ErrDirtySchema means a Harbor migration failed half-way; Harbor itself refuses to start.
	ErrDirtySchema = errors.New("Harbor database schema is dirty")
	// ErrUnsupportedSchema means the schema version is one harbor-import does not implement.
	ErrUnsupportedSchema = errors.New("unsupported Harbor schema version")
	// ErrConflict means rows already in Harbor contradict the import (a tag on another digest).
	ErrConflict = errors.New("conflict with existing Harbor data")
	// ErrQuotaExceeded means the import would push a project over its storage quota.
	ErrQuotaExceeded = errors.New("project storage quota exceeded")
	// ErrInvalidValue means a value cannot be stored in PostgreSQL text (a NUL byte).
	ErrInvalidValue = errors.New("value cannot be stored in PostgreSQL")
)
