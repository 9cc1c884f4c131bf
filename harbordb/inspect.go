package harbordb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// State is what already exists in Harbor of a Batch: read before writing
// anything, to plan, report and refuse early.
type State struct {
	// Projects by name; only existing ones are present.
	Projects map[string]ExistingProject
	// Repositories maps existing repository names to their project id.
	Repositories map[string]int64
	// Artifacts holds "repo@digest" of existing artifacts.
	Artifacts map[string]bool
	// Tags maps "repo:tag" of existing tags to their artifact digest.
	Tags map[string]string
	// Blobs holds the digests that have a blob row.
	Blobs map[string]bool
	// ProjectBlobs holds "project\x00digest" of the batch's project_blob
	// pairs that exist: blobs already counted in that project's quota.
	ProjectBlobs map[string]bool
	// QuotaPerProject is properties.quota_per_project_enable (absent ⇒ true,
	// harbor-facts §3.2); StoragePerProject the default limit (absent ⇒ -1).
	QuotaPerProject   bool
	StoragePerProject int64
	// DataMigrations is data_migrations.version, -1 when the table does not
	// exist (2.0) or is empty. Core 2.1–2.8 re-abstracts every artifact at
	// start while it is below 30 (harbor-facts §3.3).
	DataMigrations int64
}

// ExistingProject is a project row found by name.
type ExistingProject struct {
	ID         int64
	RegistryID int64
	// Hard and Used are its quota storage values, -1 and 0 when it has no quota.
	Hard, Used int64
}

