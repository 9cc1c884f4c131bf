package rawimage

// Config is an image config with its fields in the order docker writes
// them, for builders that need exact, reproducible config bytes
// (json.Marshal of a Config gives the same bytes on every run).
type Config struct {
	Architecture string    `json:"architecture"`
	Config       Container `json:"config"`
	Created      string    `json:"created"`
	History      []History `json:"history"`
	OS           string    `json:"os"`
	RootFS       RootFS    `json:"rootfs"`
	Variant      string    `json:"variant,omitempty"`
}

// Container is the config's runtime part.
type Container struct {
	Env    []string          `json:"Env"`
	Cmd    []string          `json:"Cmd"`
	Labels map[string]string `json:"Labels"`
}

// History is one entry of the config's history.
type History struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// RootFS lists the layers' diff IDs.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}
