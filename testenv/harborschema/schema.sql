-- Harbor 2.x database, every schema version from 30 (2.0.0) to 190 (2.16.0),
-- reduced to the tables harbor-import reads or writes and the tables their
-- foreign keys point at. Written for harbor-import's tests from the final
-- shape of each table at each version (column order, types, defaults,
-- constraint, index and sequence names) as a fresh install of that release
-- has it after all its migrations ran; it is not a replay of Harbor's
-- migrations.
--
-- Version guards (see template.go). Script(v) keeps a line or block only when
-- v satisfies its guard:
--
--   <code>  -- @since N: why        the line, for v >= N
--   <code>  -- @before N: why       the line, for v <  N
--   -- @since N @before M: why      the lines up to "-- @end", for N <= v < M
--   ...
--   -- @end
--
-- {{version}} becomes v. Each guard names the migration that made the
-- change: "mig 0040" is Harbor's make/migrations/postgresql/0040_2.1.0_schema.up.sql,
-- first run by the release of schema version 40 (Harbor 2.1.0). Every other
-- line is the same at every version. Changes by version:
--
--   40   mig 0040: cve_whitelist renamed cve_allowlist; artifact.icon;
--        blob.update_time, status, version (+ idx_status, idx_version);
--        project.registry_id; data_migrations created;
--        schema_migrations.data_version dropped; role 'master' renamed
--        'maintainer'
--   50   mig 0050: library's cve_allowlist row
--   53   mig 0053: idx_artifact_push_time, idx_tag_artifact_id,
--        idx_tag_push_time, idx_artifact_reference_child_id
--   60   mig 0060: idx_audit_log_op_time
--   70   mig 0070: quota.version, quota_usage.version
--   80   mig 0080: artifact_accessory created
--   81   mig 0081: idx_artifact_repository_name
--   90   mig 0090: idx_artifact_blob_digest_blob,
--        idx_artifact_digest_project_id, idx_audit_log_project_id_optime
--   110  mig 0110: artifact_accessory.subject_artifact_digest and
--        subject_artifact_repo, foreign key on subject_artifact_id dropped,
--        unique_artifact_accessory now (artifact_id, subject_artifact_digest)
--   130  mig 0130: idx_artifact_accessory_subject_artifact_id
--   140  mig 0140: artifact.artifact_type (NOT NULL)
--   160  mig 0160: audit_log_ext created
--   190  mig 0190: artifact_accessory.source
--
-- and in the seed rows core writes on its first start:
--
--   120  core 2.9 no longer sets data_migrations.version to 30 (stays 0)
--   171  core 2.14.1 writes properties skip_audit_log_database
--
-- Seed rows are those of a fresh install that Harbor core has started once:
-- what the migrations insert, plus what core itself writes on its first start
-- into these tables (schema_migrations.data_version in 2.0,
-- data_migrations.version in 2.1-2.8, properties in 2.14.1+), except the
-- admin password (see the harbor_user seed).
--
-- The script holds no BEGIN/COMMIT: sent as one simple-protocol query (pgx
-- Exec without arguments) it runs as one implicit transaction, and it can
-- also run inside a caller's transaction.

-- Keeps update_time current; attached to the tables Harbor gives an
-- "<table>_update_time_at_modtime" trigger.
CREATE FUNCTION update_update_time_at_column() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.update_time := now();
    RETURN NEW;
END
$fn$;

-- golang-migrate's bookkeeping: exactly one row.
CREATE TABLE schema_migrations (
    version      bigint  NOT NULL,
    dirty        boolean NOT NULL,
    data_version integer,  -- @before 40: 2.0's data version, mig 0030 added it, mig 0040 dropped it
    PRIMARY KEY (version)
);

-- @since 40: mig 0040 created it
-- Core bookkeeping of 2.1-2.8 (re-abstraction of artifacts); unused since 2.9
-- but never dropped.
CREATE TABLE data_migrations (
    id            serial PRIMARY KEY,
    version       integer,
    creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp DEFAULT CURRENT_TIMESTAMP
);
-- @end

-- User-scope configuration, one row per changed setting; v is the value as text.
CREATE TABLE properties (
    id serial PRIMARY KEY,
    k  varchar(64) NOT NULL UNIQUE,
    v  text        NOT NULL
);

