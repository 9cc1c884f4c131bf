package harbordb

// Batch is everything one import writes, in natural keys. The importer
// builds it; every field is a value a real push derives the same way
// (harbor-facts §2). Order within slices is kept where it shows (artifact
// ids follow Artifacts order, so index children come before their index as a
// push would create them).
type Batch struct {
	// Settings of this import.
	Settings Settings
	// Projects the import writes into; missing ones are created as the
	// project API would (harbor-facts §2.1–2.5).
	Projects []Project
	// Repositories, full names including the project ("team/app").
	Repositories []Repository
	Artifacts    []Artifact
	References   []ArtifactReference
	Tags         []Tag
	Blobs        []Blob
	// ArtifactBlobs: per manifest digest, every descriptor it references plus
	// the manifest itself (harbor-facts §2.10).
	ArtifactBlobs []ArtifactBlob
	// ProjectBlobs: every blob each project uses, manifests included (harbor-facts §2.11).
	ProjectBlobs []ProjectBlob
	// Accessories: artifact_accessory rows (harbor-facts §2.13), written
	// only where the schema has the table (2.5+).
	Accessories []Accessory
}

// Settings are the import-wide choices, written to the settings staging table.
type Settings struct {
	// Username recorded in audit rows; default "harbor-import".
	Username string
	// OverwriteTags moves existing tags to the imported digest, as a push
	// would; otherwise a tag on another digest aborts the import.
	OverwriteTags bool
	// IgnoreQuota lets usage exceed a project's hard storage limit, which a
	// push would have refused.
	IgnoreQuota bool
}

// Project is a project the import needs.
type Project struct {
	Name string
	// Public is the `public` metadata written if the project is created.
	Public bool
}

// Repository is a repository row (harbor-facts §2.6).
type Repository struct {
	Name    string
	Project string
}

// Artifact is an artifact row (harbor-facts §2.7).
type Artifact struct {
	Repository        string
	Digest            string
	Type              string
	MediaType         string
	ManifestMediaType string
	ArtifactType      string
	Size              int64
	// ExtraAttrs is stored as given; "" when the processor sets nothing.
	ExtraAttrs string
	// Annotations is JSON, or "" for NULL.
	Annotations string
	Icon        string
	// FillsSubjects: a push of this artifact sets subject_artifact_id of
	// the accessories that already name it (repository and digest) as their
	// subject (Harbor 2.9.2+ subject middleware, harbor-facts §2.13).
	FillsSubjects bool
}

// ArtifactReference is an index → child row (harbor-facts §2.12).
type ArtifactReference struct {
	Repository   string
	ParentDigest string
	ChildDigest  string
	// Platform, URLs: JSON text or "" (Harbor stores '' for none, not NULL).
	Platform string
	URLs     string
	// Annotations is JSON, or "" for NULL.
	Annotations string
}

// Tag is a tag row (harbor-facts §2.8).
type Tag struct {
	Repository string
	Name       string
	Digest     string
}

// Blob is a blob row (harbor-facts §2.9).
type Blob struct {
	Digest      string
	ContentType string
	Size        int64
}

// ArtifactBlob is an artifact_blob row (harbor-facts §2.10).
type ArtifactBlob struct {
	ArtifactDigest string
	BlobDigest     string
}

// Accessory is an artifact_accessory row (harbor-facts §2.13): the
// artifact Digest of Repository is an accessory of SubjectDigest in the same
// repository. subject_artifact_id is resolved when written (0 when the
// subject is not an artifact, 2.8+; no row at all before 2.8, where the
// column had a foreign key and the middleware failed), size is the
// accessory artifact's size (2.8+) or its manifest's length (2.5–2.7).
type Accessory struct {
	Repository    string
	Digest        string
	SubjectDigest string
	// Type: signature.cosign, signature.notation, sbom.harbor, subject.accessory, accelerator.nydus.
	Type string
	// ManifestSize is the accessory manifest's length in bytes.
	ManifestSize int64
	// Source is artifact_accessory.source (2.16+): "local" from the subject
	// middleware, "" from the legacy cosign middleware.
	Source string
}

// ProjectBlob is a project_blob row (harbor-facts §2.11).
type ProjectBlob struct {
	Project    string
	BlobDigest string
}

// staging describes one temporary table: how it is created and how a Batch
// fills it. Both Load (COPY) and WriteScript (INSERT … VALUES) use it. Rows
// are produced one at a time into a reused slice, so writing a batch never
// holds a second copy of it.
type staging struct {
	table   string
	columns []column
	// n is the number of rows b has for this table; row fills r (one value
	// per column) with row i.
	n   func(b *Batch) int
	row func(b *Batch, i int, r []any)
}

type column struct{ name, typ string }

// each calls fn with every row of t in b, reusing one slice: fn must not
// keep it.
func (t staging) each(b *Batch, fn func(i int, r []any) error) error {
	if t.n == nil {
		return nil
	}
	r := make([]any, len(t.columns))
	for i, n := 0, t.n(b); i < n; i++ {
		t.row(b, i, r)
		if err := fn(i, r); err != nil {
			return err
		}
	}
	return nil
}

