package provenance

import (
	"reflect"
	"testing"
)

// TestLookup finds the position of a spec path: its own, or its nearest
// written ancestor's, through fields and list indices alike.
func TestLookup(t *testing.T) {
	app := Pos{File: "apps/mnist/app.cue", Line: 1, Col: 1}
	training := Pos{File: "apps/mnist/training.cue", Line: 3, Col: 2}
	workers := Pos{File: "apps/mnist/training.cue", Line: 9, Col: 30}
	args := Pos{File: "apps/mnist/training.cue", Line: 5, Col: 7}
	arg1 := Pos{File: "apps/mnist/training.cue", Line: 5, Col: 20}
	volume := Pos{File: "apps/mnist/volumes.cue", Line: 2, Col: 4}
	m := Map{}
	m.Set("training", training)
	m.Set("training.replicas.worker.replicas", workers)
	m.Set("training.args", args)
	m.Set("training.args[1]", arg1)
	m.Set(`training.volumes["my.data"]`, volume)
	m.Set("serving", Pos{}) // no file: not recorded

	withRoot := m.Clone()
	withRoot.Set("", app)

	tests := []struct {
		name string
		m    Map
		path string
		want Pos
		ok   bool
	}{
		{"exact path", m, "training.replicas.worker.replicas", workers, true},
		{"exact top-level field", m, "training", training, true},
		{"a child of a known path", m, "training.replicas.worker.replicas.extra", workers, true},
		{"a sibling falls back to the common ancestor", m, "training.replicas.chief.replicas", training, true},
		{"a list index written itself", m, "training.args[1]", arg1, true},
		{"a list index not written falls back to the list", m, "training.args[0]", args, true},
		{"a field of a list element", m, "training.args[3].name", args, true},
		{"a quoted label with a dot", m, `training.volumes["my.data"]`, volume, true},
		{"under a quoted label with a dot", m, `training.volumes["my.data"].mountPath`, volume, true},
		{"a path whose name extends a known one is no child", m, "trainingx.image", Pos{}, false},
		{"unknown, no root", m, "serving.model.storageUri", Pos{}, false},
		{"an invalid position was never set", m, "serving", Pos{}, false},
		{"unknown, the root answers", withRoot, "serving.model.storageUri", app, true},
		{"the empty path is the root", withRoot, "", app, true},
		{"the empty path without a root", m, "", Pos{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.m.Lookup(tt.path)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{File: "platform.cue", Line: 12, Col: 3}, "platform.cue:12:3"},
		{Pos{File: "platform.cue"}, "platform.cue:1:1"}, // the file as a whole
		{Pos{}, "-"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		elems []string
		want  string
	}{
		{[]string{"training", "replicas", "worker"}, "training.replicas.worker"},
		{[]string{"training.args", "[2]"}, "training.args[2]"},
		{[]string{"", "overrides", "", "prod"}, "overrides.prod"},
		{[]string{"[0]", "name"}, "[0].name"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Join(tt.elems...); got != tt.want {
			t.Errorf("Join(%q) = %q, want %q", tt.elems, got, tt.want)
		}
	}
}

// TestSubAndOverlay moves the positions of one subtree under another
// prefix, as the loader does with an environment's overrides.
func TestSubAndOverlay(t *testing.T) {
	p := func(line int) Pos { return Pos{File: "apps/a/app.cue", Line: line} }
	m := Map{
		"overrides.prod":                           p(1),
		"overrides.prod.training.replicas":         p(2),
		"overrides.prod.training.args[0]":          p(3),
		"overrides.production.training.replicas":   p(4), // a name that extends prod: not under it
		"overrides.staging.serving.traffic.stable": p(5),
	}
	sub := m.Sub("overrides.prod")
	want := Map{"": p(1), "training.replicas": p(2), "training.args[0]": p(3)}
	if !reflect.DeepEqual(sub, want) {
		t.Fatalf("Sub = %v, want %v", sub, want)
	}
	if all := m.Sub(""); !reflect.DeepEqual(all, m) {
		t.Errorf("Sub(\"\") = %v, want all of %v", all, m)
	}
	if list := (Map{"args[0]": p(1), "args": p(2)}).Sub("args"); !reflect.DeepEqual(list, Map{"": p(2), "[0]": p(1)}) {
		t.Errorf("Sub of a list = %v", list)
	}

	base := Map{"training.replicas": p(9), "training.image": p(10)}
	base.Overlay("", sub)
	if got := base["training.replicas"]; got != p(2) {
		t.Errorf("Overlay kept %v for training.replicas, want the override's %v", got, p(2))
	}
	if got := base["training.image"]; got != p(10) {
		t.Errorf("Overlay lost training.image: %v", got)
	}
	if got, _ := base.Lookup("training.args[0]"); got != p(3) {
		t.Errorf("Lookup after Overlay = %v, want %v", got, p(3))
	}
	moved := Map{}
	moved.Overlay("apps.a", Map{"training": p(7)})
	if got := moved["apps.a.training"]; got != p(7) {
		t.Errorf("Overlay under a prefix: %v", moved)
	}

	clone := base.Clone()
	clone["training.image"] = p(99)
	if base["training.image"] != p(10) {
		t.Error("Clone shares its entries with the original")
	}
}

// TestTrace maps a generated object's fields back to spec paths, through
// the nearest recorded ancestor.
func TestTrace(t *testing.T) {
	var tr Trace
	if _, ok := tr.Spec("spec"); ok {
		t.Fatal("an empty trace knows a field")
	}
	tr.Record("spec.tfReplicaSpecs.Worker.replicas", "training.replicas.worker.replicas")
	tr.Record("spec.tfReplicaSpecs.Worker.template.spec.containers[0]", "training")
	tr.Record("spec.tfReplicaSpecs.Worker.template.spec.containers[0].image", "training.image")
	tr.Record("spec.tfReplicaSpecs.Worker.template.spec.containers[0].image", "training.replicas.worker.image")
	tests := []struct {
		field, want string
		ok          bool
	}{
		{"spec.tfReplicaSpecs.Worker.replicas", "training.replicas.worker.replicas", true},
		{"spec.tfReplicaSpecs.Worker.template.spec.containers[0].image", "training.replicas.worker.image", true}, // recorded again: replaced
		{"spec.tfReplicaSpecs.Worker.template.spec.containers[0].args[2]", "training", true},
		{"spec.tfReplicaSpecs.Worker.template.spec.containers[1]", "", false},
		{"metadata.name", "", false},
	}
	for _, tt := range tests {
		got, ok := tr.Spec(tt.field)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Spec(%q) = %q, %v; want %q, %v", tt.field, got, ok, tt.want, tt.ok)
		}
	}
	want := []Origin{
		{"spec.tfReplicaSpecs.Worker.replicas", "training.replicas.worker.replicas"},
		{"spec.tfReplicaSpecs.Worker.template.spec.containers[0]", "training"},
		{"spec.tfReplicaSpecs.Worker.template.spec.containers[0].image", "training.replicas.worker.image"},
	}
	if got := tr.Origins(); !reflect.DeepEqual(got, want) {
		t.Errorf("Origins = %v, want %v", got, want)
	}
}
