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
// A warm render of 1,000 apps × 3 environments after one app changed
// spends its time in system calls (about 60%: opening and reading 1,000
// entries and 1,000 spec files, writing 3,000 files to a new output folder
// and removing the old one), then in gob decoding (~10%, mostly building
// the decoder of each entry) and SHA-256 of the spec files; the one app
// evaluated costs ~0.1 s. Its wall time is thus bounded by the file
// system: writing 3,000 small files into a fresh folder alone takes
// 0.2–0.5 s on this machine's ext4 under load.
//
// render's entries hold no kustomize tree (App.NoTree): laying the trees
// out for generate's sake was 0.7–1.0 of a cold render's 12 CPU-s at 1,000
// apps, and a third of each entry's bytes that a warm render read and
// decoded. generate takes such an entry for a miss and stores the app
// whole, which serves render too.
package cache