// Inspect reads what exists of b. Run it in a read-only transaction.
func Inspect(ctx context.Context, db DBTX, rows Rows) (*State, error) {
	st := &State{
		Projects: map[string]ExistingProject{}, Repositories: map[string]int64{},
		Artifacts: map[string]bool{}, Tags: map[string]string{}, Blobs: map[string]bool{}, ProjectBlobs: map[string]bool{},
		QuotaPerProject: true, StoragePerProject: -1, DataMigrations: -1,
	}
	var projects, repos []string
	b := rows.small()
	for _, p := range b.Projects {
		projects = append(projects, p.Name)
	}
	for _, r := range b.Repositories {
		repos = append(repos, r.Name)
	}
	q := func(what, sql string, args []any, scan func(pgx.Rows) error) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("reading %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		return nil
	}
	err := q("properties", `SELECT k, v FROM properties WHERE k IN ('quota_per_project_enable', 'storage_per_project')`, nil,
		func(r pgx.Rows) error {
			var k, v string
			if err := r.Scan(&k, &v); err != nil {
				return err
			}
			switch k {
			case "quota_per_project_enable":
				st.QuotaPerProject = v != "false"
			case "storage_per_project":
				if _, err := fmt.Sscan(v, &st.StoragePerProject); err != nil {
					return fmt.Errorf("storage_per_project %q: %w", v, err)
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	// registry_id exists since 2.1: read it through to_jsonb so one query serves every schema.
	err = q("projects", `SELECT p.project_id, p.name, COALESCE((to_jsonb(p)->>'registry_id')::bigint, 0),
		COALESCE((q.hard->>'storage')::bigint, -1), COALESCE((u.used->>'storage')::bigint, 0)
		FROM project p
		LEFT JOIN quota q ON q.reference = 'project' AND q.reference_id = p.project_id::text
		LEFT JOIN quota_usage u ON u.id = q.id
		WHERE p.name = ANY($1)`, []any{projects},
		func(r pgx.Rows) error {
			var p ExistingProject
			var name string
			if err := r.Scan(&p.ID, &name, &p.RegistryID, &p.Hard, &p.Used); err != nil {
				return err
			}
			st.Projects[name] = p
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = q("repositories", `SELECT name, project_id FROM repository WHERE name = ANY($1)`, []any{repos},
		func(r pgx.Rows) error {
			var name string
			var id int64
			if err := r.Scan(&name, &id); err != nil {
				return err
			}
			st.Repositories[name] = id
			return nil
		})
	if err != nil {
		return nil, err
	}
	// A fresh Harbor (the usual target) has no artifact and no blob: then
	// nothing of the batch can exist, and the digests need not be sent
	// (at 5,000 tags they were most of a dry run's time in the database).
	var anyArtifact, anyBlob bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM artifact), EXISTS (SELECT 1 FROM blob)`).Scan(&anyArtifact, &anyBlob); err != nil {
		return nil, fmt.Errorf("reading artifacts and blobs: %w", err)
	}
	// Digests go in chunks, read from rows as they are needed: a list of
	// 170,000 digests would take ~15 MB, and as one array parameter it
	// would stay in the connection's write buffer for the whole run.
	if anyArtifact {
		if err := inspectArtifacts(q, rows, repos, st); err != nil {
			return nil, err
		}
	}
	if anyBlob {
		if err := inspectBlobs(q, rows, projects, st); err != nil {
			return nil, err
		}
	}
	var hasDM bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('data_migrations') IS NOT NULL`).Scan(&hasDM); err != nil {
		return nil, fmt.Errorf("reading data_migrations: %w", err)
	}
	if hasDM {
		if err := db.QueryRow(ctx, `SELECT COALESCE(max(version), -1) FROM data_migrations`).Scan(&st.DataMigrations); err != nil {
			return nil, fmt.Errorf("reading data_migrations: %w", err)
		}
	}
	return st, nil
}

// chunkLen is how many values one array parameter of Inspect holds.
const chunkLen = 8192

// inChunks calls fn with the values of column c of table t in rows,
// chunkLen at a time (once, with none, when the table is empty). fn must
// not keep the slice.
func inChunks(rows Rows, t staging, c int, fn func([]string) error) error {
	n := rows.count(t)
	chunk := make([]string, 0, min(chunkLen, n))
	err := each(rows, t, func(_ int, r []any) error {
		if chunk = append(chunk, r[c].(string)); len(chunk) < chunkLen {
			return nil
		}
		err := fn(chunk)
		chunk = chunk[:0]
		return err
	})
	if err != nil {
		return err
	}
	if len(chunk) > 0 || n == 0 {
		return fn(chunk)
	}
	return nil
}

// query runs one statement of Inspect and scans each row it returns.
type query func(what, sql string, args []any, scan func(pgx.Rows) error) error

// inspectArtifacts reads which of the batch's artifacts and tags exist.
func inspectArtifacts(q query, rows Rows, repos []string, st *State) error {
	err := inChunks(rows, tableArtifact, 2, func(digests []string) error {
		return q("artifacts", `SELECT repository_name, digest FROM artifact WHERE repository_name = ANY($1) AND digest = ANY($2)`,
			[]any{repos, digests}, func(r pgx.Rows) error {
				var repo, d string
				if err := r.Scan(&repo, &d); err != nil {
					return err
				}
				st.Artifacts[repo+"@"+d] = true
				return nil
			})
	})
	if err != nil {
		return err
	}
	err = q("tags", `SELECT r.name, t.name, a.digest FROM tag t JOIN repository r ON r.repository_id = t.repository_id
		JOIN artifact a ON a.id = t.artifact_id WHERE r.name = ANY($1)`, []any{repos},
		func(r pgx.Rows) error {
			var repo, tag, d string
			if err := r.Scan(&repo, &tag, &d); err != nil {
				return err
			}
			st.Tags[repo+":"+tag] = d
			return nil
		})
	return err
}

// inspectBlobs reads which of the batch's blobs exist, and which are
// already counted in the batch's projects.
func inspectBlobs(q query, rows Rows, projects []string, st *State) error {
	return inChunks(rows, tableBlob, 0, func(blobs []string) error {
		err := q("blobs", `SELECT digest FROM blob WHERE digest = ANY($1)`, []any{blobs},
			func(r pgx.Rows) error {
				var d string
				if err := r.Scan(&d); err != nil {
					return err
				}
				st.Blobs[d] = true
				return nil
			})
		if err != nil {
			return err
		}
		return q("project blobs", `SELECT p.name, b.digest FROM project_blob pb JOIN project p ON p.project_id = pb.project_id
		JOIN blob b ON b.id = pb.blob_id WHERE p.name = ANY($1) AND b.digest = ANY($2)`, []any{projects, blobs},
			func(r pgx.Rows) error {
				var p, d string
				if err := r.Scan(&p, &d); err != nil {
					return err
				}
				st.ProjectBlobs[p+"\x00"+d] = true
				return nil
			})
	})
}