CREATE TABLE harbor_user (
    user_id          serial PRIMARY KEY,
    username         varchar(255) UNIQUE,
    email            varchar(255) UNIQUE,
    password         varchar(40)  NOT NULL,
    realname         varchar(255) NOT NULL,
    comment          varchar(30),
    deleted          boolean      NOT NULL DEFAULT false,
    reset_uuid       varchar(40)  DEFAULT NULL,
    salt             varchar(40)  DEFAULT NULL,
    sysadmin_flag    boolean      NOT NULL DEFAULT false,
    creation_time    timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time      timestamp    DEFAULT CURRENT_TIMESTAMP,
    password_version varchar(16)  DEFAULT 'sha256'
);

CREATE TABLE role (
    role_id   serial PRIMARY KEY,
    role_mask integer NOT NULL DEFAULT 0,
    role_code varchar(20),
    name      varchar(20)
);

CREATE TABLE project (
    project_id    serial PRIMARY KEY,
    owner_id      integer      NOT NULL REFERENCES harbor_user (user_id),
    name          varchar(255) NOT NULL,
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp    DEFAULT CURRENT_TIMESTAMP,
    deleted       boolean      NOT NULL DEFAULT false,
    registry_id   integer,  -- @since 40: mig 0040 added it (proxy-cache projects)
    UNIQUE (name)
);

-- No foreign keys: memberships of users and groups alike.
CREATE TABLE project_member (
    id            serial PRIMARY KEY,
    project_id    integer   NOT NULL,
    entity_id     integer   NOT NULL,
    entity_type   char(1)   NOT NULL,
    role          integer   NOT NULL,
    creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_project_entity_type UNIQUE (project_id, entity_id, entity_type)
);

CREATE TABLE project_metadata (
    id            serial PRIMARY KEY,
    project_id    integer      NOT NULL REFERENCES project (project_id),
    name          varchar(255) NOT NULL,
    value         varchar(255),
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp    DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_project_id_and_name UNIQUE (project_id, name)
);

-- Renamed cve_allowlist in 2.1; its sequence and constraints kept the
-- cve_whitelist names.
CREATE TABLE cve_whitelist (
    id            serial PRIMARY KEY,
    project_id    integer   UNIQUE,
    creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp DEFAULT CURRENT_TIMESTAMP,
    expires_at    bigint,
    items         text      NOT NULL
);
ALTER TABLE cve_whitelist RENAME TO cve_allowlist;  -- @since 40: mig 0040 renamed it

-- quota and quota_usage rows are paired by equal id; no foreign keys.
CREATE TABLE quota (
    id            serial PRIMARY KEY,
    reference     varchar(255) NOT NULL,
    reference_id  varchar(255) NOT NULL,
    hard          jsonb        NOT NULL,
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp    DEFAULT CURRENT_TIMESTAMP,
    version       bigint       DEFAULT 0,  -- @since 70: mig 0070 added it (optimistic locking)
    UNIQUE (reference, reference_id)
);

CREATE TABLE quota_usage (
    id            serial PRIMARY KEY,
    reference     varchar(255) NOT NULL,
    reference_id  varchar(255) NOT NULL,
    used          jsonb        NOT NULL,
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp    DEFAULT CURRENT_TIMESTAMP,
    version       bigint       DEFAULT 0,  -- @since 70: mig 0070 added it (optimistic locking)
    UNIQUE (reference, reference_id)
);

CREATE TABLE repository (
    repository_id serial PRIMARY KEY,
    name          varchar(255) NOT NULL UNIQUE,
    project_id    integer      NOT NULL,
    description   text,
    pull_count    integer      NOT NULL DEFAULT 0,
    star_count    integer      NOT NULL DEFAULT 0,
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp    DEFAULT CURRENT_TIMESTAMP
);

