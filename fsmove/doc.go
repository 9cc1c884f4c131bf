// Package fsmove places blob data and link files into a registry's
// filesystem storage (the v2 tree of harbor-facts §4.1) so that a database
// row is never written for a file that is not complete and durable.
//
// # Staging trees, syncfs, merge, syncfs
//
// Files are first staged outside the v2 tree but on the same filesystem and
// mount (Options.StagingDir), in a private staging tree,
// <staging>/tree-<random>, that mirrors the v2 layout: the blob that goes to
// blobs/sha256/ab/<hex>/data is staged as <tree>/blobs/sha256/ab/<hex>/data.
// A blob is hardlinked from its source file, copied from it, streamed
// from a reader while its sha256 and size are checked, or written from
// memory once its sha256 is checked (StageBytes); a link file gets
// exactly "sha256:<hex>". Nothing is visible to the registry yet, so
// staging needs no care about who sees what: directories are made with
// plain mkdir, files with O_EXCL, and both get the registry's uid/gid
// (10000:10000 unless Options.Owner says otherwise) and mode (0755, 0644)
// right there, files through their open descriptor, with calls relative to
// the tree's descriptor. Staging one destination twice puts the second
// file in a second tree; Commit then finds the destination taken by the
// first and counts the second as Existing, exactly as if the storage had
// held it before. A link file the v2 tree already holds (found without
// following any symlink) is not staged at all: Commit reads it once more
// and counts it as Existing, or stages it then if it has gone or changed.
// Commit then
//
//  1. calls syncfs(2) once for the filesystem, so every staged byte, inode
//     and directory is on disk (one syncfs instead of an fsync per file).
//     It goes through a descriptor New opened, so a write-back error since
//     then is reported even when it happened before the call, and Flush
//     can do this wait earlier, beside other work;
//  2. merges each staging tree into the v2 tree top-down, never replacing
//     anything (renameat2 RENAME_NOREPLACE): a directory the v2 tree lacks
//     is moved in whole with one rename (into a fresh storage that is one
//     rename for blobs/ and one for repositories/), a directory it has is
//     descended into, and a file is renamed into an existing directory.
//     rename(2) is atomic: the registry sees either nothing or a complete
//     file or directory tree, already owned and moded. A destination that
//     already holds the same blob size or an identical link is kept;
//     anything else there is an error (ErrSizeMismatch, ErrConflict), never
//     overwritten, and neither a symlink nor a file is ever descended
//     through;
//  3. calls syncfs again, so the new names are durable.
//
// Commit places everything staged; callers need not keep the *Staged
// handles (only to Discard one). The Placer keeps no per-file record but
// each staged inode and how it was made: the staging trees on disk are the
// record, read back with getdents when Commit merges them, so memory does
// not grow with the number of files staged beyond a few bytes each. A
// caller that stages blobs before it knows which it needs (a tarball's
// scan) asks the trees too: StagedBlob and OpenStagedBlob find a staged
// blob by digest, and DiscardBlobsExcept drops the ones it does not keep.
//
// Only after Commit returns does the importer write its rows: after a crash
// or power loss at any point, no row points at a missing or partial file,
// and no directory appears in the v2 tree with another owner or mode. The
// opposite case, files without rows, is harmless (the registry's garbage
// collection removes unreferenced blobs), and Rollback removes them at once
// when the database transaction fails: it removes exactly the files and the
// directories Commit created. A directory Commit moved in whole goes back
// into staging with one rename when it still holds only files this Placer
// staged (by inode), and is removed there; otherwise only the files that
// are still inodes this Placer staged are removed, and the directories that
// are then empty. Between Commit and Rollback a concurrent push to Harbor
// could start using a blob Commit created; hold the import lock and keep
// that window short.
//
// # Hardlinks
//
// With Strategy Auto (the default) or Link, StageFile hardlinks the source
// file into staging (linking the opened inode itself where the process may,
// else by name with a check that it is the opened inode), so the blob in
// the v2 tree shares its inode with the source. Staging's chown and chmod
// therefore also change the owner and mode of the source file, as soon as
// it is staged: it is the same file. That is deliberate, since Harbor's
// registry (uid 10000) must be able to read it, but it means the offline
// storage is modified, and writing to a source file in place afterwards
// would change the registry's blob. Treat the source as read-only after an
// import, or use Strategy Copy. Auto falls back to copying when the link
// fails with EXDEV (another filesystem), EPERM or EMLINK.
//
// # Leftovers
//
// Close removes the staging trees of its Placer, with the files that were
// neither committed nor discarded. CleanStaging removes what killed runs
// left behind: staging trees, the directory temps of New ("dir-<n>.tmp",
// which makes the v2 root's own directories in staging and renames them
// into place) and the flat "<hex>.<random>.tmp" temps of earlier versions
// (call it while holding the import lock).
//
// The package never prints: it logs to Options.Logger and reports progress
// through Commit's callback.
package fsmove
