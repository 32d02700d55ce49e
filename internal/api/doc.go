// Package api serves the dmls job and task submission API: JSON over HTTP,
// under /v1, with which teams submit and change training jobs and model
// services instead of editing files. Git stays the single source of truth:
// every accepted change is a commit of the app's spec to the ml-model repo
// and a publish of the generated config to the config repos, which Argo CD
// deploys.
//
// # Routes
//
// Every /v1 route needs a bearer token (401 without one or with an unknown
// one, answered before the body is read, on a connection that then closes);
// team routes need a token of that team or an admin token (403). A JSON body
// that holds a key twice gets 400 naming the key's path.
//
// The routes, with their methods, tokens, bodies and answers, are listed in
// docs/api-routes.md, which RouteDocs writes from the route table that also
// registers the handlers and writes /openapi.json (make api-docs).
//
// A change that turns out to change nothing answers 200 with changed false
// and commits nothing. Errors answer {"requestId", "errors": [{"path",
// "message"}]}: 400 for an invalid request (each finding names the field
// of the request body), 404 for an unknown team, app or section, 409 for a
// change that conflicts with the app (it exists, it is written by hand, no
// canary runs, the workspace in git has errors elsewhere), 413 for a body
// over MaxBodyBytes, 422 for an Idempotency-Key reused with another
// request, 429 (with Retry-After) when the queue is full, 500 for a panic
// (the server stays up), 502 when a repo refuses the push, and 503 (with
// Retry-After) while starting, shutting down or when git is unreachable.
// Accepted changes answer a Result: the commit SHA of each repo written and
// the Argo CD Applications (<app>-<env>) that sync the change.
//
// Bodies use the schemas of the spec files: a submission is an #App
// without its team, a PATCH is a JSON merge patch of a #TrainingJob, and
// the workspace loader validates the resulting app exactly as it validates
// files, so findings read the same. The action bodies (#Rollout,
// #CanaryUpdate, #Target, #Promotion) and the responses are CUE
// definitions in api.cue, next to the schemas package; /openapi.json is
// generated from both by CUE's OpenAPI encoder, with its paths from the
// same route table that registers the handlers.
//
// # Specs in git
//
// The API writes an app as apps/<app>/app.json, an #App in JSON, in the
// ml-model repo (under the platform's path prefix for ml-model). An app
// folder with other spec files is hand-written: the API reads it but
// answers 409 to changes. Model services: a submission without
// serving.revision gets "v1". A rollout sets serving.image or
// serving.model.storageUri and the next revision (v3 after v2); with
// canaryPercent it keeps the serving revision as traffic.stable. Either
// way the replaced revision stays routable under the traffic tag
// "previous", which also keeps Knative from collecting it. Promoting the
// canary drops stable and canaryPercent. A rollback sends all traffic to
// the previous revision by name (stable with canaryPercent 0) rather than
// rewriting the template: Knative refuses a revision name whose template
// changed, and the new revision stays deployable for a later promote.
// Operations with env change overrides.<env>; where the app's own settings
// hold a canary that an override cannot remove, the override sets
// canaryPercent 100 instead. Environment promotion copies the version
// that runs in "from" (serving image or storageUri and revision; training
// image) into overrides of the next environment by order, as a rollout
// without canary; promoting across an environment is refused.
//
// # Group commit
//
// One writer goroutine (internal/submit) changes ml-model, read and
// committed through internal/specrepo; this package is the HTTP around
// them. Handlers queue their change
// (QueueSize deep; 429 beyond) and wait for its outcome. The writer takes
// the queued changes (up to MaxBatch, 256 by default: as many as the
// default queue holds), reads the tip of ml-model, applies them
// in order to in-memory app documents, and checks every app that changed
// with workspace.Load and build.BuildApp (schemas, cross-field rules,
// environment policies, Knative's validation). When an app fails, it
// replays that app's changes one at a time and rejects only those that
// break it, each with its own 400. It then makes one ml-model commit for
// the batch (managed paths: the changed app folders only, so other apps
// are never rewritten), generates the config of every app and publishes
// it with publish.Release (as dmls publish does), and answers each change with the batch's
// commits once the config repos are in (the model catalog follows in the
// docs repo); the publish and the answers overlap the next batch (submit's
// package doc). A change whose commit fails
// gets an error (502 or 503), never silence; a config publish that fails
// after the spec commit is answered with a warning and retried by the next
// batch or reconcile, since the spec is in git already. Shutdown stops taking
// changes (503), finishes every queued one, then returns.
//
// # Speed
//
// A batch costs what it changes, not the size of the workspace (issue 13;
// BenchmarkSubmit500, make bench-api, measures req/s, p50 and p99 at 10
// and at 1,000 apps and checks that every submission is in git exactly
// once). What the profiles taught:
//
//   - Evaluation: a batch's workspace is loaded from the last one's
//     (workspace.Kept.Reload: only the changed app folders are read and
//     evaluated; the checks across apps run over every app, from kept
//     per-app parts), and build.Workspace runs over the whole workspace
//     through digest caches (workspace.Options.Cache, build.Options.Cache:
//     an app's Digest covers its files, the platform, the environments and
//     the schemas; the --repo URL overrides are fixed for the server's
//     life), so only the changed apps are evaluated and generated. The workspace is served to the loader from an indexed
//     file system (internal/memfs): fstest.MapFS lists a folder by scanning
//     every file, which made each load quadratic in the number of apps.
//   - Layout: the Argo CD tree spans every app and used to be laid out and
//     checked against the CRD schemas again after every batch (two thirds
//     of a batch's CPU at 500 apps). build.Memo keeps each app's laid-out
//     Applications by its Digest and each checked file by its content, so
//     only the changed apps' Applications are made, marshalled and
//     checked; a test holds the memoised tree byte for byte to a full
//     build. The workspace checked before the commit becomes the commit's
//     snapshot, so it is neither loaded nor built again, and the
//     Applications to refresh in Argo CD are parsed only from changed
//     files.
//   - Git: ml-model and each config repo are a gitops.Repo, kept in memory
//     between batches. A read lists the remote's refs and reads nothing
//     when the tip is the snapshot's; otherwise it fetches only the
//     objects it lacks. A publish builds its tree from the tip's tree plus
//     the entries that differ from its own last publish (when nobody else
//     changed the managed paths; otherwise it replaces them as before),
//     and pushes one pack per repo per batch that holds only the new
//     objects. A lost race refetches and retries as before; ExpectTip
//     still makes the ml-model commit a compare-and-swap.
//   - Guard rails: the platform tree holds a NetworkPolicy per TFJob in
//     every environment, and marshalling them all after every batch was a
//     sixth of the CPU at 1,000 apps. build.Memo keeps each laid-out
//     object by the platform, the environment and the object's identity.
//   - Catalog: the docs repo's catalog was made from scratch after every
//     batch, and finding each app's last change diffed every commit of
//     ml-model's history again (both grew with the workspace and with the
//     history: a third of a batch's wall time at 1,000 apps). The history
//     keeps each commit's diff (gitops.CommitGraph), and catalog.Memo
//     each app's page by its digest and last change.
//   - Config pushes: k8s-config and kubeflow-config are pushed at once
//     (publish.Options.Parallel) while the catalog is made, and docs
//     follows, rather than three pushes one after another.
//   - The apps a batch changed are generated in parallel.
//   - Pipeline (issue 25): a batch's config is published, and its
//     changes answered, by a publisher goroutine while the writer plans
//     and commits the next batch; the batches committed during a publish
//     are published together, and a batch smaller than the last waits
//     for the publish in flight rather than committing a few changes
//     alone (an earlier try without that made 45 commits of 500 rather
//     than 35, and was slower). internal/submit's package doc has the
//     rest of the profile's lessons.
//
// What is left per batch is linear in the apps, with small constants: the
// loader's per-load overhead and cross-app checks, the guard rails'
// objects (made, not marshalled), the memo keys and the maps of the
// trees. And, per changed app, its evaluation and generation:
// workspace.Load's CUE validation per environment and build.BuildApp's
// admission checks are most of the CPU, and they are the loader's and the
// generators' to make faster. With 25 clients that each wait for their
// answer, 200 req/s means a batch every 125 ms from the read of ml-model
// through its push to the config pushes; on this 2-core machine, shared,
// the git server's processes alone take a good part of that.
//
// # Replicas
//
// Several servers may run against the same repos. gitops.Publish pushes
// with a lease and re-applies its files on a lost race, which is right for
// generated trees but would let a spec change computed from a stale read
// undo another replica's change to the same app. So every API commit is a
// compare-and-swap (gitops.Request.ExpectTip set to the commit the batch
// was computed from): if the branch moved, Publish fails with
// gitops.ErrStale instead of re-applying, and the writer reads again and
// re-applies the whole batch to the new tip (up to 10 times).
//
// Config publishes race too, and a replica may publish config from an older
// spec commit after another published a newer one. After each batch
// (unless more changes wait, whose batch does the same) and every
// ReconcileInterval, a server reads ml-model's tip and publishes again if
// the tip is not what it last published from; the replica that publishes
// last has read the newest tip after its publish, so the config converges
// to the newest specs. A server also publishes once at start.
//
// # Idempotency
//
// A change with an Idempotency-Key header (1 to 255 printable ASCII) is
// run at most once per actor and key: a retry gets the first answer with
// Idempotent-Replayed: true and makes no commit, a retry while the first
// runs waits for it, and the same key with a different method, path,
// query or body gets 422. Answers are kept for IdempotencyTTL (24h), at
// most IdempotencyKeys of them; 5xx and 429 answers are not kept, since
// those changes made no commit. The store is in memory, per replica: a
// retry that reaches another replica is a new request (a repeated submit
// then gets 409, a repeated retrain a second run), so route retries of one
// key to one replica (session affinity) or use the replica that answered.
//
// # Reads
//
// GETs serve the newest snapshot this server has; one older than
// ReadMaxAge (2s) is read again. A change made through this server is
// visible at once. Each view names the ml-model commit that last changed
// the app as far as the server has seen: exact for changes this server
// made or read commit by commit, otherwise the first commit at which it
// saw the app's current content (the server fetches at depth 1 and does
// not walk history).
//
// # Tokens and the audit log
//
// See ParseTokens for the token file format. Tokens are kept as SHA-256
// hashes and compared in constant time. Every API request logs one audit
// line (log/slog, JSON in dmls serve) with the request id, method, route,
// status, actor, team, app, operation, outcome (committed, unchanged,
// rejected, failed), the resulting commit SHAs or the first finding, and a
// hash prefix of the Idempotency-Key; never a token, header or body.
//
// # Metrics
//
// /metrics serves dmls_api_requests_total{route,method,code},
// dmls_api_request_duration_seconds, dmls_api_requests_in_flight,
// dmls_api_queue_depth, dmls_api_batch_size,
// dmls_api_commits_total{repo,result}, dmls_api_commit_races_total,
// dmls_api_speculative_plans_total{outcome} and
// dmls_api_idempotent_replays_total, with the Go and process collectors.
package api
