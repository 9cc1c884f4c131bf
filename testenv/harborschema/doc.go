// Package harborschema creates Harbor's PostgreSQL schema in an empty
// database, seeded like a fresh Harbor install, so that tests of
// harbor-import can run against a real PostgreSQL without a Harbor.
//
// It knows every schema version of Harbor 2.x (the schema_migrations version
// of a release; see harbor-facts.md §3.1 and ReleaseOf): 30 (2.0.0) to 180
// (2.15.x), and 181 and 190 from Harbor's main branch. All versions come from
// one embedded template, schema.sql, the newest shape of each table with
// version guards on what appeared, changed or went away later; its header
// lists every change with the migration that made it. Script renders one
// version, Apply runs it. The template was written for harbor-import from the
// final shape of Harbor's tables at each version, not copied from Harbor's
// migrations, and holds only the tables harbor-import touches plus the
// targets of their foreign keys:
//
//	schema_migrations, data_migrations, properties, harbor_user, role,
//	project, project_member, project_metadata, cve_allowlist (cve_whitelist
//	before 40), quota, quota_usage, repository, artifact, tag, blob,
//	artifact_blob, project_blob, artifact_reference, artifact_accessory,
//	artifact_trash, harbor_label, label_reference, audit_log, audit_log_ext
//
// Column order and numbering, types, defaults, constraint, index, sequence
// and trigger names match a database migrated by Harbor itself, so a test
// database answers the same catalog probes (information_schema, pg_constraint)
// as a real one. This was checked for every version against a database built
// by running the migrations of the newest release with that version, by
// comparing pg_dump output, catalog queries and seed rows.
package harborschema
