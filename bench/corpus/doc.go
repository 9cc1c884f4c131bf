// Package corpus makes the registry storages harbor-import's benchmarks run
// on, by real pushes into a real registry: a "classic migration" of N tags
// (5,000 by default) across about N×0.12 repositories, deterministic from a
// seed.
//
// The shape, for N tags:
//
//	base/<distro>            6 base images (2 tags each), 1–2 layers of 2–6 MB
//	<team>/runtime           one per team (N/250 teams, 3..80), base + a 0.5–2 MB runtime layer
//	<name>                   ~25% of the other repositories: single component (library/<name> in Harbor)
//	<team>/<name>            ~55%
//	<team>/<group>/<name>    ~20%
//
// Application images are a base's layers, for half of a team's images its
// runtime layer, and 1–3 unique layers of 4 KiB–512 KiB (log-uniform), so
// about 210 KiB of unique data per image and about 1 GiB for 5,000 tags.
// Tags per repository are skewed (most have a few, some dozens); about 12% of
// the tags are aliases of another tag's digest (latest, stable, ...); 3% of
// the builds are multi-arch (an OCI index or Docker manifest list of two
// images); 20% of the repositories are OCI, the rest Docker schema 2; 2% of
// the repositories have a tag that was pushed twice, leaving an untagged
// revision. Shared layers are mounted across repositories as docker push
// does.
//
// Ensure caches a corpus under a directory (BENCH_DIR) as
//
//	corpus-<tags>-seed<seed>/
//	  storage/docker/registry/v2/...  the registry's storage (its rootdirectory is storage/)
//	  docker.tar                      tar -cpf docker.tar docker, run in storage/
//	  docker.tar.gz                   the same, gzip'd
//	  corpus.json                     Info; written last, so its presence marks a complete corpus
package corpus
