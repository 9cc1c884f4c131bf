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
// fills it. Both Load (COPY) and WriteScript (INSERT … VALUES) use it.
type staging struct {
	table   string
	columns []column
	rows    func(b *Batch) [][]any
}

type column struct{ name, typ string }

// A nil in a row is NULL; strings holding "" are stored as ”.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var stagingTables = []staging{
	{"harbor_import_settings", []column{{"username", "text"}, {"overwrite_tags", "boolean"}, {"ignore_quota", "boolean"}},
		func(b *Batch) [][]any {
			u := b.Settings.Username
			if u == "" {
				u = "harbor-import"
			}
			return [][]any{{u, b.Settings.OverwriteTags, b.Settings.IgnoreQuota}}
		}},
	{"harbor_import_project", []column{{"name", "text"}, {"public", "boolean"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.Projects))
			for i, p := range b.Projects {
				out[i] = []any{p.Name, p.Public}
			}
			return out
		}},
	{"harbor_import_repository", []column{{"name", "text"}, {"project", "text"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.Repositories))
			for i, r := range b.Repositories {
				out[i] = []any{r.Name, r.Project}
			}
			return out
		}},
	{"harbor_import_blob", []column{{"digest", "text"}, {"content_type", "text"}, {"size", "bigint"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.Blobs))
			for i, r := range b.Blobs {
				out[i] = []any{r.Digest, r.ContentType, r.Size}
			}
			return out
		}},
	{"harbor_import_project_blob", []column{{"project", "text"}, {"digest", "text"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.ProjectBlobs))
			for i, r := range b.ProjectBlobs {
				out[i] = []any{r.Project, r.BlobDigest}
			}
			return out
		}},
	{"harbor_import_artifact", []column{{"ord", "integer"}, {"repository", "text"}, {"digest", "text"}, {"type", "text"},
		{"media_type", "text"}, {"manifest_media_type", "text"}, {"artifact_type", "text"}, {"size", "bigint"},
		{"extra_attrs", "text"}, {"annotations", "jsonb"}, {"icon", "text"}, {"fills_subjects", "boolean"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.Artifacts))
			for i, a := range b.Artifacts {
				out[i] = []any{int32(i), a.Repository, a.Digest, a.Type, a.MediaType, a.ManifestMediaType, a.ArtifactType,
					a.Size, a.ExtraAttrs, orNull(a.Annotations), a.Icon, a.FillsSubjects}
			}
			return out
		}},
	{"harbor_import_reference", []column{{"ord", "integer"}, {"repository", "text"}, {"parent_digest", "text"}, {"child_digest", "text"},
		{"platform", "text"}, {"urls", "text"}, {"annotations", "jsonb"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.References))
			for i, r := range b.References {
				out[i] = []any{int32(i), r.Repository, r.ParentDigest, r.ChildDigest, r.Platform, r.URLs, orNull(r.Annotations)}
			}
			return out
		}},
	{"harbor_import_tag", []column{{"ord", "integer"}, {"repository", "text"}, {"name", "text"}, {"digest", "text"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.Tags))
			for i, t := range b.Tags {
				out[i] = []any{int32(i), t.Repository, t.Name, t.Digest}
			}
			return out
		}},
	{"harbor_import_artifact_blob", []column{{"ord", "integer"}, {"digest_af", "text"}, {"digest_blob", "text"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.ArtifactBlobs))
			for i, r := range b.ArtifactBlobs {
				out[i] = []any{int32(i), r.ArtifactDigest, r.BlobDigest}
			}
			return out
		}},
	{"harbor_import_accessory", []column{{"ord", "integer"}, {"repository", "text"}, {"digest", "text"}, {"subject_digest", "text"},
		{"type", "text"}, {"manifest_size", "bigint"}, {"source", "text"}},
		func(b *Batch) [][]any {
			out := make([][]any, len(b.Accessories))
			for i, a := range b.Accessories {
				out[i] = []any{int32(i), a.Repository, a.Digest, a.SubjectDigest, a.Type, a.ManifestSize, a.Source}
			}
			return out
		}},
}
