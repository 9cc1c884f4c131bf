package harbordb

import "fmt"

// step is one constant SQL statement of an import. It reads only the
// staging tables and Harbor's tables: no parameters, no literals taken from
// the source, so the same text serves Load and WriteScript.
type step struct {
	name string
	// counts picks the Counts field this statement's row count goes to (nil: none).
	counts func(*Counts) *int64
	sql    string
}

// foreignLayer is excluded from quota (harbor-facts §2.5, §2.9).
const foreignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

// guardSQL refuses to run on any schema but the one the plan was made for.
func guardSQL(version int64) string {
	return fmt.Sprintf(`DO $harbor_import$
DECLARE v bigint; d boolean; n int;
BEGIN
  SELECT count(*), max(version), bool_or(dirty) INTO n, v, d FROM schema_migrations;
  IF n <> 1 OR v <> %d OR d THEN
    RAISE EXCEPTION 'harbor-import: this plan was made for Harbor schema version %d (clean); the database has version %%, dirty %% (rows: %%)', v, d, n;
  END IF;
END $harbor_import$`, version, version)
}

// steps returns the statements of an import into schema s, in order.
func steps(s Schema) []step {
	// A push runs with timezone=UTC so timestamps hold UTC wall-clock (harbor-facts §2, general conventions).
	out := []step{
		{name: "session time zone", sql: `SET LOCAL TIME ZONE 'UTC'`},
		{name: "one harbor-import at a time", sql: `SELECT pg_advisory_xact_lock(7236828915402383463)`},
		{name: "schema guard", sql: guardSQL(s.Version)},

		// Projects as the project API creates them (harbor-facts §2.1): owner is the
		// lowest-id sysadmin (as for robot/solution users), registry_id 0 (not a proxy cache).
		{name: "projects", counts: func(c *Counts) *int64 { return &c.ProjectsCreated }, sql: `WITH ins AS (
  INSERT INTO project (owner_id, name, creation_time, update_time, deleted` + opt(s, "project.registry_id", ", registry_id") + `)
  SELECT (SELECT user_id FROM harbor_user WHERE sysadmin_flag AND NOT deleted ORDER BY user_id LIMIT 1),
         s.name, now(), now(), false` + opt(s, "project.registry_id", ", 0") + `
  FROM harbor_import_project s
  WHERE NOT EXISTS (SELECT 1 FROM project p WHERE p.name = s.name)
  ORDER BY s.name
  RETURNING project_id, name, owner_id)
INSERT INTO harbor_import_new_project (project_id, name, owner_id, public)
SELECT ins.project_id, ins.name, ins.owner_id, s.public FROM ins JOIN harbor_import_project s ON s.name = ins.name`},
		// Owner membership, role projectAdmin (harbor-facts §2.3).
		{name: "project members", sql: `INSERT INTO project_member (project_id, entity_id, entity_type, role, creation_time, update_time)
SELECT project_id, owner_id, 'u', 1, now(), now() FROM harbor_import_new_project ORDER BY project_id`},
		// Exactly one metadata row, public true/false (harbor-facts §2.2).
		{name: "project metadata", sql: `INSERT INTO project_metadata (project_id, name, value, creation_time, update_time)
SELECT project_id, 'public', CASE WHEN public THEN 'true' ELSE 'false' END, now(), now()
FROM harbor_import_new_project ORDER BY project_id`},
		// Empty CVE allowlist (harbor-facts §2.4).
		{name: "project CVE allowlists", sql: `INSERT INTO ` + s.allowlistTable() + ` (project_id, items, creation_time, update_time)
SELECT project_id, '[]', now(), now() FROM harbor_import_new_project ORDER BY project_id`},
		// Quota pair with the same id, limit from properties, only when quota per
		// project is enabled (harbor-facts §2.5, §3.2 point 4).
		{name: "project quotas", sql: `WITH q AS (
  INSERT INTO quota (reference, reference_id, hard, creation_time, update_time)
  SELECT 'project', project_id::text,
         jsonb_build_object('storage', COALESCE(NULLIF((SELECT v FROM properties WHERE k = 'storage_per_project'), ''), '-1')::bigint),
         now(), now()
  FROM harbor_import_new_project
  WHERE COALESCE((SELECT v FROM properties WHERE k = 'quota_per_project_enable'), 'true') <> 'false'
  ORDER BY project_id
  RETURNING id, reference_id)
INSERT INTO quota_usage (id, reference, reference_id, used, creation_time, update_time)
SELECT id, 'project', reference_id, '{"storage": 0}', now(), now() FROM q`},
		// beego sets the sequence after an explicit id (harbor-facts §2, general conventions).
		{name: "quota_usage sequence", sql: `SELECT setval(pg_get_serial_sequence('quota_usage', 'id'), max(id)) FROM quota_usage HAVING max(id) IS NOT NULL`},
		{name: "project audit", sql: auditSQL(s, `SELECT n.project_id, 'create', 'project', n.name, (SELECT username FROM harbor_import_settings), 'create project: ' || n.name, n.project_id
  FROM harbor_import_new_project n`)},

		// A project that is a proxy cache refuses pushes (harbor-facts §2.1); refuse it here too.
		{name: "proxy-cache projects", sql: `DO $harbor_import$
DECLARE c text;
BEGIN
  SELECT string_agg(p.name, ', ' ORDER BY p.name) INTO c
  FROM harbor_import_project s JOIN project p ON p.name = s.name WHERE ` + opt(s, "project.registry_id", "p.registry_id > 0", "false") + `;
  IF c IS NOT NULL THEN
    RAISE EXCEPTION 'harbor-import: proxy-cache projects cannot receive images: %', c;
  END IF;
END $harbor_import$`},

		// Repository rows as the first manifest push creates them (harbor-facts §2.6).
		{name: "repositories", counts: func(c *Counts) *int64 { return &c.Repositories }, sql: `INSERT INTO repository (name, project_id, description, pull_count, star_count, creation_time, update_time)
SELECT s.name, p.project_id, '', 0, 0, now(), now()
FROM harbor_import_repository s JOIN project p ON p.name = s.project
ORDER BY s.name
ON CONFLICT (name) DO NOTHING`},
		{name: "repositories in the right project", sql: `DO $harbor_import$
DECLARE c text;
BEGIN
  SELECT string_agg(r.name, ', ' ORDER BY r.name) INTO c
  FROM harbor_import_repository s JOIN repository r ON r.name = s.name JOIN project p ON p.name = s.project
  WHERE r.project_id <> p.project_id;
  IF c IS NOT NULL THEN
    RAISE EXCEPTION 'harbor-import: repositories exist under another project id: %', c;
  END IF;
END $harbor_import$`},

		// One global blob row per digest; status none, version 0 (harbor-facts §2.9).
		{name: "blobs", counts: func(c *Counts) *int64 { return &c.Blobs }, sql: blobSQL(s)},
		// Every blob each project uses, manifests included (harbor-facts §2.11).
		// Rows already there are skipped as in blobSQL.
		{name: "project blobs", counts: func(c *Counts) *int64 { return &c.ProjectBlobs }, sql: `INSERT INTO project_blob (project_id, blob_id, creation_time)
SELECT DISTINCT ON (p.project_id, b.id) p.project_id, b.id, now()
FROM harbor_import_project_blob s JOIN project p ON p.name = s.project JOIN blob b ON b.digest = s.digest
WHERE NOT EXISTS (SELECT 1 FROM project_blob x WHERE x.project_id = p.project_id AND x.blob_id = b.id)
ORDER BY p.project_id, b.id`},

		// Artifacts in plan order: index children before their index (harbor-facts §2.7).
		{name: "artifacts", counts: func(c *Counts) *int64 { return &c.Artifacts }, sql: artifactSQL(s)},
		// Index → child rows, children resolved in the same repository (harbor-facts §2.12).
		{name: "artifact references", counts: func(c *Counts) *int64 { return &c.References }, sql: `INSERT INTO artifact_reference (parent_id, child_id, child_digest, platform, urls, annotations)
SELECT pa.id, ca.id, s.child_digest, s.platform, s.urls, s.annotations
FROM harbor_import_reference s
JOIN repository r ON r.name = s.repository
JOIN artifact pa ON pa.repository_id = r.repository_id AND pa.digest = s.parent_digest
JOIN artifact ca ON ca.repository_id = r.repository_id AND ca.digest = s.child_digest
ORDER BY s.ord
ON CONFLICT (parent_id, child_id) DO NOTHING`},

		// A tag on another digest is a conflict unless tags are overwritten (harbor-facts §2.8).
		{name: "tag conflicts", sql: `DO $harbor_import$
DECLARE c text; n int;
BEGIN
  IF (SELECT overwrite_tags FROM harbor_import_settings) THEN RETURN; END IF;
  SELECT count(*), string_agg(x, ', ') INTO n, c FROM (
    SELECT s.repository || ':' || s.name || ' is ' || a.digest || ', import has ' || s.digest AS x
    FROM harbor_import_tag s
    JOIN repository r ON r.name = s.repository
    JOIN tag t ON t.repository_id = r.repository_id AND t.name = s.name
    JOIN artifact a ON a.id = t.artifact_id
    WHERE a.digest <> s.digest ORDER BY s.ord LIMIT 20) conflicts;
  IF n > 0 THEN
    RAISE EXCEPTION 'harbor-import: tags already exist on other digests (use --overwrite-tags to move them): %', c;
  END IF;
END $harbor_import$`},
		// Moving a tag updates artifact_id and push_time, as a push does (harbor-facts §2.8).
		{name: "moved tags", counts: func(c *Counts) *int64 { return &c.TagsMoved }, sql: `WITH moved AS (
  UPDATE tag t SET artifact_id = a.id, push_time = now()
  FROM harbor_import_tag s
  JOIN repository r ON r.name = s.repository
  JOIN artifact a ON a.repository_id = r.repository_id AND a.digest = s.digest
  WHERE (SELECT overwrite_tags FROM harbor_import_settings)
    AND t.repository_id = r.repository_id AND t.name = s.name AND t.artifact_id <> a.id
  RETURNING t.id, t.artifact_id, t.name, t.repository_id)
INSERT INTO harbor_import_new_tag (ord, tag_id) SELECT 0, id FROM moved`},
		{name: "tags", counts: func(c *Counts) *int64 { return &c.Tags }, sql: `WITH ins AS (
  INSERT INTO tag (repository_id, artifact_id, name, push_time, pull_time)
  SELECT r.repository_id, a.id, s.name, now(), NULL
  FROM harbor_import_tag s
  JOIN repository r ON r.name = s.repository
  JOIN artifact a ON a.repository_id = r.repository_id AND a.digest = s.digest
  ORDER BY s.ord
  ON CONFLICT (repository_id, name) DO NOTHING
  RETURNING id, name, repository_id)
INSERT INTO harbor_import_new_tag (ord, tag_id)
SELECT s.ord, ins.id FROM ins JOIN repository r ON r.repository_id = ins.repository_id
JOIN harbor_import_tag s ON s.repository = r.name AND s.name = ins.name`},

		// (manifest, each reference) plus (manifest, manifest) (harbor-facts §2.10);
		// rows already there are skipped as in blobSQL. In the unique
		// key's order, not the plan's: the rows' ids then follow the digests
		// (nothing reads their order; a push's have gaps anyway, §2), and the
		// key's index grows at its end instead of at random pages.
		{name: "artifact blobs", counts: func(c *Counts) *int64 { return &c.ArtifactBlobs }, sql: `INSERT INTO artifact_blob (digest_af, digest_blob, creation_time)
SELECT DISTINCT ON (s.digest_af, s.digest_blob) s.digest_af, s.digest_blob, now()
FROM harbor_import_artifact_blob s
WHERE NOT EXISTS (SELECT 1 FROM artifact_blob x WHERE x.digest_af = s.digest_af AND x.digest_blob = s.digest_blob)
ORDER BY s.digest_af, s.digest_blob`},
	}
	out = append(out, accessorySteps(s)...)
	out = append(out, []step{
		// The audit row a push writes: one per tag pushed ("repo:tag"), and "repo@digest"
		// for artifacts pushed by digest (index children) (harbor-facts §2.14).
		{name: "artifact audit", sql: auditSQL(s, `SELECT r.project_id, 'create', 'artifact', r.name || ':' || t.name, (SELECT username FROM harbor_import_settings),
       'push artifact: ' || r.name || '@' || a.digest, n.ord
  FROM harbor_import_new_tag n JOIN tag t ON t.id = n.tag_id JOIN repository r ON r.repository_id = t.repository_id
  JOIN artifact a ON a.id = t.artifact_id
  UNION ALL
  SELECT r.project_id, 'create', 'artifact', r.name || '`+digestSep(s)+`' || a.digest, (SELECT username FROM harbor_import_settings),
       'push artifact: ' || r.name || '@' || a.digest, -1
  FROM harbor_import_new_artifact n JOIN artifact a ON a.id = n.id JOIN repository r ON r.repository_id = a.repository_id
  WHERE NOT EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id)`)},

		// Quota usage recomputed the way Harbor refreshes it: the sum of the
		// project's unique blobs, foreign layers excluded, version bumped
		// (harbor-facts §2.5). One grouped join, not a sum per project: the
		// rows just written have no statistics, and PostgreSQL ran a
		// per-project subquery as a scan of every blob for each project
		// (82 projects x 172,115 blobs at 50,000 tags: 2.5 s instead of 0.27 s).
		{name: "quota usage", counts: func(c *Counts) *int64 { return &c.QuotasUpdated }, sql: `WITH u AS (
  SELECT p.project_id, COALESCE(sum(b.size), 0)::bigint AS used
  FROM harbor_import_project s JOIN project p ON p.name = s.name
  LEFT JOIN project_blob pb ON pb.project_id = p.project_id
  LEFT JOIN blob b ON b.id = pb.blob_id AND b.content_type <> '` + foreignLayer + `'
  GROUP BY p.project_id),
upd AS (
  UPDATE quota_usage q SET used = jsonb_set(q.used, '{storage}', to_jsonb(u.used)), update_time = now()` + opt(s, "quota_usage.version", ", version = q.version + 1") + `
  FROM u
  WHERE q.reference = 'project' AND q.reference_id = u.project_id::text
    AND (q.used->>'storage')::bigint IS DISTINCT FROM u.used
  RETURNING q.id, u.project_id, (q.used->>'storage')::bigint AS used)
INSERT INTO harbor_import_quota (project_id, quota_id, used) SELECT project_id, id, used FROM upd`},
		{name: "quota limits", sql: `DO $harbor_import$
DECLARE c text;
BEGIN
  IF (SELECT ignore_quota FROM harbor_import_settings) THEN RETURN; END IF;
  SELECT string_agg(p.name || ' (limit ' || (q.hard->>'storage') || ' bytes, usage would be ' || n.used || ')', ', ' ORDER BY p.name) INTO c
  FROM harbor_import_quota n JOIN quota q ON q.id = n.quota_id JOIN project p ON p.project_id = n.project_id
  WHERE (q.hard->>'storage')::bigint >= 0 AND n.used > (q.hard->>'storage')::bigint;
  IF c IS NOT NULL THEN
    RAISE EXCEPTION 'harbor-import: the import exceeds project storage quotas (a push would be refused; --ignore-quota to import anyway): %', c;
  END IF;
END $harbor_import$`},
	}...)
	return out
}

