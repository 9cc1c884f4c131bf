// Package fsmove places blob data and link files into a registry's
// filesystem storage (the v2 tree of harbor-facts §4.1) so that a database
// row is never written for a file that is not complete and durable.
//
// # Staging, syncfs, rename, syncfs
//
// Files are first staged in a directory outside the v2 tree but on the same
// filesystem and mount (Options.StagingDir): a blob is hardlinked from its
// source file, copied from it, or streamed from a reader while its sha256
// and size are checked; a link file gets exactly "sha256:<hex>". Nothing is
// visible to the registry yet. Commit then
//
//  1. chowns every staged file to the registry's uid/gid (10000:10000 unless
//     Options.Owner says otherwise) and sets mode 0644;
//  2. calls syncfs(2) once for the filesystem, so every staged byte and inode
//     is on disk (one syncfs instead of an fsync per file);
//  3. renames each file to its path from regpath.For, never replacing
//     anything (renameat2 RENAME_NOREPLACE), creating missing directories
//     with mode 0755 and the same owner. rename(2) is atomic: the registry
//     sees either no file or the whole file. A destination that already
//     holds the same blob size or an identical link is kept; anything else
//     there is an error (ErrSizeMismatch, ErrConflict), never overwritten;
//  4. calls syncfs again, so the new names and directories are durable.
//
// Only after Commit returns does the importer write its rows: after a crash
// or power loss at any point, no row points at a missing or partial file.
// The opposite case, files without rows, is harmless (the registry's garbage
// collection removes unreferenced blobs), and Rollback removes them at once
// when the database transaction fails: it deletes exactly the files and
// directories Commit created, checking that each is still the inode Commit
// placed and that each directory is empty. Between Commit and Rollback a
// concurrent push to Harbor could start using a blob Commit created; hold
// the import lock and keep that window short.
//
// # Hardlinks
//
// With Strategy Auto (the default) or Link, StageFile hardlinks the source
// file into staging, so the blob in the v2 tree shares its inode with the
// source. Commit's chown and chmod therefore also change the owner and mode
// of the source file: it is the same file. That is deliberate, since Harbor's
// registry (uid 10000) must be able to read it, but it means the offline
// storage is modified, and writing to a source file in place afterwards
// would change the registry's blob. Treat the source as read-only after an
// import, or use Strategy Copy. Auto falls back to copying when the link
// fails with EXDEV (another filesystem), EPERM or EMLINK.
//
// # Leftovers
//
// Staging temps are named "<hex>.<random>.tmp". Close removes the temps of
// its Placer that were neither committed nor discarded; CleanStaging removes
// those that killed runs left behind (call it while holding the import lock).
//
// The package never prints: it logs to Options.Logger and reports progress
// through Commit's callback.
package fsmove
