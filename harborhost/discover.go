package harborhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultSearchPaths are the places harbor.yml is looked for after the
// directory of a running docker-compose project of Harbor.
var DefaultSearchPaths = []string{
	"/opt/harbor/harbor.yml",
	"/etc/harbor/harbor.yml",
	"/root/harbor/harbor.yml",
	"harbor.yml",
}

// Container names of Harbor's installer (docker-compose container_name).
const (
	DefaultDBContainer   = "harbor-db"
	DefaultCoreContainer = "harbor-core"
)

// DefaultDataVolume is data_volume when harbor.yml does not set it.
const DefaultDataVolume = "/data"

// composeLookupTimeout bounds the Docker question asked while searching.
const composeLookupTimeout = 5 * time.Second

// DiscoverOptions configure Discover. Zero values mean the defaults.
type DiscoverOptions struct {
	// HarborYML is the path of harbor.yml. Default: search, first next to
	// the running compose project of CoreContainer or DBContainer (its
	// com.docker.compose.project.working_dir label), then SearchPaths.
	HarborYML string
	// SearchPaths replace DefaultSearchPaths.
	SearchPaths []string
	// Docker is the engine asked for containers. Default NewDocker("").
	Docker *Docker
	// DBContainer is the name of Harbor's database container. Default harbor-db.
	DBContainer string
	// CoreContainer is the name of Harbor's core container. Default harbor-core.
	CoreContainer string
	// Logger receives what was tried. Default (nil) discards.
	Logger *slog.Logger
}

// Host is the Harbor found on this machine.
type Host struct {
	// Config is the parsed harbor.yml; Config.Path says which file.
	Config *Config
	// FoundBy says how harbor.yml was found: "given", "compose project of
	// <container>" or "searched".
	FoundBy string
	// ComposeDir is the docker-compose project directory of Harbor ("" if unknown).
	ComposeDir string
	// DataVolume is data_volume, or DefaultDataVolume when harbor.yml has none.
	DataVolume string
	// DataVolumeFrom says where DataVolume came from.
	DataVolumeFrom string

	// DBContainer is the name of Harbor's database container.
	DBContainer string

	docker *Docker
	db     *Database
}

// Database is how to reach Harbor's PostgreSQL.
type Database struct {
	// DSN is a postgres:// URL, with the password.
	DSN string
	// From says where it came from, e.g. "container harbor-db (3f2a…) on
	// network harbor_harbor" or "external_database.harbor".
	From string
	// Container, Network and IP are set for Harbor's own database container.
	Container   *Container
	Network, IP string
}

// Value is one discovered value, for display; secrets are masked.
type Value struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	From  string `json:"from,omitempty"`
}

