package harbordb

// Optional columns and tables, and the schema version that added them
// (harbor-facts §3.4). Detect probes the real database; SchemaFor assumes an
// unmodified Harbor of that version (a dry run without a database).
var columnsSince = map[string]int64{
	"artifact.icon":             40,  // mig:0040 (2.1.0)
	"blob.update_time":          40,  // mig:0040
	"blob.status":               40,  // mig:0040
	"blob.version":              40,  // mig:0040
	"project.registry_id":       40,  // mig:0040
	"quota_usage.version":       70,  // mig:0070 (2.4.0)
	"artifact.artifact_type":    140, // mig:0140 (2.11.0)
	"artifact_accessory.source": 190, // mig:0190 (2.16.0, main)
}

var tablesSince = map[string]int64{
	"cve_allowlist":      40,  // renamed from cve_whitelist by mig:0040
	"artifact_accessory": 80,  // mig:0080 (2.5.0)
	"audit_log_ext":      160, // mig:0160 (2.13.0)
}

// SchemaFor returns the schema an unmodified Harbor of version v has.
func SchemaFor(v int64) Schema {
	s := Schema{Version: v, Releases: known[v], Columns: map[string]bool{}, Tables: map[string]bool{}}
	for c, since := range columnsSince {
		if v >= since {
			s.Columns[c] = true
		}
	}
	for t, since := range tablesSince {
		if v >= since {
			s.Tables[t] = true
		}
	}
	if v < 40 {
		s.Tables["cve_whitelist"] = true
	}
	return s
}

func (s Schema) has(column string) bool { return s.Columns[column] }

// allowlistTable is the CVE allowlist's table name in this schema.
func (s Schema) allowlistTable() string {
	if s.Tables["cve_whitelist"] && !s.Tables["cve_allowlist"] {
		return "cve_whitelist"
	}
	return "cve_allowlist"
}
