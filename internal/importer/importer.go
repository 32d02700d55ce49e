package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/generators/inferenceservice"
	"github.com/dmls-project/dmls/generators/kservice"
	"github.com/dmls-project/dmls/generators/tfjob"
	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/apis/trainerv1alpha1"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/diag"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/memfs"
	"github.com/dmls-project/dmls/internal/rules"
	"github.com/dmls-project/dmls/internal/schema"
	"github.com/dmls-project/dmls/internal/spec"
	"github.com/dmls-project/dmls/internal/workspace"
)

// Options tune Plan.
type Options struct {
	// App names the app; empty takes it from the objects' names.
	App string
	// Team owns a new app; empty takes the platform's only team.
	Team string
	// Env, when set, imports into an existing app as the override of this
	// environment: only what differs from the app's own settings.
	Env string
	// AllowLossy turns fields the spec cannot express into warnings.
	AllowLossy bool
	// KeepImported writes, into overrides.cue, the overrides that keep
	// the imported values that an environment's settings would change
	// (dev's minScale 0 over an imported min-scale 1); without it, each
	// such change is reported per environment.
	KeepImported bool
}

// Result is a planned import: the files to write, and what was lost.
type Result struct {
	App string
	// Dir is the app folder, relative to the workspace (apps/<app>).
	Dir string
	// Files are the spec files to create in Dir, by name.
	Files map[string][]byte
	// New is true when the import creates the app folder.
	New bool
	// Warnings list what --allow-lossy accepted, and translations that
	// change nothing in effect (such as a container's name).
	Warnings []Problem
}

var runName = regexp.MustCompile(`^([a-z]([-a-z0-9]*[a-z0-9])?)-r([0-9]+)$`)