// Discover finds and reads harbor.yml. It returns a wrapped ErrNoHarborYML,
// naming every place tried, when none is found.
func Discover(ctx context.Context, opts DiscoverOptions) (*Host, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Host{docker: opts.Docker, DBContainer: opts.DBContainer}
	if h.docker == nil {
		h.docker = NewDocker("")
	}
	if h.DBContainer == "" {
		h.DBContainer = DefaultDBContainer
	}
	core := opts.CoreContainer
	if core == "" {
		core = DefaultCoreContainer
	}

	path := opts.HarborYML
	h.FoundBy = "given"
	if path == "" {
		var tried []string
		path, h.FoundBy, tried = search(ctx, h.docker, opts.SearchPaths, core, h.DBContainer, log)
		if path == "" {
			return nil, fmt.Errorf("%w in %s; pass --harbor-yml or --harbor-data/--db", ErrNoHarborYML, strings.Join(tried, ", "))
		}
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	h.Config = cfg
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if isComposeDir(dir) {
		h.ComposeDir = dir
	}
	h.DataVolume, h.DataVolumeFrom = cfg.DataVolume, "data_volume in "+path
	if h.DataVolume == "" {
		h.DataVolume, h.DataVolumeFrom = DefaultDataVolume, "default ("+path+" has no data_volume)"
	}
	log.Info("found harbor.yml", "path", path, "by", h.FoundBy, "data_volume", h.DataVolume)
	return h, nil
}

// search returns the first harbor.yml found, how, and every place tried.
func search(ctx context.Context, d *Docker, paths []string, core, db string, log *slog.Logger) (path, by string, tried []string) {
	if _, err := os.Stat(d.Socket()); err == nil {
		ctx, cancel := context.WithTimeout(ctx, composeLookupTimeout)
		defer cancel()
		list, err := d.Containers(ctx, core, db)
		if err != nil {
			tried = append(tried, fmt.Sprintf("the compose project of %s/%s (%v)", core, db, err))
		} else {
			found := false
			for _, name := range []string{core, db} {
				for _, c := range list {
					if c.Name != name || c.ComposeDir() == "" {
						continue
					}
					found = true
					p := filepath.Join(c.ComposeDir(), "harbor.yml")
					if isFile(p) {
						return p, "compose project of container " + name, nil
					}
					tried = append(tried, p+" (compose project of "+name+")")
				}
			}
			if !found {
				tried = append(tried, fmt.Sprintf("the compose project of %s/%s (no such container)", core, db))
			}
		}
	} else {
		tried = append(tried, fmt.Sprintf("the compose project of %s/%s (no docker socket at %s)", core, db, d.Socket()))
	}
	if paths == nil {
		paths = DefaultSearchPaths
	}
	for _, p := range paths {
		if isFile(p) {
			return p, "searched", nil
		}
		shown := p
		if !filepath.IsAbs(p) {
			shown = "./" + p
		}
		tried = append(tried, shown)
		log.Debug("no harbor.yml", "path", shown)
	}
	return "", "", tried
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// isComposeDir reports whether dir holds the docker-compose file Harbor's
// install.sh/prepare writes next to harbor.yml.
func isComposeDir(dir string) bool {
	for _, n := range []string{"docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"} {
		if isFile(filepath.Join(dir, n)) {
			return true
		}
	}
	return false
}

// Database returns how to reach Harbor's PostgreSQL: external_database
// from harbor.yml, else the address of the DBContainer container on
// Harbor's network (asked of the Docker Engine) with database.password.
// It returns wrapped ErrContainerNotFound, ErrContainerNotRunning or
// ErrDockerUnavailable when the container cannot be used.
func (h *Host) Database(ctx context.Context) (*Database, error) {
	if h.db != nil {
		return h.db, nil
	}
	if e := h.Config.ExternalDatabase; e != nil {
		h.db = &Database{DSN: e.DSN(), From: "external_database.harbor in " + h.Config.Path}
		return h.db, nil
	}
	c, err := h.docker.Container(ctx, h.DBContainer)
	switch {
	case errors.Is(err, ErrContainerNotFound):
		return nil, fmt.Errorf("%w: %s uses Harbor's own database, but there is no container %s; start it (%s) or pass --db", ErrContainerNotFound, h.Config.Path, h.DBContainer, h.startHint("postgresql"))
	case err != nil:
		return nil, fmt.Errorf("finding Harbor's database container %s: %w; pass --db", h.DBContainer, err)
	case !c.Running():
		return nil, fmt.Errorf("%w: container %s is %s; start it (docker start %s) or pass --db", ErrContainerNotRunning, h.DBContainer, c.State, h.DBContainer)
	}
	network, ip := c.Address()
	if ip == "" {
		return nil, fmt.Errorf("%w: container %s has no IPv4 address on any network; pass --db", ErrContainerNotRunning, h.DBContainer)
	}
	h.db = &Database{
		DSN:       InternalDSN(h.Config.DatabasePassword, ip),
		From:      fmt.Sprintf("container %s (%s) on network %s, password from %s", c.Name, c.ShortID(), network, h.Config.Path),
		Container: c, Network: network, IP: ip,
	}
	return h.db, nil
}

func (h *Host) startHint(service string) string {
	if h.ComposeDir != "" {
		return "cd " + h.ComposeDir + " && docker compose up -d " + service
	}
	return "docker compose up -d " + service + " in Harbor's installation directory"
}

// Values lists what was discovered, passwords masked, for display.
func (h *Host) Values() []Value {
	c := h.Config
	v := []Value{{Name: "harbor.yml", Value: c.Path, From: h.FoundBy}}
	if h.ComposeDir != "" {
		v = append(v, Value{Name: "compose project", Value: h.ComposeDir})
	}
	v = append(v, Value{Name: "data_volume", Value: h.DataVolume, From: h.DataVolumeFrom})
	if h.db != nil {
		v = append(v, Value{Name: "database", Value: MaskDSN(h.db.DSN), From: h.db.From})
	} else if c.ExternalDatabase == nil {
		v = append(v, Value{Name: "database.password", Value: mask(c.DatabasePassword)})
	}
	v = append(v,
		Value{Name: "storage", Value: c.StorageDriver},
		Value{Name: "cache.enabled", Value: strconv.FormatBool(c.CacheEnabled)},
		Value{Name: "core.quota_update_provider", Value: c.QuotaUpdateProvider},
	)
	return v
}

func mask(s string) string {
	if s == "" {
		return "(empty)"
	}
	return "***"
}

var kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// MaskDSN returns dsn with its password replaced by ***, for URLs
// (postgres://user:pass@host/db) and key=value strings (password=pass).
func MaskDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return kvPassword.ReplaceAllString(dsn, "${1}***")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a connection string that does not parse; not shown)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "***")
		u.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
	}
	if u.User == nil {
		return u.String()
	}
	if _, ok := u.User.Password(); !ok {
		return u.String()
	}
	const placeholder = "MASKEDPASSWORD"
	u.User = url.UserPassword(u.User.Username(), placeholder)
	return strings.Replace(u.String(), placeholder, "***", 1)
}
