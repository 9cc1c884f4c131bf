// Package harborschema creates Harbor's PostgreSQL schema in an empty
// database, seeded like a fresh Harbor install, so that tests of
// harbor-import can run against a real PostgreSQL without a Harbor.
//
// Each supported schema version (the schema_migrations version of a Harbor
// release; see harbor-facts.md §3.1) is one embedded SQL script,
// schema_<version>.sql. The scripts were written for harbor-import from the
// final shape of Harbor's tables, not copied from Harbor's migrations, and
// hold only the tables harbor-import touches plus the targets of their
// foreign keys:
//
//	schema_migrations, data_migrations, properties, harbor_user, role,
//	project, project_member, project_metadata, cve_allowlist, quota,
//	quota_usage, repository, artifact, tag, blob, artifact_blob,
//	project_blob, artifact_reference, artifact_accessory, artifact_trash,
//	harbor_label, label_reference, audit_log, audit_log_ext
//
// Column order, types, defaults, constraint, index, sequence and trigger
// names match a database migrated by Harbor itself, so a test database
// answers the same catalog probes (information_schema, pg_constraint) as a
// real one.
package harborschema