-- Column order follows the table's history: the 2.0 columns, then icon,
-- then artifact_type. mig 0030 turned 1.9's artifact table into this one and
-- dropped its tag and creation_time columns, which leaves holes in the column
-- numbers (information_schema ordinal_position 4 and 7); the two placeholder
-- columns reproduce them.
CREATE TABLE artifact (
    id                  serial PRIMARY KEY,
    project_id          integer      NOT NULL,
    repository_name     varchar(255) NOT NULL,
    dropped_tag         integer,
    digest              varchar(255) NOT NULL,
    type                varchar(255) NOT NULL,
    dropped_creation    integer,
    pull_time           timestamp,
    push_time           timestamp,
    repository_id       integer      NOT NULL,
    media_type          varchar(255) NOT NULL,
    manifest_media_type varchar(255) NOT NULL,
    size                bigint,
    extra_attrs         text,
    annotations         jsonb,
    icon                varchar(255),           -- @since 40: mig 0040 added it
    artifact_type       varchar(255) NOT NULL,  -- @since 140: mig 0140 added it, filled from media_type
    CONSTRAINT unique_artifact UNIQUE (repository_id, digest)
);
ALTER TABLE artifact DROP COLUMN dropped_tag, DROP COLUMN dropped_creation;
CREATE INDEX idx_artifact_push_time ON artifact (push_time);                   -- @since 53: mig 0053
CREATE INDEX idx_artifact_repository_name ON artifact (repository_name);       -- @since 81: mig 0081
CREATE INDEX idx_artifact_digest_project_id ON artifact (digest, project_id);  -- @since 90: mig 0090

CREATE TABLE tag (
    id            serial PRIMARY KEY,
    repository_id integer      NOT NULL,
    artifact_id   integer      NOT NULL REFERENCES artifact (id),
    name          varchar(255) NOT NULL,
    push_time     timestamp    DEFAULT CURRENT_TIMESTAMP,
    pull_time     timestamp,
    CONSTRAINT unique_tag UNIQUE (repository_id, name)
);
CREATE INDEX idx_tag_artifact_id ON tag (artifact_id);  -- @since 53: mig 0053
CREATE INDEX idx_tag_push_time ON tag (push_time);      -- @since 53: mig 0053

-- One row per digest across all projects.
CREATE TABLE blob (
    id            serial PRIMARY KEY,
    digest        varchar(255)  NOT NULL,
    content_type  varchar(1024) NOT NULL,
    size          bigint        NOT NULL,
    creation_time timestamp     DEFAULT CURRENT_TIMESTAMP,
    -- @since 40: mig 0040 added them for garbage collection
    update_time   timestamp     DEFAULT CURRENT_TIMESTAMP,
    status        varchar(255)  DEFAULT 'none',
    version       bigint        DEFAULT 0,
    -- @end
    UNIQUE (digest)
);
CREATE INDEX idx_status ON blob (status);    -- @since 40: mig 0040
CREATE INDEX idx_version ON blob (version);  -- @since 40: mig 0040

-- Keyed by manifest digest (digest_af), not by artifact id.
CREATE TABLE artifact_blob (
    id            serial PRIMARY KEY,
    digest_af     varchar(255) NOT NULL,
    digest_blob   varchar(255) NOT NULL,
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_artifact_blob UNIQUE (digest_af, digest_blob)
);
CREATE INDEX idx_artifact_blob_digest_blob ON artifact_blob (digest_blob);  -- @since 90: mig 0090

CREATE TABLE project_blob (
    id            serial PRIMARY KEY,
    project_id    integer   NOT NULL,
    blob_id       integer   NOT NULL,
    creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_project_blob UNIQUE (project_id, blob_id)
);

-- Index (parent) to child manifest.
CREATE TABLE artifact_reference (
    id           serial PRIMARY KEY,
    parent_id    integer       NOT NULL REFERENCES artifact (id),
    child_id     integer       NOT NULL REFERENCES artifact (id),
    child_digest varchar(255)  NOT NULL,
    platform     varchar(255),
    urls         varchar(1024),
    annotations  jsonb,
    CONSTRAINT unique_reference UNIQUE (parent_id, child_id)
);
CREATE INDEX idx_artifact_reference_child_id ON artifact_reference (child_id);  -- @since 53: mig 0053

