package testenv

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// attachConfig is a running Harbor described by the HARBOR_IMPORT_ATTACH_*
// variables.
type attachConfig struct {
	url, password, dsn, dataDir, registry string
}

// attachConfigFromEnv reads and checks the attach variables; the error
// wraps ErrAttachConfig and names what is missing or wrong.
func attachConfigFromEnv() (attachConfig, error) {
	c := attachConfig{
		url:      strings.TrimRight(os.Getenv(AttachURLEnv), "/"),
		password: os.Getenv(AttachAdminPasswordEnv),
		dsn:      os.Getenv(AttachDSNEnv),
		dataDir:  os.Getenv(AttachDataDirEnv),
		registry: os.Getenv(AttachRegistryEnv),
	}
	var missing []string
	for _, v := range []struct{ name, val string }{
		{AttachURLEnv, c.url}, {AttachAdminPasswordEnv, c.password}, {AttachDSNEnv, c.dsn}, {AttachDataDirEnv, c.dataDir},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("%w; missing: %s", ErrAttachConfig, strings.Join(missing, ", "))
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("%w; %s=%q is not an http(s) URL", ErrAttachConfig, AttachURLEnv, c.url)
	}
	if c.registry == "" {
		c.registry = u.Host
	}
	if fi, err := os.Stat(filepath.Join(c.dataDir, "registry")); err != nil || !fi.IsDir() {
		return c, fmt.Errorf("%w; %s=%q has no registry/ directory", ErrAttachConfig, AttachDataDirEnv, c.dataDir)
	}
	return c, nil
}

// attach fills h from the environment; nothing is started.
func (h *Harbor) attach() error {
	c, err := attachConfigFromEnv()
	if err != nil {
		return err
	}
	h.URL, h.AdminPassword, h.DSN, h.DataDir, h.RegistryHost = c.url, c.password, c.dsn, c.dataDir, c.registry
	h.Insecure = strings.HasPrefix(c.url, "http://")
	return nil
}