// A nil in a row is NULL; strings holding "" are stored as ”.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var stagingTables = []staging{
	{"harbor_import_settings", []column{{"username", "text"}, {"overwrite_tags", "boolean"}, {"ignore_quota", "boolean"}},
		func(*Batch) int { return 1 },
		func(b *Batch, _ int, r []any) {
			u := b.Settings.Username
			if u == "" {
				u = "harbor-import"
			}
			r[0], r[1], r[2] = u, b.Settings.OverwriteTags, b.Settings.IgnoreQuota
		}},
	{"harbor_import_project", []column{{"name", "text"}, {"public", "boolean"}},
		func(b *Batch) int { return len(b.Projects) },
		func(b *Batch, i int, r []any) { p := &b.Projects[i]; r[0], r[1] = p.Name, p.Public }},
	{"harbor_import_repository", []column{{"name", "text"}, {"project", "text"}},
		func(b *Batch) int { return len(b.Repositories) },
		func(b *Batch, i int, r []any) { x := &b.Repositories[i]; r[0], r[1] = x.Name, x.Project }},
	{"harbor_import_blob", []column{{"digest", "text"}, {"content_type", "text"}, {"size", "bigint"}},
		func(b *Batch) int { return len(b.Blobs) },
		func(b *Batch, i int, r []any) { x := &b.Blobs[i]; r[0], r[1], r[2] = x.Digest, x.ContentType, x.Size }},
	{"harbor_import_project_blob", []column{{"project", "text"}, {"digest", "text"}},
		func(b *Batch) int { return len(b.ProjectBlobs) },
		func(b *Batch, i int, r []any) { x := &b.ProjectBlobs[i]; r[0], r[1] = x.Project, x.BlobDigest }},
	{"harbor_import_artifact", []column{{"ord", "integer"}, {"repository", "text"}, {"digest", "text"}, {"type", "text"},
		{"media_type", "text"}, {"manifest_media_type", "text"}, {"artifact_type", "text"}, {"size", "bigint"},
		{"extra_attrs", "text"}, {"annotations", "jsonb"}, {"icon", "text"}, {"fills_subjects", "boolean"}},
		func(b *Batch) int { return len(b.Artifacts) },
		func(b *Batch, i int, r []any) {
			a := &b.Artifacts[i]
			r[0], r[1], r[2], r[3], r[4], r[5] = int32(i), a.Repository, a.Digest, a.Type, a.MediaType, a.ManifestMediaType
			r[6], r[7], r[8], r[9], r[10], r[11] = a.ArtifactType, a.Size, a.ExtraAttrs, orNull(a.Annotations), a.Icon, a.FillsSubjects
		}},
	{"harbor_import_reference", []column{{"ord", "integer"}, {"repository", "text"}, {"parent_digest", "text"}, {"child_digest", "text"},
		{"platform", "text"}, {"urls", "text"}, {"annotations", "jsonb"}},
		func(b *Batch) int { return len(b.References) },
		func(b *Batch, i int, r []any) {
			x := &b.References[i]
			r[0], r[1], r[2], r[3], r[4], r[5], r[6] = int32(i), x.Repository, x.ParentDigest, x.ChildDigest, x.Platform, x.URLs, orNull(x.Annotations)
		}},
	{"harbor_import_tag", []column{{"ord", "integer"}, {"repository", "text"}, {"name", "text"}, {"digest", "text"}},
		func(b *Batch) int { return len(b.Tags) },
		func(b *Batch, i int, r []any) {
			t := &b.Tags[i]
			r[0], r[1], r[2], r[3] = int32(i), t.Repository, t.Name, t.Digest
		}},
	{"harbor_import_artifact_blob", []column{{"ord", "integer"}, {"digest_af", "text"}, {"digest_blob", "text"}},
		func(b *Batch) int { return len(b.ArtifactBlobs) },
		func(b *Batch, i int, r []any) {
			x := &b.ArtifactBlobs[i]
			r[0], r[1], r[2] = int32(i), x.ArtifactDigest, x.BlobDigest
		}},
	{"harbor_import_accessory", []column{{"ord", "integer"}, {"repository", "text"}, {"digest", "text"}, {"subject_digest", "text"},
		{"type", "text"}, {"manifest_size", "bigint"}, {"source", "text"}},
		func(b *Batch) int { return len(b.Accessories) },
		func(b *Batch, i int, r []any) {
			a := &b.Accessories[i]
			r[0], r[1], r[2], r[3], r[4], r[5], r[6] = int32(i), a.Repository, a.Digest, a.SubjectDigest, a.Type, a.ManifestSize, a.Source
		}},
}

// The staging tables of the row types, for Each, Count and the script header.
var (
	tableArtifact     = stagingTable("harbor_import_artifact")
	tableReference    = stagingTable("harbor_import_reference")
	tableTag          = stagingTable("harbor_import_tag")
	tableBlob         = stagingTable("harbor_import_blob")
	tableArtifactBlob = stagingTable("harbor_import_artifact_blob")
	tableProjectBlob  = stagingTable("harbor_import_project_blob")
	tableAccessory    = stagingTable("harbor_import_accessory")
)

func stagingTable(name string) staging {
	for _, t := range stagingTables {
		if t.table == name {
			return t
		}
	}
	panic("harbordb: no staging table " + name)
}