-- @since 80: mig 0080 created it
-- Signatures, SBOMs and other referrers. Since 2.8 subject_artifact_id has
-- no foreign key (0 while the subject is not pushed yet).
CREATE TABLE artifact_accessory (
    id                      serial PRIMARY KEY,
    artifact_id             bigint REFERENCES artifact (id),
    subject_artifact_id     bigint REFERENCES artifact (id),  -- @before 110: mig 0110 dropped the foreign key
    subject_artifact_id     bigint,                           -- @since 110
    type                    varchar(256),
    size                    bigint,
    digest                  varchar(1024),
    creation_time           timestamp DEFAULT CURRENT_TIMESTAMP,
    subject_artifact_digest varchar(1024),                    -- @since 110: mig 0110 added it
    subject_artifact_repo   varchar(1024),                    -- @since 110: mig 0110 added it
    source                  varchar(50) DEFAULT 'local',      -- @since 190: mig 0190 added it
    CONSTRAINT unique_artifact_accessory UNIQUE (artifact_id, subject_artifact_id)      -- @before 110
    CONSTRAINT unique_artifact_accessory UNIQUE (artifact_id, subject_artifact_digest)  -- @since 110: mig 0110 replaced it
);
CREATE INDEX idx_artifact_accessory_subject_artifact_id ON artifact_accessory (subject_artifact_id);  -- @since 130: mig 0130
-- @end

CREATE TABLE artifact_trash (
    id                  serial PRIMARY KEY,
    media_type          varchar(255) NOT NULL,
    manifest_media_type varchar(255) NOT NULL,
    repository_name     varchar(255) NOT NULL,
    digest              varchar(255) NOT NULL,
    creation_time       timestamp    DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_artifact_trash UNIQUE (repository_name, digest)
);

CREATE TABLE harbor_label (
    id            serial PRIMARY KEY,
    name          varchar(128) NOT NULL,
    description   text,
    color         varchar(16),
    level         char(1)      NOT NULL,
    scope         char(1)      NOT NULL,
    project_id    integer,
    creation_time timestamp    DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp    DEFAULT CURRENT_TIMESTAMP,
    deleted       boolean      NOT NULL DEFAULT false,
    CONSTRAINT unique_label UNIQUE (name, scope, project_id)
);

CREATE TABLE label_reference (
    id            serial PRIMARY KEY,
    label_id      integer   NOT NULL REFERENCES harbor_label (id),
    artifact_id   integer   NOT NULL REFERENCES artifact (id),
    creation_time timestamp DEFAULT CURRENT_TIMESTAMP,
    update_time   timestamp DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT unique_label_reference UNIQUE (label_id, artifact_id)
);