// Plan imports docs into the workspace in fsys (named root in messages)
// without writing anything: it translates the objects, validates the spec
// with the workspace loader, renders it and compares the render with the
// input. Problems come back as an *Error.
func Plan(fsys fs.FS, root string, docs []Doc, opts Options) (*Result, error) {
	var hard, lossy, notes []Problem
	t := &translation{from: map[string]source{}, claims: map[string]Doc{}, claimUsed: map[string]bool{}}
	var job *kubeflowv1.TFJob
	var tj *trainerv1alpha1.TrainJob
	var ksvc *servingv1.Service
	var isvc *inferenceservice.InferenceService
	var jobDoc, svcDoc Doc
	for _, d := range docs {
		name, _ := nested(d.Obj, "metadata", "name").(string)
		switch k := kindOf(d.Obj); k {
		case kindTrainJob:
			if job != nil || tj != nil {
				hard = append(hard, Problem{Doc: d.String(), Message: "a second training job: an app has at most one; import each into its own app"})
				continue
			}
			jobDoc = d
			tj = &trainerv1alpha1.TrainJob{}
			h, l := crdProblems(d)
			hard, lossy = append(hard, h...), append(lossy, l...)
			if err := viaJSON(d.Obj, tj); err != nil {
				hard = append(hard, Problem{Doc: d.String(), Message: "not a valid TrainJob: " + err.Error()})
				tj = nil
				continue
			}
			hard = append(hard, trainJobProblems(d, tj)...)
		case kindTFJob:
			if job != nil || tj != nil {
				hard = append(hard, Problem{Doc: d.String(), Message: "a second TFJob: an app has at most one training job; import each into its own app"})
				continue
			}
			job = &kubeflowv1.TFJob{}
			jobDoc = d
			lossy = append(lossy, unknown(d, &kubeflowv1.TFJob{})...)
			if err := fromUnstructured(d.Obj, job); err != nil {
				hard = append(hard, Problem{Doc: d.String(), Message: "not a valid TFJob: " + err.Error()})
				job = nil
				continue
			}
			h, _ := crdProblems(d)
			hard = append(hard, h...)
			found, err := admission.TFJob(&unstructured.Unstructured{Object: d.Obj})
			if err != nil {
				hard = append(hard, Problem{Doc: d.String(), Message: err.Error()})
			}
			for _, f := range found {
				hard = append(hard, Problem{Doc: d.String(), Path: f.Field, Message: "the training operator rejects it: " + f.Message})
			}
			hard = append(hard, restartPolicies(d, job)...)
		case kindKService, kindISVC:
			if ksvc != nil || isvc != nil {
				hard = append(hard, Problem{Doc: d.String(), Message: "a second model service: an app has at most one; import each into its own app"})
				continue
			}
			svcDoc = d
			if k == kindKService {
				ksvc = &servingv1.Service{}
				lossy = append(lossy, unknown(d, &servingv1.Service{})...)
				if err := viaJSON(d.Obj, ksvc); err != nil {
					hard = append(hard, Problem{Doc: d.String(), Message: "not a valid Knative Service: " + err.Error()})
					ksvc = nil
					continue
				}
				hard = append(hard, knativeInvalid(d, ksvc)...)
			} else {
				isvc = &inferenceservice.InferenceService{}
				h, l := crdProblems(d)
				hard, lossy = append(hard, h...), append(lossy, l...)
				if err := viaJSON(d.Obj, isvc); err != nil {
					hard = append(hard, Problem{Doc: d.String(), Message: "not a valid InferenceService: " + err.Error()})
					isvc = nil
					continue
				}
				if err := inferenceservice.ValidateTyped(inferenceservice.DeepCopy(isvc)); err != nil {
					hard = append(hard, Problem{Doc: d.String(), Message: "KServe rejects it: " + err.Error()})
				}
			}
		case kindPVC:
			lossy = append(lossy, unknown(d, &corev1.PersistentVolumeClaim{})...)
			t.claims[name] = d
		case kindCM, kindSecret:
			what := "ConfigMaps"
			if k == kindSecret {
				what = "Secrets (they never go into git)"
			}
			lossy = append(lossy, Problem{Doc: d.String(), Message: fmt.Sprintf("not imported: dmls does not manage %s; keep %s in the cluster, and the objects that reference it keep their references only where the spec can say so", what, name)})
		default:
			av, _ := d.Obj["apiVersion"].(string)
			kd, _ := d.Obj["kind"].(string)
			field := "kind"
			if kd != "" && av != "" {
				field = "apiVersion"
			}
			hard = append(hard, Problem{Doc: d.String(), Path: field, Message: fmt.Sprintf("unknown kind %q of apiVersion %q: import reads kubeflow.org/v1 TFJob, trainer.kubeflow.org/v1alpha1 TrainJob, serving.knative.dev/v1 Service, serving.kserve.io/v1beta1 InferenceService, v1 PersistentVolumeClaim, ConfigMap and Secret", kd, av)})
		}
	}
	if job == nil && tj == nil && ksvc == nil && isvc == nil && len(hard) == 0 {
		hard = append(hard, Problem{Doc: "input", Message: "nothing to import: no TFJob, TrainJob, Knative Service or InferenceService"})
	}
	if len(hard) > 0 {
		return nil, &Error{Problems: append(hard, lossy...)}
	}

	// The app's name: given, or from the objects.
	app := opts.App
	run := int64(0)
	if app == "" {
		src := ""
		switch {
		case job != nil || tj != nil:
			src = jobName(job, tj)
			if m := runName.FindStringSubmatch(src); m != nil {
				src = m[1]
				fmt.Sscan(m[3], &run)
			}
			t.appFrom = jobDoc.String()
		case ksvc != nil:
			src, t.appFrom = ksvc.Name, svcDoc.String()
		default:
			src, t.appFrom = inferenceservice.Name(isvc), svcDoc.String()
		}
		app = src
	}
	if !schema.ValidAppName(app) && opts.App != "" {
		return nil, &Error{Problems: []Problem{{Doc: "--app", Message: fmt.Sprintf("app name %q is invalid: an app name is a DNS-1035 label of at most 63 characters (lower-case letters, digits and '-', starting with a letter), such as fashion-mnist", app)}}}
	}
	if !schema.ValidAppName(app) {
		return nil, &Error{Problems: []Problem{{Doc: orInput(t.appFrom), Path: "metadata.name", Message: fmt.Sprintf("app name %q is not a DNS-1035 label (lower-case letters, digits and '-', starting with a letter); set --app", app)}}}
	}

	ws, err := workspace.Load(fsys, root, workspace.Options{})
	if ws == nil || ws.Platform == nil || len(ws.Envs) == 0 {
		if err == nil {
			err = errors.New("no platform or environments")
		}
		return nil, fmt.Errorf("load workspace %s: %w", root, err)
	}
	dir := path.Join(layout.AppsDir, app)
	existing := ws.App(app)
	_, statErr := fs.Stat(fsys, dir)
	if opts.Env == "" && (existing != nil || statErr == nil) {
		where := dir
		if existing != nil {
			where = path.Join(layout.AppsDir, existing.Dir)
		}
		return nil, &Error{Problems: []Problem{{Doc: orInput(t.appFrom), Message: fmt.Sprintf("app %s already exists (%s); import into one environment of it with --env ENV, or name a new app with --app", app, filepath.Join(root, where))}}}
	}
	if opts.Env != "" {
		if ws.Env(opts.Env) == nil {
			return nil, fmt.Errorf("unknown environment %q", opts.Env)
		}
		if existing == nil && statErr == nil {
			// The folder is there but the app does not load: say why.
			var d diag.List
			if errors.As(err, &d) {
				var why []string
				for _, x := range d.Errors() {
					if strings.HasPrefix(x.Pos.File, filepath.Join(root, dir)+string(filepath.Separator)) || x.Pos.File == filepath.Join(root, dir) {
						why = append(why, x.String())
					}
				}
				if len(why) > 0 {
					return nil, fmt.Errorf("--env %s imports into an existing app, and app %s in %s does not load; fix it first:\n%s", opts.Env, app, filepath.Join(root, dir), strings.Join(why, "\n"))
				}
			}
		}
		if existing == nil {
			return nil, fmt.Errorf("--env %s imports into an existing app, and there is no app %s; import without --env first", opts.Env, app)
		}
		dir = path.Join(layout.AppsDir, existing.Dir)
	}
	team := opts.Team
	if existing != nil {
		team = existing.Team
	}
	if team == "" {
		if len(ws.Platform.Teams) != 1 {
			return nil, fmt.Errorf("set --team: the platform has teams %s", strings.Join(slices.Sorted(maps.Keys(ws.Platform.Teams)), ", "))
		}
		team = slices.Sorted(maps.Keys(ws.Platform.Teams))[0]
	}

	// Translate.
	if job != nil || tj != nil {
		kind := "TFJob"
		if tj != nil {
			kind = "TrainJob"
			t.trainjob(jobDoc, tj, app)
		} else {
			t.tfjob(jobDoc, job, app)
		}
		if name := jobName(job, tj); name != spec.TFJobName(app, max(1, int(run))) || opts.Env != "" && name != spec.TFJobName(app, 1) {
			t.training.set("name", name, "keeps the "+kind+"'s own name instead of "+spec.TFJobName(app, 1))
			t.record("training.name", jobDoc, "metadata.name")
		} else if run > 1 {
			t.training.set("run", run, "from the "+kind+"'s name "+jobName(job, tj))
			t.record("training.run", jobDoc, "metadata.name")
		}
		orderFields(t.training, "name", "run", "framework", "runtime", "image", "imagePullPolicy", "command", "args", "hyperparameters", "env", "volumes", "resources", "numNodes", "numProcPerNode", "resourcesPerNode", "initializer", "nodeSelector", "tolerations", "podMetadata", "replicas", "restartPolicy", "cleanPodPolicy")
	}
	if ksvc != nil {
		t.knative(svcDoc, ksvc, app)
	}
	if isvc != nil {
		t.kserve(svcDoc, isvc, app)
		if meta, _ := inferenceservice.Parts(isvc); meta.Annotations[inferenceservice.AnnotationDeploymentMode] == "" {
			notes = append(notes, Problem{Doc: svcDoc.String(), Path: "metadata.annotations", Message: "no " + inferenceservice.AnnotationDeploymentMode + " annotation: KServe's default applied, which differs between installations; the environment's serving.deploymentMode applies now"})
		}
	}
	for name, d := range t.claims {
		if !t.claimUsed[name] {
			lossy = append(lossy, Problem{Doc: d.String(), Message: "not imported: no training volume mounts claim " + name + "; dmls creates the claims of training volumes only"})
		}
	}
	labels := map[string]string{}
	for _, d := range []*Doc{t.jobDoc, t.svcDoc} {
		if d == nil {
			continue
		}
		if l, ok := nested(d.Obj, "metadata", "labels").(map[string]any); ok {
			for k, v := range l {
				// Kueue's labels are the training's scheduling.
				if _, seen := labels[k]; !seen && !strings.HasPrefix(k, "dmls.dev/") && !strings.HasPrefix(k, "kueue.x-k8s.io/") {
					labels[k], _ = v.(string)
				}
			}
		}
	}

	res := &Result{App: app, Dir: dir, Files: map[string][]byte{}, New: opts.Env == ""}
	appNode := &node{}
	appNode.set("name", app)
	appNode.set("team", team)
	if len(labels) > 0 {
		ln := &node{}
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			ln.set(k, labels[k])
		}
		appNode.set("labels", ln, "the objects' own labels")
	}
	header := "Imported by dmls import from " + sourcesOf(docs) + "."
	if opts.Env == "" {
		if res.Files["app.cue"], err = formatCUE(header, appNode); err != nil {
			return nil, err
		}
		if t.training != nil {
			n := &node{}
			n.set("training", t.training)
			if res.Files["training.cue"], err = formatCUE(header, n); err != nil {
				return nil, err
			}
		}
		if t.serving != nil {
			n := &node{}
			n.set("serving", t.serving)
			if res.Files["serving.cue"], err = formatCUE(header, n); err != nil {
				return nil, err
			}
		}
	} else {
		over, err := overrideOf(existing, t)
		if err != nil {
			return nil, err
		}
		if over.empty() {
			return nil, &Error{Problems: []Problem{{Doc: orInput(t.appFrom), Message: fmt.Sprintf("nothing differs from app %s's own settings; there is no override to write for %s", app, opts.Env)}}}
		}
		n := &node{}
		n.sub("overrides").set(opts.Env, over)
		name := "overrides-" + opts.Env + ".cue"
		if _, err := fs.Stat(fsys, path.Join(dir, name)); err == nil {
			return nil, fmt.Errorf("%s exists; remove it or move its settings first (import never overwrites a file)", filepath.Join(root, dir, name))
		}
		if res.Files[name], err = formatCUE(header+"\nOnly what differs from the app's own settings in "+opts.Env+".", n); err != nil {
			return nil, err
		}
	}

	// Validate with the loader the CLI uses, then render and compare.
	mfs, err := overlay(fsys, dir, res.Files, res.New, ws.Platform)
	if err != nil {
		return nil, err
	}
	ws2, err := workspace.Load(mfs, root, workspace.Options{})
	prefix := filepath.Join(root, filepath.FromSlash(dir)) + string(filepath.Separator)
	var d diag.List
	if err != nil && !errors.As(err, &d) {
		return nil, err
	}
	for _, x := range d {
		if strings.HasPrefix(x.Pos.File, prefix) || x.Pos.File == strings.TrimSuffix(prefix, string(filepath.Separator)) {
			hard = append(hard, t.specProblem(x))
		}
	}
	var a *spec.App
	if ws2 != nil {
		a = ws2.App(app)
	}
	if a == nil && len(hard) == 0 {
		hard = append(hard, Problem{Doc: "input", Message: fmt.Sprintf("the imported app did not load: %v", err)})
	}
	if len(hard) > 0 {
		return nil, &Error{Problems: append(hard, lossy...)}
	}
	if _, err := build.BuildApp(ws2.Platform, a); err != nil {
		if errors.As(err, &d) {
			for _, x := range d {
				hard = append(hard, t.specProblem(x))
			}
			return nil, &Error{Problems: append(hard, lossy...)}
		}
		return nil, err
	}
	in := a.Base
	if opts.Env != "" {
		in = a.Instance(opts.Env)
		if in == nil {
			return nil, fmt.Errorf("app %s does not run in environment %s", app, opts.Env)
		}
	}
	objs, err := build.Generate(ws2.Platform, in)
	if err != nil {
		return nil, err
	}
	inputs := []*Doc{t.jobDoc, t.svcDoc}
	for name := range t.claimUsed {
		d := t.claims[name]
		inputs = append(inputs, &d)
	}
	err = inputDiffs(objs, inputs, inputHandlers{
		missing: func(d *Doc) {
			lossy = append(lossy, Problem{Doc: d.String(), Message: "the render has no object for it"})
		},
		note: func(d *Doc, df difference, note string) {
			notes = append(notes, Problem{Doc: d.String(), Path: df.path, Message: note})
		},
		diff: func(d *Doc, _ generators.Object, df difference) {
			lossy = append(lossy, Problem{Doc: d.String(), Path: df.path, Message: df.message()})
		},
	})
	if err != nil {
		return nil, err
	}
	if len(lossy) > 0 && !opts.AllowLossy {
		return nil, &Error{Problems: lossy, Lossy: true}
	}
	// The team's quota, by the rules of each environment (Kueue's
	// included): an import that puts the team over it fails as validate
	// would.
	if over := newQuotaErrors(ws, ws2); len(over) > 0 {
		for _, x := range over {
			hard = append(hard, Problem{Doc: orInput(t.appFrom), Path: x.Path, Message: fmt.Sprintf("%s (%s)", x.Message, x.Pos)})
		}
		return nil, &Error{Problems: hard}
	}
	if opts.KeepImported && opts.Env == "" {
		kept, err := keepImported(ws2, a, inputs)
		if err != nil {
			return nil, err
		}
		if len(kept) > 0 {
			n := &node{}
			ov := n.sub("overrides")
			for _, k := range kept {
				setPath(ov.sub(k.env), k.path, k.value)
			}
			if res.Files["overrides.cue"], err = formatCUE(header+"\nThe values the environments' settings would change, kept as imported (--keep-imported).", n); err != nil {
				return nil, err
			}
			mfs, err := overlay(fsys, dir, res.Files, res.New, ws.Platform)
			if err != nil {
				return nil, err
			}
			ws3, err := workspace.Load(mfs, root, workspace.Options{})
			if ws3 == nil || ws3.App(app) == nil {
				return nil, fmt.Errorf("the imported app with the kept values did not load: %v", err)
			}
			var d diag.List
			if errors.As(err, &d) {
				for _, x := range d.Errors() {
					if strings.HasPrefix(x.Pos.File, prefix) {
						hard = append(hard, Problem{Doc: orInput(t.appFrom), Path: x.Path, Message: x.Message + " (with the kept values)"})
					}
				}
				if len(hard) > 0 {
					return nil, &Error{Problems: hard}
				}
			}
			ws2, a = ws3, ws3.App(app)
			for _, k := range kept {
				notes = append(notes, Problem{Doc: k.doc, Path: k.field, Message: fmt.Sprintf("in environment %s, kept the imported value: overrides.%s.%s: %s", k.env, k.env, k.path, show(k.value))})
			}
		}
	}
	envNotes, err := envAdjustments(ws2, a, opts.Env, inputs)
	if err != nil {
		return nil, err
	}
	res.Warnings = append(append(lossy, notes...), envNotes...)
	return res, nil
}

