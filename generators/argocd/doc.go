// Package argocd generates the Argo CD Applications, AppProjects and
// settings that make Argo CD deploy what dmls publishes.
//
// # Layout
//
// Everything lives in the k8s-config repo, under its path prefix, and one
// Argo CD instance (in the platform's argocd.namespace) deploys every
// environment:
//
//	argocd/bootstrap/  the dmls-platform AppProject and the dmls-root
//	                   Application. The platform team applies this folder
//	                   once (kubectl apply -k); everything else comes from git.
//	argocd/shared/     what the Argo CD instance holds exactly once: the
//	                   AppProjects, the argocd-cm settings, and a root
//	                   Application per environment, dmls-root-<env>. Synced
//	                   by dmls-root.
//	argocd/<env>/      platform-<env> (the environment's team namespaces and
//	                   quotas) and <app>-<env> for every app deployed there.
//	                   Synced by dmls-root-<env>.
//
// AppProjects and argocd-cm are in argocd/shared, not in each environment's
// folder: they are singletons of the instance, and two roots syncing the
// same object would fight over it.
//
// # Projects
//
// Each team gets an AppProject named after it. Its destinations are the
// team's namespace in each environment, on that environment's cluster, and
// nothing else; two teams that would share a namespace on one cluster, or a
// team namespace that is Argo CD's, are an error. It may sync only the
// namespaced kinds the app generators produce (TeamKinds) and no
// cluster-scoped kind at all: a project that may sync Namespaces could
// relabel its own namespace (pod security, quotas), so namespaces come from
// the platform. The dmls-platform project holds what the platform team
// owns: platform-<env> (Namespaces, ResourceQuotas) and the roots
// (Applications, AppProjects, argocd-cm in Argo CD's namespace).
//
// # Sync
//
// Every Application syncs automatically with prune and selfHeal, by
// server-side apply (TFJob and Knative Service manifests are large, and
// server-side apply leaves fields of other managers alone), applying only
// out-of-sync objects, and retries five times with a backoff of 5s doubling
// up to 3m. syncOptions sit next to automated, not under it. Team
// Applications do not set CreateNamespace=true: their project may not create
// namespaces (see above), so the option would only turn "namespace not
// found" into "Namespace is not permitted in project". platform-<env>
// creates the namespaces, and the root syncs it first (see Waves).
//
// An app's Application has the resources finalizer, so removing the app
// from dmls deletes its objects; platform-<env> and the roots have none, so
// that removing an environment or a root never cascades into namespaces.
// Deletion and pruning use background propagation (the /background
// finalizer, PrunePropagationPolicy=background): an object goes at once and
// the garbage collector removes its dependents later, so a prune never waits
// on the collector.
//
// # Waves
//
// Within an Application, Annotate gives Namespaces and ResourceQuotas wave
// -1 and everything else wave 0. PersistentVolumeClaims stay in wave 0 with
// the workloads that mount them: a wave waits for its objects to be
// Healthy, and a claim of a WaitForFirstConsumer storage class stays Pending
// (Progressing) until a pod uses it, so a claim in an earlier wave than its
// pod would block the sync forever (argoproj/argo-cd#12840). Within one
// wave Argo CD applies known kinds first, so claims still go in before
// TFJobs and Knative Services. Namespaces and claims, which hold data, are
// never pruned or deleted by Argo CD (sync-options Prune=false,Delete=false,
// compare-options IgnoreExtraneous): removing them from dmls leaves them
// for a person to delete.
//
// Between Applications, the roots order their children with waves on the
// Application objects: AppProjects and argocd-cm at -1 before the
// environment roots; platform-<env> at -1 before the team Applications.
// Argo CD 1.8 and later only wait for a child Application's health if
// argocd-cm has a health check for Applications, so Settings carries one.
//
// # Training jobs and selfHeal
//
// A TFJob is named <app>-r<run>; a re-training bumps run, which makes a new
// object and prunes the old one. A finished TFJob stays in the cluster as
// long as it is in git: the operator's cleanPodPolicy frees its pods, and
// the health check in argocd-cm shows it Healthy (Succeeded) or Degraded
// (Failed). ttlSecondsAfterFinished does not fit this: when the operator
// deletes a finished job that is still in git, selfHeal recreates it and
// the training runs again, forever. No Argo CD option creates an object
// only once (Prune=false only stops deletion, IgnoreExtraneous only applies
// to objects that are not in git), so Check reports TFJobs that set
// ttlSecondsAfterFinished, for the build to reject.
//
// # Knative and ignoreDifferences
//
// Knative's admission webhook fills in fields that dmls leaves out: a
// readinessProbe, timeoutSeconds, containerConcurrency, enableServiceLinks,
// empty resources, the creator and lastModifier annotations (and traffic
// defaults, which dmls always sets itself). Inside the containers list,
// which both Argo CD's diffs replace as a whole, they show as drift. For
// each Knative Service, IgnoreDifferences runs Knative's own defaulting the
// way the webhook does and ignores exactly the fields it adds or changes.
// Fields dmls sets are never ignored, so changes to them still sync.
//
// The Applications do not set RespectIgnoreDifferences=true. For custom
// resources Argo CD copies ignored fields from the live object with a JSON
// merge patch, which replaces whole lists (argoproj/argo-cd#17694): with
// a field of containers[0] ignored, a new image or args in git would never
// be applied. Without it a sync applies git as it is and the webhook fills
// the same defaults in again. The creator annotation, which Knative does
// not let change, survives: the API server runs mutating admission after
// it records field ownership of a patch (kubernetes/kubernetes#87672), so
// what the webhook adds belongs to no field manager and Argo CD's next
// server-side apply leaves it alone.
//
// Argo CD 3.0 and later also feed the ignoreDifferences of argocd-cm's
// resource customizations into ignoreResourceUpdates
// (resource.compareoptions ignoreDifferencesOnResourceUpdates, on by
// default), so that a change to an ignored field no longer triggers a
// refresh. That is the system-level list only: dmls writes none. Its
// rules are the Applications' own spec.ignoreDifferences, which Argo CD
// 3.6 still uses for the diff alone; a change to a field the webhook
// defaulted still refreshes the Application, and still shows no drift.
// Since 3.6 an Application with ServerSideApply=true, as all of dmls's
// are, diffs by a server-side dry-run apply, which runs the cluster's
// mutating webhooks: where Knative's or KServe's webhook runs, the
// webhook's fields are in the predicted object too, and the rules ignore
// what would not differ anyway. They stay for Argo CD versions and
// Applications that diff on the client (compare-options
// ServerSideDiff=false).
//
// # Tracking
//
// Argo CD 3 tracks the objects of an Application with the
// argocd.argoproj.io/tracking-id annotation (argocd-cm
// application.resourceTrackingMethod, default annotation). dmls relies on
// that and does not set the key: it is an instance-wide choice, and
// switching an instance from label tracking can orphan the objects of
// other Applications (Argo CD's 2.14 to 3.0 upgrade notes). So an
// Application name is an object name (spec.MaxApplicationName, 253
// characters), not a label value (63): <app>-<env> may be up to 127. An
// instance that opts back into label tracking (application.
// resourceTrackingMethod: label) writes the name into the
// app.kubernetes.io/instance label, and an Application whose name is
// longer than 63 characters then fails to sync; keep <app>-<env> within 63
// there, or use annotation+label, which truncates the label.
//
// # Health
//
// Argo CD 3 no longer stores each object's health in the Application's
// status.resources (status.resourceHealthSource: appTree): it is in the
// resource tree, which the API server serves. dmls reads only the
// Application's own health (status.health), which 3.4 and later compute
// from the objects that exist: a missing object makes the Application
// OutOfSync, not Missing, unless every object is missing.
//
// # Settings
//
// Argo CD reads one argocd-cm per instance. Its keys that dmls writes are
// the two health checks of Settings, which Argo CD 3.6 still reads
// (resource.customizations.health.<group>_<kind>); dmls writes no
// repository settings there (Argo CD 3.0 removed them from argocd-cm;
// repositories are Secrets labelled
// argocd.argoproj.io/secret-type=repository, which the platform creates). dmls-root applies its keys by
// server-side apply, which leaves the keys of the Argo CD installation
// alone, and never prunes or deletes the ConfigMap. If something else
// (Helm, another Argo CD Application) manages argocd-cm, add Settings'
// keys there and drop configmap-argocd-cm.yaml from argocd/shared.
package argocd