// accessorySteps write artifact_accessory as the push's after-response
// middlewares do, per schema shape (harbor-facts §2.13, §3.4):
//   - before 2.5 (schema < 80) there is no table: nothing;
//   - 2.5–2.7 (80–100): only the legacy cosign middleware exists; it needs
//     the subject artifact (an error otherwise: no row; the column has a
//     foreign key) and records the manifest's length as size
//     (v2.7.0 src/server/middleware/cosign/cosign.go:100-126);
//   - 2.8 on (110+): subject_artifact_id is the subject's artifact or 0,
//     size and digest the accessory artifact's, plus the subject's
//     repository and digest (subject.go:126-176, cosign.go:145-178); 2.16
//     adds source. Then, as subject.go:183-209 does for the pushed
//     manifest, accessories already naming an imported artifact as subject
//     get its id.
//
// Unique keys (artifact_id, subject_artifact_id) before 2.8 and
// (artifact_id, subject_artifact_digest) after: an existing row is kept,
// as Harbor ignores the conflict.
func accessorySteps(s Schema) []step {
	if !s.Tables["artifact_accessory"] {
		return nil
	}
	if s.Version < 110 {
		return []step{{name: "artifact accessories", counts: func(c *Counts) *int64 { return &c.Accessories }, sql: `INSERT INTO artifact_accessory (artifact_id, subject_artifact_id, type, size, digest, creation_time)
SELECT a.id, sa.id, s.type, s.manifest_size, a.digest, now()
FROM harbor_import_accessory s
JOIN repository r ON r.name = s.repository
JOIN artifact a ON a.repository_id = r.repository_id AND a.digest = s.digest
JOIN artifact sa ON sa.repository_name = s.repository AND sa.digest = s.subject_digest
ORDER BY s.ord
ON CONFLICT DO NOTHING`}}
	}
	return []step{
		{name: "artifact accessories", counts: func(c *Counts) *int64 { return &c.Accessories }, sql: `INSERT INTO artifact_accessory (artifact_id, subject_artifact_id, subject_artifact_repo, subject_artifact_digest,
                                type, size, digest, creation_time` + opt(s, "artifact_accessory.source", ", source") + `)
SELECT a.id, COALESCE(sa.id, 0), s.repository, s.subject_digest, s.type, a.size, a.digest, now()` + opt(s, "artifact_accessory.source", ", s.source") + `
FROM harbor_import_accessory s
JOIN repository r ON r.name = s.repository
JOIN artifact a ON a.repository_id = r.repository_id AND a.digest = s.digest
LEFT JOIN artifact sa ON sa.repository_name = s.repository AND sa.digest = s.subject_digest
ORDER BY s.ord
ON CONFLICT DO NOTHING`},
		{name: "accessory subjects", sql: `UPDATE artifact_accessory x SET subject_artifact_id = a.id
FROM harbor_import_artifact s
JOIN repository r ON r.name = s.repository
JOIN artifact a ON a.repository_id = r.repository_id AND a.digest = s.digest
WHERE s.fills_subjects AND x.subject_artifact_repo = s.repository AND x.subject_artifact_digest = s.digest
  AND x.subject_artifact_id IS DISTINCT FROM a.id`},
	}
}