// newQuotaErrors returns the quota errors of the workspace after the
// import (after) that it did not have before (before): the team's apps no
// longer fit its quota in some environment.
func newQuotaErrors(before, after *spec.Workspace) diag.List {
	had := map[string]bool{}
	for _, x := range rules.Quotas(before).Errors() {
		had[x.Path+"\x00"+x.Message] = true
	}
	var out diag.List
	for _, x := range rules.Quotas(after).Errors() {
		if !had[x.Path+"\x00"+x.Message] {
			out = append(out, x)
		}
	}
	return out
}

// envAdjustments renders the imported app in each of its environments
// (only env, when set) and reports, per environment, every field where
// the environment's settings change what was imported: dev's minScale 0
// over an imported min-scale of 1, GPU placement, a Kueue queue. The base
// render is proven lossless already; these are what the environments do
// to it, so that the import tells the truth about each.
func envAdjustments(ws *spec.Workspace, a *spec.App, env string, inputs []*Doc) ([]Problem, error) {
	var out []Problem
	for _, in := range a.Envs {
		if env != "" && in.Env.Name != env {
			continue
		}
		objs, err := build.Generate(ws.Platform, in)
		if err != nil {
			return nil, err
		}
		err = inputDiffs(objs, inputs, inputHandlers{diff: func(d *Doc, _ generators.Object, df difference) {
			out = append(out, Problem{Doc: d.String(), Path: df.path, Message: fmt.Sprintf("in environment %s, its settings make this %s (imported: %s); an override of %s keeps the imported value", in.Env.Name, show(df.out), show(df.in), in.Env.Name)})
		}})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func orInput(s string) string {
	if s == "" {
		return "input"
	}
	return s
}

func sourcesOf(docs []Doc) string {
	seen := map[string]bool{}
	var files []string
	for _, d := range docs {
		if !seen[d.File] {
			seen[d.File] = true
			files = append(files, filepath.Base(d.File))
		}
	}
	return strings.Join(files, ", ")
}

// specProblem places a loader finding about the imported spec on the
// input document and field it came from.
func (t *translation) specProblem(x diag.Diagnostic) Problem {
	if s, ok := t.lookup(x.Path); ok {
		return Problem{Doc: s.doc, Path: s.path, Message: fmt.Sprintf("%s (as %s in the imported spec)", x.Message, x.Path)}
	}
	return Problem{Doc: orInput(t.appFrom), Path: x.Path, Message: x.Message}
}

func unknown(d Doc, typed any) []Problem {
	var out []Problem
	for _, f := range unknownFields(d.Obj, typed) {
		out = append(out, Problem{Doc: d.String(), Path: f, Message: "unknown field: the upstream type has no such field, so a dmls spec cannot express it and the API server would drop it"})
	}
	return out
}

// crdProblems checks an input object against its CRD's schema as the API
// server would (internal/admission): fields the schema does not know are
// lossy (a spec cannot express them, and the server would drop them),
// everything else is invalid input.
func crdProblems(d Doc) (hard, lossy []Problem) {
	schemas, err := admission.Default()
	if err != nil {
		return []Problem{{Doc: d.String(), Message: err.Error()}}, nil
	}
	u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(d.Obj)}
	if u.GetNamespace() == "" {
		u.SetNamespace("default")
	}
	for _, f := range schemas.Validate(u) {
		p := Problem{Doc: d.String(), Path: f.Field, Message: f.Message}
		if strings.HasPrefix(f.Message, "unknown field") {
			p.Message = "unknown field: the CRD's schema has no " + f.Field + ", so a dmls spec cannot express it and the API server would drop it"
			lossy = append(lossy, p)
			continue
		}
		hard = append(hard, p)
	}
	return hard, lossy
}

// restartPolicies refuses restart policies the training operator does not
// know (its webhook lets them through).
func restartPolicies(d Doc, job *kubeflowv1.TFJob) []Problem {
	var out []Problem
	var keys []string
	for k := range job.Spec.TFReplicaSpecs {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		rs := job.Spec.TFReplicaSpecs[kubeflowv1.ReplicaType(k)]
		if rs == nil {
			continue
		}
		switch rs.RestartPolicy {
		case "", kubeflowv1.RestartPolicyAlways, kubeflowv1.RestartPolicyOnFailure, kubeflowv1.RestartPolicyNever, kubeflowv1.RestartPolicyExitCode:
		default:
			out = append(out, Problem{Doc: d.String(), Path: "spec.tfReplicaSpecs." + k + ".restartPolicy",
				Message: fmt.Sprintf("unknown restart policy %q: must be Never, OnFailure, Always or ExitCode", rs.RestartPolicy)})
		}
	}
	return out
}

// knativeInvalid runs Knative's admission validation on an input Service.
func knativeInvalid(d Doc, svc *servingv1.Service) []Problem {
	fctx, err := serviceFeatures(svc)
	if err != nil {
		return []Problem{{Doc: d.String(), Message: err.Error()}}
	}
	ctx := apis.WithinCreate(fctx)
	cp := svc.DeepCopy()
	if cp.Namespace == "" {
		cp.Namespace = "default"
	}
	// As Knative's webhook does: defaults first, then validation.
	cp.SetDefaults(ctx)
	var out []Problem
	for _, e := range admission.KnativeFindings(cp.Validate(ctx)) {
		if !e.Warning {
			out = append(out, Problem{Doc: d.String(), Path: e.Field, Message: "Knative rejects it: " + e.Message})
		}
	}
	return out
}

// matchObj finds the rendered object that corresponds to an input
// object, with the trace of its fields.
func matchObj(objs []generators.Object, in map[string]any) (generators.Object, bool) {
	k := kindOf(in)
	name, _ := nested(in, "metadata", "name").(string)
	for _, o := range objs {
		if kindOf(o.Object) != k {
			continue
		}
		if k == kindPVC && o.GetName() != name {
			continue
		}
		return o, true
	}
	return generators.Object{}, false
}

// compare lists the differences between an input object and its render,
// each after the upstream type's defaulting, ignoring what dmls adds
// (its labels and annotations) and the namespace.
func compare(in, out map[string]any) ([]difference, error) {
	drop := map[string]string{}
	for _, key := range []string{"labels", "annotations"} {
		if m, ok := nested(out, "metadata", key).(map[string]any); ok {
			for k, v := range m {
				drop[k], _ = v.(string)
			}
		}
	}
	switch kindOf(out) {
	case kindTFJob:
		out = withoutScratch(out)
	case kindTrainJob:
		// What dmls's patch writes by policy, on both sides: an input
		// that dmls rendered carries it too.
		in, out = withoutPolicyPatch(in), withoutPolicyPatch(out)
	}
	ci, err := Canonical(in, drop)
	if err != nil {
		return nil, err
	}
	co, err := Canonical(out, drop)
	if err != nil {
		return nil, err
	}
	var diffs []difference
	diff("", ci, co, &diffs)
	return diffs, nil
}

// withoutScratch returns a copy of a rendered TFJob without what the
// restricted security context brings along (generators/tfjob): the /tmp
// emptyDir, its mount and HOME=/tmp. They follow from the policy, not
// from the spec an import writes.
func withoutScratch(obj map[string]any) map[string]any {
	obj = runtime.DeepCopyJSON(obj)
	specs, _ := nested(obj, "spec", "tfReplicaSpecs").(map[string]any)
	for _, rs := range specs {
		pod, _ := nested(asMap(rs), "template", "spec").(map[string]any)
		if pod == nil {
			continue
		}
		pod["volumes"] = keep(pod["volumes"], func(m map[string]any) bool { return m["name"] != tfjob.TmpVolume || m["emptyDir"] == nil })
		cs, _ := pod["containers"].([]any)
		for _, c := range cs {
			c, _ := c.(map[string]any)
			if c == nil {
				continue
			}
			c["volumeMounts"] = keep(c["volumeMounts"], func(m map[string]any) bool { return m["name"] != tfjob.TmpVolume })
			c["env"] = keep(c["env"], func(m map[string]any) bool { return m["name"] != "HOME" || m["value"] != "/tmp" })
		}
	}
	return obj
}

// keep filters a list of objects; an emptied list is dropped.
func keep(list any, ok func(map[string]any) bool) any {
	l, _ := list.([]any)
	var out []any
	for _, v := range l {
		if m, _ := v.(map[string]any); m == nil || ok(m) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// normalization recognises differences that change nothing in effect,
// which an import reports but does not refuse.
func normalization(kind string, d difference) (string, bool) {
	p := d.path
	if (kind == kindTFJob || kind == kindISVC) && strings.Contains(p, ".securityContext") && d.in == nil {
		return "dmls adds a restricted securityContext (" + show(d.out) + ")", true
	}
	if (kind == kindTFJob || kind == kindTrainJob) && strings.HasPrefix(p, "metadata.labels") && d.out == nil && kueueLabels(d.in) {
		return "Kueue's labels " + show(d.in) + " come from training.scheduling in the environments whose scheduler is kueue", true
	}
	if kind != kindKService {
		return "", false
	}
	switch {
	case strings.HasSuffix(p, ".name") && strings.HasPrefix(p, "spec.template.spec.containers["):
		return fmt.Sprintf("the container is named %s now (was %s); Knative does not route by container name", show(d.out), show(d.in)), true
	case strings.Contains(p, ".securityContext") && d.in == nil:
		return "dmls adds a restricted securityContext (" + show(d.out) + ")", true
	case strings.HasSuffix(p, ".ports") && d.in == nil:
		return "dmls names the port Knative serves on: " + show(d.out), true
	case strings.HasPrefix(p, "spec.traffic[") && strings.HasSuffix(p, ".tag") && d.in == nil && d.out == spec.TagCurrent:
		return "dmls tags the main route \"current\" (an extra URL, current-<service>)", true
	}
	return "", false
}

// overrideOf returns what the imported spec sets differently from the
// existing app's own settings: the override of one environment.
func overrideOf(existing *spec.App, t *translation) (*node, error) {
	over := &node{}
	for _, sec := range []struct {
		name string
		n    *node
		have any
	}{{"training", t.training, existing.Base.Spec.Training}, {"serving", t.serving, existing.Base.Spec.Serving}} {
		if sec.n == nil {
			continue
		}
		var have map[string]any
		b, _ := json.Marshal(sec.have)
		_ = json.Unmarshal(b, &have)
		want := sec.n.toAny()
		d := diffMaps(have, want)
		if len(d) > 0 {
			over.set(sec.name, fromAny(d))
		}
	}
	return over, nil
}

// diffMaps returns the parts of want that differ from have: maps field by
// field, everything else whole.
func diffMaps(have, want map[string]any) map[string]any {
	out := map[string]any{}
	for k, w := range want {
		h := have[k]
		wm, wok := w.(map[string]any)
		hm, hok := h.(map[string]any)
		if wok && hok {
			if d := diffMaps(hm, wm); len(d) > 0 {
				out[k] = d
			}
			continue
		}
		wb, _ := json.Marshal(w)
		hb, _ := json.Marshal(h)
		if string(wb) != string(hb) {
			out[k] = w
		}
	}
	return out
}

// overlay returns the workspace's spec files, and the files of the
// platform components' workspace charts, with the import's files added, in
// memory, for the loader.
func overlay(fsys fs.FS, dir string, files map[string][]byte, isNew bool, p *spec.Platform) (fs.FS, error) {
	m := map[string][]byte{}
	if p != nil {
		for _, name := range slices.Sorted(maps.Keys(p.Components)) {
			c := p.Components[name].Chart
			if c == nil {
				continue
			}
			err := fs.WalkDir(fsys, c.Path, func(q string, e fs.DirEntry, err error) error {
				if err != nil || !e.Type().IsRegular() {
					return err
				}
				b, err := fs.ReadFile(fsys, q)
				if err != nil {
					return err
				}
				m[q] = b
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("read chart %s of component %s: %w", c.Path, name, err)
			}
		}
	}
	err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		depth := strings.Count(p, "/")
		if e.IsDir() {
			if p == "." || p == layout.OverlaysDir || p == layout.AppsDir || (strings.HasPrefix(p, layout.AppsDir+"/") && depth == 1) {
				return nil
			}
			return fs.SkipDir
		}
		if e.Type()&fs.ModeSymlink != 0 || !e.Type().IsRegular() {
			return nil
		}
		if !layout.IsSpecFile(p) {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read workspace: %w", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m[path.Join(dir, n)] = files[n]
	}
	return memfs.New(m), nil
}

// Write creates the planned files under the workspace folder root, all or
// nothing: a new app folder is written in full under a temporary name and
// renamed into place; a file in an existing app is linked into place, so
// that an existing file is never replaced.
func Write(root string, res *Result) error {
	target := filepath.Join(root, filepath.FromSlash(res.Dir))
	if res.New {
		if _, err := os.Lstat(target); err == nil {
			return fmt.Errorf("%s exists; import never replaces an app folder", target)
		}
		apps := filepath.Dir(target)
		if err := os.MkdirAll(apps, 0o755); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp(apps, ".import-"+res.App+"-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		for _, n := range slices.Sorted(maps.Keys(res.Files)) {
			if err := writeSync(filepath.Join(tmp, n), res.Files[n]); err != nil {
				return err
			}
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		if err := os.Rename(tmp, target); err != nil {
			return fmt.Errorf("move the app into place: %w", err)
		}
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(res.Files)) {
		final := filepath.Join(target, n)
		tmp := filepath.Join(target, "."+n+".import-tmp")
		if err := writeSync(tmp, res.Files[n]); err != nil {
			os.Remove(tmp)
			return err
		}
		err := os.Link(tmp, final)
		os.Remove(tmp)
		if err != nil {
			return fmt.Errorf("write %s: %w", final, err)
		}
	}
	return nil
}

func writeSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// serviceFeatures is a context with the Knative config-features that svc
// uses (kservice.Features): the imported Service becomes a generated one,
// and the Knative install enables what the generated Services use.
func serviceFeatures(svc *servingv1.Service) (context.Context, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(svc)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(servingv1.SchemeGroupVersion.WithKind("Service"))
	features, err := kservice.Features(generators.Object{Unstructured: u})
	if err != nil {
		return nil, err
	}
	return admission.WithKnativeFeatures(context.Background(), features)
}

// jobName is the name of the training job of an import.
func jobName(job *kubeflowv1.TFJob, tj *trainerv1alpha1.TrainJob) string {
	if job != nil {
		return job.Name
	}
	if tj != nil && tj.Metadata != nil {
		return tj.Metadata.Name
	}
	return ""
}

// kueueLabels reports whether v is a label or a map of labels that Kueue
// reads (kueue.x-k8s.io/...).
func kueueLabels(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		_, isString := v.(string)
		return isString
	}
	for k := range m {
		if !strings.HasPrefix(k, "kueue.x-k8s.io/") {
			return false
		}
	}
	return len(m) > 0
}

// keptValue is a spec value an environment changes that an import keeps
// as imported, in the environment's overrides.
type keptValue struct {
	env, path string
	value     any
	// doc and field are the input document and field it shows in.
	doc, field string
}

// keepImported finds, per environment, the spec fields whose value the
// environment's settings change from the imported one (the base's) and
// that the rendered field comes from: the overrides that keep the
// imported values. A difference no spec field sets alone (placement, a
// queue) cannot be kept, and stays a note of envAdjustments.
func keepImported(ws *spec.Workspace, a *spec.App, inputs []*Doc) ([]keptValue, error) {
	base, err := specMap(a.Base.Spec)
	if err != nil {
		return nil, err
	}
	var out []keptValue
	seen := map[string]bool{}
	for _, in := range a.Envs {
		envSpec, err := specMap(in.Spec)
		if err != nil {
			return nil, err
		}
		objs, err := build.Generate(ws.Platform, in)
		if err != nil {
			return nil, err
		}
		err = inputDiffs(objs, inputs, inputHandlers{diff: func(d *Doc, o generators.Object, df difference) {
			sp, ok := o.Trace.Spec(df.path)
			if !ok {
				return
			}
			bv, bok := pathValue(base, sp)
			ev, _ := pathValue(envSpec, sp)
			if !bok || reflect.DeepEqual(bv, ev) || seen[in.Env.Name+"\x00"+sp] {
				return
			}
			seen[in.Env.Name+"\x00"+sp] = true
			out = append(out, keptValue{env: in.Env.Name, path: sp, value: bv, doc: d.String(), field: df.path})
		}})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].env != out[j].env {
			return out[i].env < out[j].env
		}
		return out[i].path < out[j].path
	})
	return out, nil
}

// specMap is an app's spec as JSON values.
func specMap(s *spec.AppSpec) (map[string]any, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, utiljson.Unmarshal(b, &m)
}

// pathValue is the value at a dotted spec path of m.
func pathValue(m map[string]any, p string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(p, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setPath sets the value at a dotted spec path under n.
func setPath(n *node, p string, v any) {
	keys := strings.Split(p, ".")
	for _, k := range keys[:len(keys)-1] {
		n = n.sub(k)
	}
	n.set(keys[len(keys)-1], fromAnyValue(v))
}

// inputHandlers are what inputDiffs does with each finding; a nil handler
// skips its findings.
type inputHandlers struct {
	// missing: the render has no object for the document.
	missing func(d *Doc)
	// note: a difference that changes nothing in effect (normalization).
	note func(d *Doc, df difference, note string)
	// diff: any other difference, with the rendered object and its trace.
	diff func(d *Doc, o generators.Object, df difference)
}

// inputDiffs compares each input document with its render among objs,
// after upstream defaulting, and hands each finding to h: the one
// comparison that the proof of an import, its environments' notes and
// --keep-imported share.
func inputDiffs(objs []generators.Object, inputs []*Doc, h inputHandlers) error {
	for _, d := range inputs {
		if d == nil {
			continue
		}
		o, ok := matchObj(objs, d.Obj)
		if !ok {
			if h.missing != nil {
				h.missing(d)
			}
			continue
		}
		diffs, err := compare(d.Obj, o.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		for _, df := range diffs {
			if note, ok := normalization(kindOf(d.Obj), df); ok {
				if h.note != nil {
					h.note(d, df, note)
				}
				continue
			}
			if h.diff != nil {
				h.diff(d, o, df)
			}
		}
	}
	return nil
}
