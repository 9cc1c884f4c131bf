package harborhost

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is what harbor-import needs of a harbor.yml (make/harbor.yml.tmpl
// of Harbor's installer, rendered by its prepare script).
type Config struct {
	// Path is the file it was read from ("" when parsed from bytes).
	Path string
	// Version is _version, the installer version the file was written for.
	Version string

	// Hostname and ExternalURL say where the UI is (for the next steps).
	Hostname, ExternalURL string
	// HTTPS is true when the https block is present; HTTPPort and HTTPSPort
	// are the configured ports ("" when not set: 80 and 443).
	HTTPS               bool
	HTTPPort, HTTPSPort string

	// DataVolume is data_volume as written ("" when absent; Harbor's
	// default is /data). The registry storage is DataVolume/registry.
	DataVolume string
	// DatabasePassword is database.password, the password of user postgres
	// in Harbor's own harbor-db container.
	DatabasePassword string
	// ExternalDatabase is external_database.harbor, nil when Harbor uses its
	// own harbor-db container.
	ExternalDatabase *ExternalDatabase

	// StorageDriver is the registry storage driver: "filesystem" (the
	// default) or azure, gcs, s3, swift, oss from storage_service, picked in
	// the order Harbor's prepare script picks them.
	StorageDriver string

	// CacheEnabled is cache.enabled (default false): core caches projects,
	// repositories and artifacts in Redis.
	CacheEnabled bool
	// CacheRedisDB is the Redis database of the cache:* keys:
	// cache_layer_db_index when set, else 0 (core's database).
	CacheRedisDB int
	// ExternalRedis is external_redis.host, "" when Harbor runs its own
	// redis container.
	ExternalRedis string
	// QuotaUpdateProvider is core.quota_update_provider: "db" (default) or "redis".
	QuotaUpdateProvider string
}

// ExternalDatabase is harbor.yml's external_database.harbor.
type ExternalDatabase struct {
	Host, Port, DBName, Username, Password string
	// SSLMode is ssl_mode; "" means disable.
	SSLMode string
}

// DSN returns the PostgreSQL URL for the external database; port 5432 and
// sslmode disable when not set.
func (e *ExternalDatabase) DSN() string {
	port := e.Port
	if port == "" {
		port = "5432"
	}
	mode := e.SSLMode
	if mode == "" {
		mode = "disable"
	}
	return postgresURL(e.Username, e.Password, e.Host, port, e.DBName, mode)
}

// InternalDSN returns the DSN of Harbor's own database container at ip, as
// Harbor's prepare script configures core for it: user postgres, database
// registry, port 5432, no TLS.
func InternalDSN(password, ip string) string {
	return postgresURL("postgres", password, ip, "5432", "registry", "disable")
}

func postgresURL(user, password, host, port, db, sslmode string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(host, port),
		Path:     "/" + db,
		RawQuery: url.Values{"sslmode": {sslmode}}.Encode(),
	}
	return u.String()
}

// URL is where Harbor's UI answers: external_url when set, else
// http(s)://hostname with the port when it is not the default.
func (c *Config) URL() string {
	if c.ExternalURL != "" {
		return strings.TrimRight(c.ExternalURL, "/")
	}
	host := c.Hostname
	if host == "" {
		host = "<harbor>"
	}
	if c.HTTPS {
		if c.HTTPSPort != "" && c.HTTPSPort != "443" {
			host = net.JoinHostPort(host, c.HTTPSPort)
		}
		return "https://" + host
	}
	if c.HTTPPort != "" && c.HTTPPort != "80" {
		host = net.JoinHostPort(host, c.HTTPPort)
	}
	return "http://" + host
}

