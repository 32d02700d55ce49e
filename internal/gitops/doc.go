// Package gitops commits generated trees to config repositories and pushes them.
//
// Publish replaces the managed paths of one branch with a generated file tree in a single
// commit, and makes no commit when nothing changed. It works on an in-memory, depth-1 fetch of
// the branch and builds the new tree objects from the tip's tree, so it writes nothing to the
// local disk and no path can escape the repository. Pushes are guarded by a lease on the tip
// that was fetched; when another writer wins the race, Publish fetches again and re-applies the
// files. ReadTreeSkipping reads a subtree back.
//
// A Repo does the same for a process that reads and publishes one branch again and again: it
// keeps the repository in memory between calls, fetches only when the remote moved (and then
// only the objects it lacks), builds each new tree from the tip's tree plus the entries that
// changed since its own last publish, and pushes one pack holding only the new objects. A
// Publish and a Repo's publish of the same request make the same tree.
//
// # Credentials
//
// AuthFromEnv reads these variables:
//
//	DMLS_GIT_TOKEN                 HTTPS access token, sent as the basic-auth password
//	DMLS_GIT_USERNAME              basic-auth user (default with a token: x-access-token);
//	                               also the SSH user when the URL names none
//	DMLS_GIT_PASSWORD              basic-auth password (needs DMLS_GIT_USERNAME; not with a token)
//	DMLS_GIT_SSH_KEY_FILE          PEM private key for ssh:// and user@host:path URLs
//	DMLS_GIT_SSH_KEY_PASSPHRASE    passphrase of that key
//	DMLS_GIT_SSH_KNOWN_HOSTS_FILE  known_hosts file to verify the server (default: go-git's)
//	DMLS_GIT_ALLOW_INSECURE_HTTP   "true" to allow credentials over plain http:// to a host
//	                               other than loopback
//	DMLS_GIT_CREDENTIALS_FILE      a file holding any of the keys above
//
// The credentials file has one KEY=value per line, with the keys above. Blank lines and lines
// starting with # are ignored, spaces around the key and the value are trimmed, and a value may
// be wrapped in single or double quotes. Unknown or repeated keys are errors. A relative
// DMLS_GIT_SSH_KEY_FILE or known-hosts path in the file is relative to the file. A variable
// that is set takes precedence over the same key in the file. For example:
//
//	# /etc/dmls/git-credentials, mode 0600
//	DMLS_GIT_USERNAME=deploy-bot
//	DMLS_GIT_TOKEN=ghp_example
//
// Secrets never appear in errors: URLs are named without credentials (repourl.Public: https://host/...) and every known
// secret is replaced by *** in the text of wrapped go-git errors. Printing an Auth shows which
// credentials are set, not their values.
package gitops