// workTables are filled by the steps themselves.
var workTables = []staging{
	{table: "harbor_import_new_project", columns: []column{{"project_id", "integer"}, {"name", "text"}, {"owner_id", "integer"}, {"public", "boolean"}}},
	{table: "harbor_import_new_artifact", columns: []column{{"id", "bigint"}}},
	{table: "harbor_import_new_tag", columns: []column{{"ord", "integer"}, {"tag_id", "bigint"}}},
	{table: "harbor_import_quota", columns: []column{{"project_id", "integer"}, {"quota_id", "integer"}, {"used", "bigint"}}},
}

func blobSQL(s Schema) string {
	// update_time, status and version exist since 2.1 (harbor-facts §2.9, §3.4).
	cols, vals := "", ""
	if s.has("blob.update_time") {
		cols, vals = cols+", update_time", vals+", now()"
	}
	if s.has("blob.status") {
		cols, vals = cols+", status", vals+", 'none'"
	}
	if s.has("blob.version") {
		cols, vals = cols+", version", vals+", 0"
	}
	// Rows already there are skipped by NOT EXISTS and DISTINCT ON rather than
	// by ON CONFLICT DO NOTHING: the same rows land without a speculative
	// insertion each (this and the project_blob and artifact_blob steps: 3.0-3.4
	// s instead of 4.3 s at 50,000 tags; bench/HISTORY.md). A row another
	// session commits meanwhile (Harbor serving a push during the import)
	// makes the statement fail on the unique key, which rolls the import
	// back, instead of being skipped; a maintenance window has no such push.
	return `INSERT INTO blob (digest, content_type, size, creation_time` + cols + `)
SELECT DISTINCT ON (s.digest) s.digest, s.content_type, s.size, now()` + vals + `
FROM harbor_import_blob s
WHERE NOT EXISTS (SELECT 1 FROM blob b WHERE b.digest = s.digest)
ORDER BY s.digest`
}

