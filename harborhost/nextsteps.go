package harborhost

import (
	"fmt"
	"strings"
)

// ImportFacts are the facts of an import NextSteps needs (from importer.Report).
type ImportFacts struct {
	// Mode is the report's mode: "import", "files-only" or "dry-run".
	Mode string
	// Changed is true when the import wrote rows (or, files-only, placed files).
	Changed bool
	// Projects are the projects imported into.
	Projects []string
	// TagsMoved counts the tags --overwrite-tags moved to other digests.
	TagsMoved int64
}

// cacheKeys are the Redis keys that go stale when tags move (harbor-facts §5).
var cacheKeys = []string{"cache:repository:*", "cache:artifact:*"}

// deleteKeysScript deletes every key matching each ARGV pattern, inside
// Redis, so that no shell or xargs is needed in the redis container.
const deleteKeysScript = `for _,p in ipairs(ARGV) do for _,k in ipairs(redis.call('KEYS',p)) do redis.call('DEL',k) end end`

// NextSteps returns what to do on this Harbor after an import, one line per
// step, or nil when there is nothing to do (a dry run, or nothing changed).
// h may be nil when no harbor.yml was read; the steps that depend on it are
// then given with their condition.
func NextSteps(h *Host, f ImportFacts) []string {
	if f.Mode == "dry-run" || !f.Changed {
		return nil
	}
	var cfg *Config
	composeDir := ""
	dbContainer := DefaultDBContainer
	if h != nil {
		cfg, composeDir, dbContainer = h.Config, h.ComposeDir, h.DBContainer
	}
	var steps []string
	if f.Mode == "files-only" {
		target := "docker exec -i " + dbContainer + " psql -U postgres -d registry"
		if cfg != nil && cfg.ExternalDatabase != nil {
			target = "psql '" + MaskDSN(cfg.ExternalDatabase.DSN()) + "'"
		}
		steps = append(steps, "Write the rows with the script of the --dry-run --sql-out run: "+target+" -v ON_ERROR_STOP=1 -1 < plan.sql")
	}

	start := "docker compose up -d in Harbor's installation directory"
	if composeDir != "" {
		start = "cd " + composeDir + " && docker compose up -d"
	}
	steps = append(steps, "If Harbor was stopped or read-only for the import: start it ("+start+") or turn Repository Read Only off (Administration → Configuration → System Settings).")

	url := "https://<harbor>"
	if cfg != nil {
		url = cfg.URL()
	}
	syncquota := "curl -u admin -X POST " + url + "/api/internal/syncquota"
	switch {
	case cfg == nil:
		steps = append(steps, "If harbor.yml sets core.quota_update_provider: redis, recompute quota usage: "+syncquota)
	case cfg.QuotaUpdateProvider == "redis":
		steps = append(steps, "Recompute quota usage (core.quota_update_provider is redis): "+syncquota)
	}

	if f.TagsMoved > 0 {
		switch {
		case cfg == nil:
			steps = append(steps, fmt.Sprintf("%d tags moved: if harbor.yml sets cache.enabled, clear the cache: %s", f.TagsMoved, clearCache(nil)))
		case cfg.CacheEnabled:
			steps = append(steps, fmt.Sprintf("%d tags moved and cache.enabled: clear the cache: %s", f.TagsMoved, clearCache(cfg)))
		}
	}

	if len(f.Projects) > 0 {
		steps = append(steps, fmt.Sprintf("Check in the UI: Projects → %s (%s/harbor/projects)", strings.Join(f.Projects, ", "), url))
	}
	return steps
}

// clearCache is the command deleting cacheKeys from Harbor's cache database.
func clearCache(cfg *Config) string {
	db := 0
	if cfg != nil {
		db = cfg.CacheRedisDB
	}
	args := fmt.Sprintf("-n %d EVAL %q 0 '%s'", db, deleteKeysScript, strings.Join(cacheKeys, "' '"))
	if cfg != nil && cfg.ExternalRedis != "" {
		return "on Redis " + cfg.ExternalRedis + ": redis-cli -h <host> -p <port> " + args
	}
	return "docker exec redis redis-cli " + args
}
