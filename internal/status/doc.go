// Package status turns what the cluster says about an app (its Argo CD
// Application, its TFJob, its Knative Service or InferenceService) into one
// view per environment with one summary state. It is pure: the documents
// come in as decoded JSON (unstructured objects) and nothing is read here;
// package internal/status/kube reads them with client-go.
//
// # The summary state
//
// Summarize decides one state per app and environment, always naming the
// config commit it is about. The first rule that applies wins:
//
//  1. Unknown: the cluster could not be read (the reason says why), or
//     Argo CD's sync status is Unknown (it cannot compare git with the
//     cluster).
//  2. Deploying: Argo CD has no Application for the app yet, or the
//     Application has not synced the commit dmls published last for the app
//     and environment (its revision is neither that commit nor a later
//     one), or a sync is running.
//  3. OutOfSync: the Application is at the published commit but the live
//     objects differ from git and no sync runs (a failed sync's message is
//     the reason).
//  4. Otherwise the Application is Synced at the published commit and the
//     workloads decide, each giving a state, and the worst of them wins in
//     the order Failed, Degraded, Deploying, Running, Serving, Succeeded:
//     - a TFJob: Failed when its Failed condition is true, Succeeded when
//     Succeeded is, Running when Running or Restarting is, and Deploying
//     while it only has Created, no conditions, or does not exist yet;
//     - a Knative Service or InferenceService: Serving when Ready is True,
//     Degraded when Ready is False, Deploying while Ready is Unknown or the
//     object does not exist yet;
//     - the Application's health: Degraded, when no workload already
//     explains it with Failed; Missing counts as Deploying.
//
// An app with no workload in the environment and a Healthy Application is
// Running. DoneState reports whether --wait may stop: Serving and Succeeded are
// done, Failed and Degraded are failures, everything else waits.
package status
