// Package harbordb is everything harbor-import knows about Harbor's
// PostgreSQL database: which schema version it holds (Detect), what already
// exists (Inspect), and how to write the rows a real push would have written
// (Load), or render the same work as a psql script for review (WriteScript).
//
// The rows to write are described by a Batch in natural keys only (project
// name, repository name, digest): never ids. Load and WriteScript share one
// list of constant SQL statements that resolve those keys inside the
// database; the only difference is how the Batch reaches the temporary
// staging tables (COPY over the wire for Load, quoted literals for the
// script). That is what makes a reviewed script and a live import produce the
// same rows.
//
// What each statement writes, and why, is cited from harbor-facts.md (the
// project's contract with Harbor), by section.
package harbordb
