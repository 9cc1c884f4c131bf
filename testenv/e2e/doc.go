// Package e2e holds harbor-import's end-to-end suite: it makes a registry
// storage by real pushes, packs it with tar, imports it into a Harbor with
// the harbor-import binary exactly as a user runs it, and then checks the
// result the way a user would.
//
// The Harbor comes from testenv.RunHarbor, in the mode HARBOR_IMPORT_TEST_MODE
// selects:
//
//   - standin (the default when the goharbor images are not present, and
//     what CI runs): PostgreSQL 15 with Harbor's schema, Redis and a real
//     distribution registry running as 10000:10000 over the data volume, all
//     built offline. The suite pulls every tag (resolved to its digest in
//     the tag table, as Harbor's core does) and every artifact digest from
//     that registry, pushes a new image into an imported repository, and
//     checks the database invariants Harbor's garbage collection relies on.
//   - goharbor: a real Harbor from the goharbor images of HARBOR_VERSION
//     (default v2.15.2), which must already be loaded into Docker. The suite
//     checks projects, repositories, artifacts, tags, quota and referrers
//     through Harbor's API, pulls everything through Harbor's /v2/ as admin,
//     runs garbage collection and pulls again, then pushes a new image and
//     deletes an imported artifact through Harbor and pulls the rest.
//   - attach: an existing Harbor named by HARBOR_IMPORT_ATTACH_URL,
//     ..._ADMIN_PASSWORD, ..._DSN, ..._DATA_DIR (and optionally ..._REGISTRY).
//     It WRITES into that Harbor: projects library and team, their images, a
//     pushed image, and it deletes one imported artifact. Garbage collection
//     runs only with HARBOR_IMPORT_ATTACH_GC=true, since it deletes every
//     untagged artifact of that Harbor.
//
// Without Docker (standin, goharbor) the suite is skipped and says why; a
// goharbor run whose images are missing is skipped naming them.
//
//	go test ./testenv/e2e/ -count=1 -v
//	HARBOR_IMPORT_TEST_MODE=goharbor HARBOR_VERSION=v2.15.2 go test ./testenv/e2e/ -count=1 -v
package e2e
