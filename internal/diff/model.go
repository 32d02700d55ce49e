package diff

import (
	"fmt"
	"strings"

	"github.com/dmls-project/dmls/internal/spec"
)

// modelState is what a model service serves of a model from training (a
// model whose storage path ends in a run, <storageUri>/r<N>): the run
// that serves all or most of the traffic, and the canary's run and share.
// A run is named as its revision is ("r7"); "" is not known (KServe keeps
// the run it rolled out before in no object).
type modelState struct {
	serving string
	canary  string
	percent int
}

// runOf is the run a model's storage path ends in ("r7"), or "".
func runOf(p string) string {
	p = strings.TrimSuffix(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if spec.RevisionRun(p) == 0 {
		return ""
	}
	return p
}

// knativeModel reads the model from training of a Knative Service: the
// run its template mounts (the claim's sub path the generator writes),
// and the runs of its traffic targets (revisions <service>-r<N>). ok is
// false for a service that serves no model from training.
func knativeModel(o *object) (st modelState, ok bool) {
	run := ""
	for _, c := range list(get(o.m, "spec", "template", "spec", "containers")) {
		for _, m := range list(get(c, "volumeMounts")) {
			if r := runOf(str(m, "subPath")); r != "" {
				run = r
			}
		}
	}
	if run == "" {
		return st, false
	}
	rev := func(e any) string {
		if get(e, "latestRevision") == true || str(e, "revisionName") == "" {
			return run
		}
		return strings.TrimPrefix(str(e, "revisionName"), o.name+"-")
	}
	stable, canary := "", false
	for _, e := range list(get(o.m, "spec", "traffic")) {
		p, _ := num(get(e, "percent"))
		switch str(e, "tag") {
		case spec.TagCanary:
			st.canary, st.percent, canary = rev(e), p, true
		case spec.TagStable:
			stable = rev(e)
		default:
			if p == 100 {
				st.serving = rev(e)
			}
		}
	}
	switch {
	case canary && st.percent >= 100:
		st.serving, st.canary, st.percent = st.canary, "", 0
	case canary:
		st.serving = stable
	}
	return st, true
}

// kserveModel reads the model from training of a KServe
// InferenceService: the run of its storage URI, as a canary at
// canaryTrafficPercent when that is below 100.
func kserveModel(o *object) (modelState, bool) {
	run := runOf(str(o.m, "spec", "predictor", "model", "storageUri"))
	if run == "" {
		return modelState{}, false
	}
	p, ok := num(get(o.m, "spec", "predictor", "canaryTrafficPercent"))
	if !ok || p >= 100 {
		return modelState{serving: run}, true
	}
	return modelState{canary: run, percent: p}, true
}

// modelFacts names the change of a model from training in words, the
// way the release pipeline takes its steps: "serving model r6 → r7,
// canary 10%", "serving model r6 → r7, all traffic", "serving model
// rolled back to r6 (r7 had 10%)". b is nil when the base served no
// model from training; nil facts when the head serves none, or the same.
func modelFacts(b, h *modelState) []string {
	if h == nil {
		return nil
	}
	var base modelState
	if b != nil {
		base = *b
	}
	from := h.serving
	if from == "" {
		from = base.serving // KServe: the run served before the canary
	}
	wasCanary := base.canary != "" && base.percent > 0
	switch {
	case h.canary != "" && h.percent > 0:
		if wasCanary && base.canary == h.canary {
			if base.percent == h.percent {
				return nil
			}
			return []string{fmt.Sprintf("serving model %s, canary %d%%→%d%%", arrow(from, h.canary), base.percent, h.percent)}
		}
		return []string{fmt.Sprintf("serving model %s, canary %d%%", arrow(from, h.canary), h.percent)}
	case h.canary != "" && wasCanary && base.canary == h.canary:
		if from == "" {
			return []string{fmt.Sprintf("serving model rolled back from %s (it had %d%%)", h.canary, base.percent)}
		}
		return []string{fmt.Sprintf("serving model rolled back to %s (%s had %d%%)", from, h.canary, base.percent)}
	case h.serving == "":
		return nil
	case wasCanary && base.canary == h.serving:
		if base.serving == "" {
			return []string{fmt.Sprintf("serving model %s, all traffic (was a canary at %d%%)", h.serving, base.percent)}
		}
		return []string{fmt.Sprintf("serving model %s, all traffic", arrow(base.serving, h.serving))}
	case b == nil || base.serving != h.serving:
		return []string{fmt.Sprintf("serving model %s, all traffic", arrow(base.serving, h.serving))}
	}
	return nil
}

// arrow is "from → to", or to alone when nothing served before.
func arrow(from, to string) string {
	if from == "" || from == to {
		return to
	}
	return from + " → " + to
}

// modelOf reads o with read, nil when o is nil or serves no model from
// training.
func modelOf(o *object, read func(*object) (modelState, bool)) *modelState {
	if o == nil {
		return nil
	}
	st, ok := read(o)
	if !ok {
		return nil
	}
	return &st
}
