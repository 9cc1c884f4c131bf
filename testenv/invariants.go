package testenv

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Querier is what HarborInvariants needs: a *pgx.Conn, a pgx.Tx or a pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// harborInvariants are the rows Harbor's garbage collector, its quota and
// its project pages rely on (harbor-facts §6, §2.5, §2.1–2.4), as queries
// returning the rows that break them.
var harborInvariants = map[string]string{
	"artifact without its (manifest, manifest) artifact_blob row": `SELECT a.repository_name || '@' || a.digest FROM artifact a
		WHERE NOT EXISTS (SELECT 1 FROM artifact_blob ab WHERE ab.digest_af = a.digest AND ab.digest_blob = a.digest)`,
	"artifact_blob without a blob row": `SELECT ab.digest_af || ' -> ' || ab.digest_blob FROM artifact_blob ab
		WHERE NOT EXISTS (SELECT 1 FROM blob b WHERE b.digest = ab.digest_blob)`,
	"artifact blob without project_blob in the artifact's project": `SELECT a.repository_name || ' ' || ab.digest_blob FROM artifact a
		JOIN artifact_blob ab ON ab.digest_af = a.digest JOIN blob b ON b.digest = ab.digest_blob
		WHERE NOT EXISTS (SELECT 1 FROM project_blob pb WHERE pb.project_id = a.project_id AND pb.blob_id = b.id)`,
	"untagged artifact that is neither an index child nor an accessory": `SELECT a.repository_name || '@' || a.digest FROM artifact a
		WHERE NOT EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id)
		AND NOT EXISTS (SELECT 1 FROM artifact_reference r WHERE r.child_id = a.id)
		AND NOT EXISTS (SELECT 1 FROM artifact_accessory x WHERE x.artifact_id = a.id)`,
	"artifact whose project differs from its repository's": `SELECT a.repository_name FROM artifact a JOIN repository r ON r.repository_id = a.repository_id
		WHERE a.project_id <> r.project_id OR a.repository_name <> r.name`,
	"manifest blob with a non-manifest content type": `SELECT b.digest || ' ' || b.content_type FROM artifact a JOIN blob b ON b.digest = a.digest
		WHERE b.content_type <> a.manifest_media_type`,
	"quota usage that is not the sum of the project's blobs": `SELECT p.name || ' used=' || (u.used->>'storage') || ' sum=' || COALESCE(s.sum, 0) FROM project p
		JOIN quota q ON q.reference = 'project' AND q.reference_id = p.project_id::text JOIN quota_usage u ON u.id = q.id
		LEFT JOIN (SELECT pb.project_id, sum(b.size) AS sum FROM project_blob pb JOIN blob b ON b.id = pb.blob_id
		  WHERE b.content_type <> 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' GROUP BY pb.project_id) s ON s.project_id = p.project_id
		WHERE (u.used->>'storage')::bigint <> COALESCE(s.sum, 0)`,
	"project without quota pair of the same id": `SELECT p.name FROM project p WHERE NOT p.deleted AND NOT EXISTS (SELECT 1 FROM quota q JOIN quota_usage u ON u.id = q.id
		WHERE q.reference = 'project' AND q.reference_id = p.project_id::text AND u.reference_id = q.reference_id)`,
	"project without owner membership, metadata or CVE allowlist": `SELECT p.name FROM project p WHERE NOT p.deleted AND (
		NOT EXISTS (SELECT 1 FROM project_member m WHERE m.project_id = p.project_id AND m.entity_id = p.owner_id AND m.entity_type = 'u' AND m.role = 1)
		OR NOT EXISTS (SELECT 1 FROM project_metadata md WHERE md.project_id = p.project_id AND md.name = 'public')
		OR NOT EXISTS (SELECT 1 FROM cve_allowlist c WHERE c.project_id = p.project_id))`,
	"artifact size not manifest + referenced sizes": `SELECT a.repository_name || '@' || a.digest || ' size=' || a.size FROM artifact a
		WHERE NOT EXISTS (SELECT 1 FROM artifact_reference r WHERE r.parent_id = a.id)
		AND a.size <> (SELECT sum(b.size) FROM artifact_blob ab JOIN blob b ON b.digest = ab.digest_blob WHERE ab.digest_af = a.digest)`,
}

// HarborInvariants returns, as "what: row", every row of a Harbor database
// that breaks what Harbor's garbage collector, quota and project pages rely
// on: each artifact's (manifest, manifest) artifact_blob row, blob rows for
// every artifact_blob, project_blob rows in the artifact's project, tagged
// or index-child or accessory artifacts, quota usage equal to the sum of the
// project's blobs, complete projects, artifact sizes. It expects Harbor 2.5+
// tables (artifact_accessory, cve_allowlist); for older schemas create
// temporary tables of those names first.
func HarborInvariants(ctx context.Context, db Querier) ([]string, error) {
	names := make([]string, 0, len(harborInvariants))
	for n := range harborInvariants {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		rows, err := db.Query(ctx, harborInvariants[n])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		for _, b := range bad {
			out = append(out, n+": "+b)
		}
	}
	return out, nil
}
