package build

import (
	"fmt"
	"reflect"

	"github.com/dmls-project/dmls/internal/admission"
	"github.com/dmls-project/dmls/internal/diag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// UpdateFindings runs the admission rules that only an update has on the
// objects head generates that base (the workspace at an earlier revision,
// as deployed) generates too: Knative refuses a Service whose revision
// template changed under its old revision name, and a CRD's transition
// rules refuse a change to an immutable field (a TrainJob's runtimeRef,
// trainer or initializer under its old run name), though each version
// alone is valid. Each finding is placed on head's spec line.
func UpdateFindings(base, head *Result) diag.List { return updateFindings(base, head, true) }

// CRDUpdateFindings is UpdateFindings without Knative's rules: only the
// CRDs' transition rules, which the API server itself enforces.
func CRDUpdateFindings(base, head *Result) diag.List { return updateFindings(base, head, false) }

func updateFindings(base, head *Result, knative bool) diag.List {
	var d diag.List
	schemas, err := admission.Default()
	if err != nil {
		return diag.List{{Message: err.Error()}}
	}
	was := map[string]*App{}
	for _, a := range base.Apps {
		was[a.App.Name] = a
	}
	for _, a := range head.Apps {
		b := was[a.App.Name]
		if b == nil {
			continue
		}
		for _, in := range a.App.Envs {
			env := in.Env.Name
			old := map[string]map[string]any{}
			for _, o := range b.Objects[env] {
				old[o.GroupVersionKind().GroupKind().String()+"/"+o.GetNamespace()+"/"+o.GetName()] = o.Object
			}
			for _, o := range a.Objects[env] {
				prev, ok := old[o.GroupVersionKind().GroupKind().String()+"/"+o.GetNamespace()+"/"+o.GetName()]
				if !ok || reflect.DeepEqual(prev, o.Object) {
					continue // new, or not updated
				}
				isKnative := o.GetKind() == "Service" && o.GroupVersionKind().Group == "serving.knative.dev"
				if !isKnative {
					for _, fe := range schemas.UpdateErrors(&unstructured.Unstructured{Object: prev}, o.Unstructured) {
						specPath, _ := o.Trace.Spec(fe.Changed)
						pos, specPath := in.Locate(specPath)
						d = append(d, diag.Diagnostic{Pos: pos, Path: specPath, Rule: RuleCRDSchema,
							Message: fmt.Sprintf("the API server would refuse the update of %s in environment %s: %s: %s; %s", o.ID(), env, fe.Field, firstLine(fe.Message), updateHint(o.GetKind()))})
					}
					continue
				}
				if !knative {
					continue
				}
				for _, fe := range admission.KnativeUpdateErrors(prev, o.Object) {
					specPath, _ := o.Trace.Spec(fe.Field)
					pos, specPath := in.Locate(specPath)
					d = append(d, diag.Diagnostic{Pos: pos, Path: specPath, Rule: RuleKnative,
						Message: fmt.Sprintf("Knative would refuse the update of %s in environment %s: %s: %s; give the new revision a new name", o.ID(), env, fe.Field, firstLine(fe.Message))})
				}
			}
		}
	}
	return d
}

// firstLine is s up to its first newline, without a trailing colon.
func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			s = s[:i]
			break
		}
	}
	for len(s) > 0 && (s[len(s)-1] == ':' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}

// updateHint says how to make an update that a transition rule refuses.
func updateHint(kind string) string {
	if kind == "TrainJob" {
		return "bump training.run, so that the change is a new run under a new name"
	}
	return "give the object a new name"
}