// opt returns text when schema s has column, else otherwise (or "").
func opt(s Schema, column, text string, otherwise ...string) string {
	if s.has(column) {
		return text
	}
	if len(otherwise) > 0 {
		return otherwise[0]
	}
	return ""
}

// digestSep joins repository and digest in the audit row of a push by
// digest: "@" since Harbor 2.11 (schema 140), ":" before (v2.10.0 and
// v2.11.0 src/controller/event/topic.go, PushArtifactEvent.ResolveToAuditLog).
func digestSep(s Schema) string {
	if s.Version >= 140 {
		return "@"
	}
	return ":"
}

func artifactSQL(s Schema) string {
	return `WITH ins AS (
  INSERT INTO artifact (project_id, repository_name, digest, type, pull_time, push_time, repository_id,
                        media_type, manifest_media_type, size, extra_attrs, annotations` +
		opt(s, "artifact.icon", ", icon") + opt(s, "artifact.artifact_type", ", artifact_type") + `)
  SELECT r.project_id, r.name, s.digest, s.type, NULL, now(), r.repository_id,
         s.media_type, s.manifest_media_type, s.size, s.extra_attrs, s.annotations` +
		opt(s, "artifact.icon", ", s.icon") + opt(s, "artifact.artifact_type", ", s.artifact_type") + `
  FROM harbor_import_artifact s JOIN repository r ON r.name = s.repository
  ORDER BY s.ord
  ON CONFLICT (repository_id, digest) DO NOTHING
  RETURNING id)
INSERT INTO harbor_import_new_artifact (id) SELECT id FROM ins`
}

// auditSQL inserts audit rows from sel, which yields (project_id, operation,
// resource_type, resource, username, op_desc, ord). Harbor 2.13+ writes
// audit_log_ext unless skip_audit_log_database is set; earlier ones audit_log
// (harbor-facts §2.14).
func auditSQL(s Schema, sel string) string {
	if !s.Tables["audit_log_ext"] {
		// Before 2.13: audit_log, without op_desc and op_result.
		return `INSERT INTO audit_log (project_id, operation, resource_type, resource, username, op_time)
SELECT project_id, operation, resource_type, resource, username, now() FROM (
  ` + sel + `
) AS a (project_id, operation, resource_type, resource, username, op_desc, ord)
ORDER BY ord, resource`
	}
	return `INSERT INTO audit_log_ext (project_id, operation, resource_type, resource, username, op_desc, op_result, op_time)
SELECT project_id, operation, resource_type, resource, username, op_desc, true, now() FROM (
  ` + sel + `
) AS a (project_id, operation, resource_type, resource, username, op_desc, ord)
WHERE COALESCE((SELECT v FROM properties WHERE k = 'skip_audit_log_database'), 'false') <> 'true'
ORDER BY ord, resource`
}
