package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// countedTables are summarised at the end: every table an import writes.
var countedTables = []string{
	"project", "project_member", "project_metadata", "cve_allowlist", "quota", "quota_usage",
	"repository", "artifact", "artifact_reference", "tag", "blob", "project_blob", "artifact_blob",
	"audit_log_ext",
}

// dumpedTables are compared row by row around the second import.
var dumpedTables = append(append([]string{}, countedTables...), "artifact_accessory", "schema_migrations", "properties")

// rowCounts counts the rows of countedTables.
func rowCounts(ctx context.Context, conn *pgx.Conn) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range countedTables {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("counting %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}

// dumpTables returns every row of dumpedTables as text, in a stable order.
func dumpTables(ctx context.Context, conn *pgx.Conn) (map[string][]string, error) {
	out := map[string][]string{}
	for _, t := range dumpedTables {
		rows, err := conn.Query(ctx, "SELECT r::text FROM "+pgx.Identifier{t}.Sanitize()+" r ORDER BY 1")
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", t, err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", t, err)
		}
		out[t] = vals
	}
	return out, nil
}

// tagRow is one tag as Harbor's core resolves it: repository name → tag →
// artifact digest.
type tagRow struct {
	Repository string
	Tag        string
	Digest     string
	MediaType  string
	Children   int64
}

func tagRows(ctx context.Context, conn *pgx.Conn) ([]tagRow, error) {
	rows, err := conn.Query(ctx, `
SELECT r.name AS repository, t.name AS tag, a.digest, a.manifest_media_type AS media_type,
       (SELECT count(*) FROM artifact_reference ar WHERE ar.parent_id = a.id) AS children
FROM tag t
JOIN repository r ON r.repository_id = t.repository_id
JOIN artifact a ON a.id = t.artifact_id AND a.repository_id = r.repository_id
ORDER BY r.name, t.name`)
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	tags, err := pgx.CollectRows(rows, pgx.RowToStructByName[tagRow])
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	return tags, nil
}

// quotaRow is a project's storage quota.
type quotaRow struct {
	Project string
	Used    int64
	Hard    int64
}

func quotaRows(ctx context.Context, conn *pgx.Conn) ([]quotaRow, error) {
	rows, err := conn.Query(ctx, `
SELECT p.name AS project, (u.used->>'storage')::bigint AS used, (q.hard->>'storage')::bigint AS hard
FROM project p
JOIN quota q ON q.reference = 'project' AND q.reference_id = p.project_id::text
JOIN quota_usage u ON u.id = q.id
ORDER BY p.name`)
	if err != nil {
		return nil, fmt.Errorf("reading quotas: %w", err)
	}
	qs, err := pgx.CollectRows(rows, pgx.RowToStructByName[quotaRow])
	if err != nil {
		return nil, fmt.Errorf("reading quotas: %w", err)
	}
	return qs, nil
}

func artifactCount(ctx context.Context, conn *pgx.Conn, repo, dgst string) (int64, error) {
	var n int64
	err := conn.QueryRow(ctx, `SELECT count(*) FROM artifact WHERE repository_name = $1 AND digest = $2`, repo, dgst).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("looking up artifact %s@%s: %w", repo, dgst, err)
	}
	return n, nil
}

// workDir is harbor-import's own directory under <data>/registry (its lock
// file and staging area); the registry never reads it.
const workDir = ".harbor-import"

// treeState lists every path under root with type, size, mode, owner, inode
// and mtime, sorted, leaving out harbor-import's own workDir: two equal states
// mean nothing was written to the storage.
func treeState(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == filepath.Join(root, workDir) {
			return fs.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d mtime=%d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			line += fmt.Sprintf(" %d:%d ino=%d", st.Uid, st.Gid, st.Ino)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	sort.Strings(out)
	return out, nil
}

// leftovers lists the regular files under root/workDir/staging: temporary
// files a finished import must not leave behind.
func leftovers(root string) ([]string, error) {
	var out []string
	staging := filepath.Join(root, workDir, "staging")
	err := filepath.WalkDir(staging, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == staging {
			return fs.SkipDir
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", staging, err)
	}
	return out, nil
}
