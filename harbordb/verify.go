package harbordb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// StoredArtifact is an artifact row with what Harbor's GC and registry rely on.
type StoredArtifact struct {
	ID                int64
	Project           string
	Repository        string
	Digest            string
	ManifestMediaType string
	Size              int64
	// Tagged, Child (of an index) and Accessory protect it from untagged GC (harbor-facts §6).
	Tagged, Child, Accessory bool
	Blobs                    []StoredBlob
}

// StoredBlob is one artifact_blob row of an artifact, with its blob row.
type StoredBlob struct {
	Digest string
	// HasRow is false when artifact_blob names a digest with no blob row.
	HasRow      bool
	Size        int64
	ContentType string
	// InProject: a project_blob row ties it to the artifact's project.
	InProject bool
}

// StoredArtifacts streams the artifacts of the given projects (all when
// empty) or repositories (when given) to fn, in repository, digest order
// (bytewise).
func StoredArtifacts(ctx context.Context, db DBTX, projects, repositories []string, fn func(StoredArtifact) error) error {
	// In a read-only transaction of its own when db can start one, for a
	// setting that lasts only as long as it: rows written moments ago have
	// no statistics yet, and the planner's guesses for this query are far
	// above jit_above_cost, so PostgreSQL compiled it for ~60 ms on every
	// import to run it for ~100 ms. work_mem stays as the server has it:
	// 64 MB let PostgreSQL plan a parallel hash join at 50,000 tags, whose
	// shared memory did not fit a container's default 64 MB /dev/shm
	// ("could not resize shared memory segment").
	if b, ok := db.(interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		return pgx.BeginTxFunc(ctx, b, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			// jit exists since PostgreSQL 11; Harbor 2.0-2.2 shipped 9.6,
			// which would refuse SET jit.
			if _, err := tx.Exec(ctx, `SELECT set_config('jit', 'off', true) WHERE current_setting('jit', true) IS NOT NULL`); err != nil {
				return fmt.Errorf("reading artifacts: %w", err)
			}
			return storedArtifacts(ctx, tx, projects, repositories, fn)
		})
	}
	return storedArtifacts(ctx, db, projects, repositories, fn)
}

func storedArtifacts(ctx context.Context, db DBTX, projects, repositories []string, fn func(StoredArtifact) error) error {
	// artifact_accessory exists since 2.5 (harbor-facts §3.4).
	var accessories bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('artifact_accessory') IS NOT NULL`).Scan(&accessories); err != nil {
		return fmt.Errorf("reading artifacts: %w", err)
	}
	accessory := "false"
	if accessories {
		accessory = "EXISTS (SELECT 1 FROM artifact_accessory x WHERE x.artifact_id = a.id)"
	}
	rows, err := db.Query(ctx, `SELECT a.id, p.name, a.repository_name, a.digest, a.manifest_media_type, COALESCE(a.size, 0),
		EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id),
		EXISTS (SELECT 1 FROM artifact_reference r WHERE r.child_id = a.id),
		`+accessory+`,
		ab.digest_blob, b.id IS NOT NULL, COALESCE(b.size, 0), COALESCE(b.content_type, ''),
		EXISTS (SELECT 1 FROM project_blob pb WHERE pb.project_id = a.project_id AND pb.blob_id = b.id)
		FROM artifact a
		JOIN project p ON p.project_id = a.project_id
		LEFT JOIN artifact_blob ab ON ab.digest_af = a.digest
		LEFT JOIN blob b ON b.digest = ab.digest_blob
		WHERE (COALESCE(cardinality($1::text[]), 0) = 0 OR p.name = ANY($1))
		  AND (COALESCE(cardinality($2::text[]), 0) = 0 OR a.repository_name = ANY($2))
		ORDER BY a.repository_name COLLATE "C", a.digest COLLATE "C", ab.digest_blob COLLATE "C"`, projects, repositories)
	if err != nil {
		return fmt.Errorf("reading artifacts: %w", err)
	}
	defer rows.Close()
	var cur *StoredArtifact
	for rows.Next() {
		var a StoredArtifact
		var bd *string
		var b StoredBlob
		if err := rows.Scan(&a.ID, &a.Project, &a.Repository, &a.Digest, &a.ManifestMediaType, &a.Size,
			&a.Tagged, &a.Child, &a.Accessory, &bd, &b.HasRow, &b.Size, &b.ContentType, &b.InProject); err != nil {
			return fmt.Errorf("reading artifacts: %w", err)
		}
		if cur != nil && cur.ID != a.ID {
			if err := fn(*cur); err != nil {
				return err
			}
			cur = nil
		}
		if cur == nil {
			cur = &a
		}
		if bd != nil {
			b.Digest = *bd
			cur.Blobs = append(cur.Blobs, b)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading artifacts: %w", err)
	}
	if cur != nil {
		return fn(*cur)
	}
	return nil
}