// rawConfig mirrors the keys of harbor.yml that matter here. Scalars are
// read as strings, so `port: 5432` and `password: 123456` both work.
type rawConfig struct {
	Version     string `yaml:"_version"`
	Hostname    string `yaml:"hostname"`
	ExternalURL string `yaml:"external_url"`
	HTTP        *struct {
		Port string `yaml:"port"`
	} `yaml:"http"`
	HTTPS *struct {
		Port string `yaml:"port"`
	} `yaml:"https"`
	DataVolume string `yaml:"data_volume"`
	Database   *struct {
		Password string `yaml:"password"`
	} `yaml:"database"`
	ExternalDatabase map[string]*struct {
		Host     string `yaml:"host"`
		Port     string `yaml:"port"`
		DBName   string `yaml:"db_name"`
		Username string `yaml:"username"`
		Password string `yaml:"password"`
		SSLMode  string `yaml:"ssl_mode"`
	} `yaml:"external_database"`
	StorageService map[string]any `yaml:"storage_service"`
	Cache          *struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"cache"`
	Core *struct {
		QuotaUpdateProvider string `yaml:"quota_update_provider"`
	} `yaml:"core"`
	Redis *struct {
		CacheLayerDBIndex *int `yaml:"cache_layer_db_index"`
	} `yaml:"redis"`
	ExternalRedis *struct {
		Host              string `yaml:"host"`
		CacheLayerDBIndex *int   `yaml:"cache_layer_db_index"`
	} `yaml:"external_redis"`
}

// storageDrivers in the order Harbor's prepare script tries them.
var storageDrivers = []string{"filesystem", "azure", "gcs", "s3", "swift", "oss"}

// LoadConfig reads and parses the harbor.yml at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading harbor.yml: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// ParseConfig parses the content of a harbor.yml. It returns a wrapped
// ErrInvalidConfig when the YAML is broken or external_database lacks its
// harbor block.
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c := &Config{
		Version: raw.Version, Hostname: raw.Hostname, ExternalURL: raw.ExternalURL,
		DataVolume: raw.DataVolume, StorageDriver: "filesystem", QuotaUpdateProvider: "db",
	}
	if raw.HTTP != nil {
		c.HTTPPort = raw.HTTP.Port
	}
	if raw.HTTPS != nil {
		c.HTTPS, c.HTTPSPort = true, raw.HTTPS.Port
	}
	if raw.Database != nil {
		c.DatabasePassword = raw.Database.Password
	}
	// As prepare does: a non-empty external_database replaces the database block.
	if len(raw.ExternalDatabase) > 0 {
		h := raw.ExternalDatabase["harbor"]
		if h == nil {
			return nil, fmt.Errorf("%w: external_database has no harbor block", ErrInvalidConfig)
		}
		if h.Host == "" || h.DBName == "" || h.Username == "" {
			return nil, fmt.Errorf("%w: external_database.harbor needs host, db_name and username", ErrInvalidConfig)
		}
		c.ExternalDatabase = &ExternalDatabase{
			Host: h.Host, Port: h.Port, DBName: h.DBName, Username: h.Username, Password: h.Password, SSLMode: h.SSLMode,
		}
	}
	for _, d := range storageDrivers {
		if v, ok := raw.StorageService[d]; ok && truthy(v) {
			c.StorageDriver = d
			break
		}
	}
	if raw.Cache != nil {
		c.CacheEnabled = raw.Cache.Enabled
	}
	if raw.Core != nil && raw.Core.QuotaUpdateProvider != "" {
		c.QuotaUpdateProvider = raw.Core.QuotaUpdateProvider
	}
	switch {
	case raw.ExternalRedis != nil:
		c.ExternalRedis = raw.ExternalRedis.Host
		if raw.ExternalRedis.CacheLayerDBIndex != nil {
			c.CacheRedisDB = *raw.ExternalRedis.CacheLayerDBIndex
		}
	case raw.Redis != nil && raw.Redis.CacheLayerDBIndex != nil:
		c.CacheRedisDB = *raw.Redis.CacheLayerDBIndex
	}
	return c, nil
}

// truthy is Python's truth for a YAML value, as prepare tests storage blocks.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case string:
		return x != ""
	case bool:
		return x
	case int:
		return x != 0
	}
	return true
}
