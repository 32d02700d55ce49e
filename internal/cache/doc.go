// Package cache keeps the per-app results of render and generate on disk,
// content-addressed, so that a run after a change evaluates only the apps
// the change touched, and streams each app's result to its consumer as
// soon as it is ready.
//
// # Keys
//
// Read snapshots the spec files of a workspace, as the loader reads them
// (platform.{cue,yaml,yml,json}, overlays/<env>.*, apps/<dir>/*.*, no dot
// files, no symlinks), and computes:
//   - the workspace key: a SHA-256 of the dmls binary's version
//     (BinaryVersion: build information, the executable's size and
//     modification time, the embedded schemas), the workspace's name in
//     findings, and the platform and environment files;
//   - each app's key: the workspace key, the app folder's name and its
//     spec files.
//
// Everything an app's result depends on is in its key: the loader reads
// nothing but these files and the embedded schemas (no environment
// variables, no clock), and the platform and environment files hold every
// setting an app uses (teams, repos, policy, secrets, Knative and Argo CD
// settings). A change of another app's files leaves the key alone. What
// couples apps (one name, one object, Application names) is checked
// across all apps by Run from the entries' Owns; a clash returns
// ErrFallback and the caller runs the uncached pipeline, which reports it.
// Apps with errors are never stored: an error also returns ErrFallback.
//
// Snapshot.FS serves the bytes that were hashed, so an entry is never
// stored under the key of a file that changed in between.
//
// # Store
//
// An entry is a file entries/<k[:2]>/<k>: a magic line, the CRC-32C of
// the payload, its length, and the payload (gob). A short, long or
// altered entry fails the check, is removed and rebuilt, and is reported
// only through Store.Debug. Writes go to a temporary file in the entry's
// folder and are renamed into place, so concurrent processes see whole
// entries or none; writers of one key write the same bytes. Open prunes,
// once a day, entries not used for 30 days (Get refreshes the
// modification time, hourly) and then, least recently used first, beyond
// 1 GiB.
//
// The apps that Run builds in one chunk, when there are at least 32 (a
// cold run), are stored together, as one pack, packs/<digest>.pack: an
// index of keys, offsets and lengths, then the entries as their files
// would hold them, each checked on read. A file per app was a file
// created, written and renamed per app: storing 1,000 entries of 24 KB
// took 38-148 ms on this machine's ext4 (more after large deletions),
// and 10-12 ms as four packs (BenchmarkStoreApps), a few percent of a
// cold render's CPU. Get reads an entry's own
// file first, then the packs (their indexes are read once per Store, at
// the first key without a file); an entry found damaged in a pack is a
// miss, and is stored again in a file of its own. Prune takes a pack as
// one entry, used when any of its entries was.
//
// # Index
//
// A render into an output folder also keeps an index per workspace key:
// one entry (so checked, written and pruned as every entry is) that holds
// every app's entry but its rendered bytes, with their SHA-256 digests
// instead (App.Sums), under the app's key. A warm render reads it, one
// file, and offers each app to the caller (Options.Kept), which keeps the
// app's files from the old output when its manifest has them with those
// digests (outdir.Stream.Keep); only the apps it cannot keep are read
// from entries/, or built. An app the index does not hold (changed since
// it was written, or written by another process from another workspace
// of the same key) is read from entries/ as before. The index is written
// again, whole, when it is missing or corrupt or misses more than one app
// in 16: after one app's change it is left as it is, and that app costs a
// read of its entry. Two processes may write it at once: each writes a
// whole index of facts about content-addressed keys, and the last rename
// wins. When the index is first used in an hour, the entries of the apps
// it served get their use recorded too, so that Prune does not take an
// app in use for an unused one.
//
// # Run and memory
//
// Run emits cached apps first, then loads, builds and emits the others in
// chunks of 256, dropping each chunk's workspace and each app's output
// once emitted, so that peak memory does not grow with the workspace: at
// 5,000 apps × 3 environments a cold render peaks at ~410 MB RSS (2.6 GB
// when every app was held), a warm one at ~165 MB.
//
// # Profile
//
// A warm render of 1,000 apps × 3 environments into the folder of the
// render before, after one app changed, used to read 1,000 entries
// (25 MB, a gob decoder each) and compare 3,000 old output files byte by
// byte before linking them, 45% of its CPU in system calls. With the
// index and the output manifest it reads one 3 MB index and links 3,000
// files without reading them. Measured on this 2-core machine under
// other helpers' load (load average 4-5), medians of 12 runs interleaved
// with main's binary (the same cold-path code): 0.44 s wall and 0.37 s
// of CPU before, 0.245 s wall and 0.19 s of CPU after. Of the CPU
// profile, per run:
//   - the one app built: 30-35 ms, most of it preparing the admission
//     schemas of the CRDs it uses (internal/admission);
//   - reading and decoding the index: 13-20 ms (gob, in four parts at
//     once; the quota uses packed as numbers: 58,000 of them as strings
//     took 30 ms);
//   - keeping 3,000 files (a link and a stat each): 20-25 ms, and
//     removing the old folder: 10-15 ms, both in parallel;
//   - reading and hashing 1,000 apps' spec files: 15-17 ms, 4 at a time;
//   - the quota check across all apps: 5-8 ms; the platform key, now
//     from each app's stored digest (App.Whole): under 1 ms, from 15;
//   - the process itself: package initialisation is about 30 ms before
//     main (GODEBUG=inittrace=1), and the garbage collector 8-12 ms.
//
// render's entries hold no kustomize tree (App.NoTree): laying the trees
// out for generate's sake was 0.7–1.0 of a cold render's 12 CPU-s at 1,000
// apps, and a third of each entry's bytes that a warm render read and
// decoded. generate takes such an entry for a miss and stores the app
// whole, which serves render too.
package cache
