// Package testenv starts the real services harbor-import's tests run
// against, shaped like a testcontainers-go module:
//
//   - a PostgreSQL 15 container built offline from Debian packages
//     ([EnsurePostgresImage], [RunPostgres]); tests clone a template database
//     per case with [PostgresContainer.CreateDatabase];
//   - an in-process distribution registry over a filesystem storage directory
//     ([StartRegistry]), the same code Harbor's registry runs;
//   - fixtures made by real pushes into that registry ([PushClassic],
//     [PushReferenceCases]), so the storage directory is exactly what a user
//     of an offline registry has, and [TarStorage] to pack it as they would;
//   - [PullAndVerify], a real client pull that checks every digest and size.
//
// Constructors return what they started even when they fail, so callers
// register cleanup before checking the error:
//
//	ctr, err := testenv.RunPostgres(ctx)
//	testcontainers.CleanupContainer(t, ctr)
//	if err != nil {
//		t.Fatal(err)
//	}
//
// Docker is needed only for PostgreSQL. Tests call [DockerAvailable] and skip
// with its reason when it fails; scripts/setup-test-deps.sh installs the host
// tools (debootstrap, tar, gzip, zstd, psql).
package testenv