-- Audit rows of 2.0-2.12 (kept, no longer written, since 2.13).
CREATE TABLE audit_log (
    id            serial PRIMARY KEY,
    project_id    integer       NOT NULL,
    operation     varchar(20)   NOT NULL,
    resource_type varchar(255)  NOT NULL,
    resource      varchar(1024) NOT NULL,
    username      varchar(255)  NOT NULL,
    op_time       timestamp     DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_audit_log_op_time ON audit_log (op_time);                            -- @since 60: mig 0060
CREATE INDEX idx_audit_log_project_id_optime ON audit_log (project_id, op_time);      -- @since 90: mig 0090

-- @since 160: mig 0160 created it
-- Audit rows of 2.13 and later; every column but id is nullable.
CREATE TABLE audit_log_ext (
    id            bigserial PRIMARY KEY,
    project_id    bigint,
    operation     varchar(50),
    resource_type varchar(255),
    resource      varchar(1024),
    username      varchar(255),
    op_desc       varchar(1024),
    op_result     boolean       DEFAULT true,
    payload       text,
    source_ip     varchar(50),
    op_time       timestamp     DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_audit_log_ext_op_time ON audit_log_ext (op_time);
CREATE INDEX idx_audit_log_ext_project_id_optime ON audit_log_ext (project_id, op_time);
CREATE INDEX idx_audit_log_ext_project_id_resource_type ON audit_log_ext (project_id, resource_type);
CREATE INDEX idx_audit_log_ext_project_id_operation ON audit_log_ext (project_id, operation);
-- @end

CREATE TRIGGER harbor_user_update_time_at_modtime BEFORE UPDATE ON harbor_user
    FOR EACH ROW EXECUTE FUNCTION update_update_time_at_column();
CREATE TRIGGER project_update_time_at_modtime BEFORE UPDATE ON project
    FOR EACH ROW EXECUTE FUNCTION update_update_time_at_column();
CREATE TRIGGER project_member_update_time_at_modtime BEFORE UPDATE ON project_member
    FOR EACH ROW EXECUTE FUNCTION update_update_time_at_column();
CREATE TRIGGER project_metadata_update_time_at_modtime BEFORE UPDATE ON project_metadata
    FOR EACH ROW EXECUTE FUNCTION update_update_time_at_column();
CREATE TRIGGER repository_update_time_at_modtime BEFORE UPDATE ON repository
    FOR EACH ROW EXECUTE FUNCTION update_update_time_at_column();
CREATE TRIGGER harbor_label_update_time_at_modtime BEFORE UPDATE ON harbor_label
    FOR EACH ROW EXECUTE FUNCTION update_update_time_at_column();

-- Seed rows of a fresh install. Ids are explicit; sequences are then set
-- where Harbor's rows took their ids from them.

-- Core 2.0 sets data_version to 30 on its first start, after (re)abstracting
-- the artifacts it finds.
INSERT INTO schema_migrations (version, dirty) VALUES ({{version}}, false);                   -- @since 40
INSERT INTO schema_migrations (version, dirty, data_version) VALUES ({{version}}, false, 30);  -- @before 40

-- Core sets admin's password, salt and password_version on its first start
-- (only while salt is empty), from HARBOR_ADMIN_PASSWORD.
INSERT INTO harbor_user (user_id, username, password, realname, comment, deleted, sysadmin_flag, password_version) VALUES
    (1, 'admin',     '', 'system admin',   'admin user',     false, true,  'sha1'),
    (2, 'anonymous', '', 'anonymous user', 'anonymous user', true,  false, 'sha1');
SELECT setval('harbor_user_user_id_seq', 2);

INSERT INTO role (role_id, role_code, name) VALUES
    (1, 'MDRWS', 'projectAdmin'),
    (2, 'RWS',   'developer'),
    (3, 'RS',    'guest'),
    (4, 'DRWS',  'master'),      -- @before 40
    (4, 'DRWS',  'maintainer'),  -- @since 40: mig 0040 renamed master
    (5, 'LRS',   'limitedGuest');
SELECT setval('role_role_id_seq', 5);

INSERT INTO project (project_id, owner_id, name) VALUES (1, 1, 'library');
SELECT setval('project_project_id_seq', 1);

INSERT INTO project_member (id, project_id, entity_id, entity_type, role) VALUES (1, 1, 1, 'u', 1);
SELECT setval('project_member_id_seq', 1);

INSERT INTO project_metadata (id, project_id, name, value) VALUES (1, 1, 'public', 'true');
SELECT setval('project_metadata_id_seq', 1);

-- @since 50: mig 0050 gave library its allowlist row; before, it had none
INSERT INTO cve_allowlist (id, project_id, items) VALUES (1, 1, '[]');
SELECT setval('cve_whitelist_id_seq', 1);
-- @end

-- 1.9's {"count": -1, "storage": -1} lost "count" in mig 0030.
INSERT INTO quota (id, reference, reference_id, hard) VALUES (1, 'project', '1', '{"storage": -1}');
SELECT setval('quota_id_seq', 1);

-- Takes the id of its quota row; quota_usage_id_seq stays unused, as on a
-- fresh install.
INSERT INTO quota_usage (id, reference, reference_id, used) VALUES (1, 'project', '1', '{"storage": 0}');

-- mig 0040 inserts version 0 (30 when it finds abstracted artifacts); core
-- 2.1-2.8 sets 30 on its first start after (re)abstracting every artifact,
-- core 2.9+ no longer reads the table.
INSERT INTO data_migrations (id, version) VALUES (1, 30);  -- @since 40 @before 120
INSERT INTO data_migrations (id, version) VALUES (1, 0);   -- @since 120
SELECT setval('data_migrations_id_seq', 1);                -- @since 40

-- @since 171: core 2.14.1+ writes it on its first start when it is missing
-- Not from a migration (mig 0171 adds it only to databases with audit rows):
-- core writes it from SKIP_LOG_AUDIT_DATABASE, which Harbor's installer
-- leaves unset, so false.
INSERT INTO properties (id, k, v) VALUES (1, 'skip_audit_log_database', 'false');
SELECT setval('properties_id_seq', 1);
-- @end
