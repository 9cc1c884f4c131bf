// Package harborhost finds the Harbor installed on this host and checks it
// before an import.
//
// [Discover] reads Harbor's installer configuration, harbor.yml (given, or
// found next to the running docker-compose project of harbor-core/harbor-db,
// or in /opt/harbor, /etc/harbor, /root/harbor or the working directory),
// for the data volume (data_volume, /data by default), the database
// (database.password for Harbor's own harbor-db container,
// external_database.harbor otherwise), the cache and the quota provider.
// [Host.Database] turns that into a DSN; for the internal database it asks
// the Docker Engine (plain HTTP over /var/run/docker.sock) for the harbor-db
// container's address on Harbor's compose network, which is routable from
// the Harbor host itself:
//
//	postgres://postgres:<database.password>@<harbor-db IP>:5432/registry?sslmode=disable
//
// [Preflight] runs the go/no-go checks of `harbor-import preflight`: data
// volume and ownership, disk space against the source, links or copies,
// database reachable with a supported schema, Harbor's services and
// read-only mode, quota and cache settings. [NextSteps] says what to do on
// that Harbor after an import.
//
// The package never prints: callers get values, checks and lines to show,
// with passwords masked by [MaskDSN].
package harborhost
