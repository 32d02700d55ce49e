package cache

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/dmls-project/dmls/internal/synth"
	"github.com/dmls-project/dmls/schemas"
)

func keysOf(t *testing.T, fsys fstest.MapFS, root, version string) map[string]string {
	t.Helper()
	s, err := Read(fsys, root, version)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{"": s.Key}
	for _, a := range s.Apps {
		keys[a.Dir] = a.Key
	}
	return keys
}

// TestKeys changes each input of an app's result in turn and checks
// which keys change: every app's for what they all depend on, only the
// app's own for its files.
func TestKeys(t *testing.T) {
	base := func() fstest.MapFS { return synth.Workspace(3) }
	before := keysOf(t, base(), "ws", "v1")
	all := []string{"", "app-0000", "app-0001", "app-0002"}
	cases := []struct {
		name    string
		change  func(fstest.MapFS)
		root    string
		version string
		changed []string // keys that must change; the others must not
	}{
		{name: "the app's spec", change: func(m fstest.MapFS) {
			m["apps/app-0001/app.cue"].Data = append(m["apps/app-0001/app.cue"].Data, "\n// edited\n"...)
		}, changed: []string{"app-0001"}},
		{name: "a new spec file of the app", change: func(m fstest.MapFS) {
			m["apps/app-0001/more.cue"] = &fstest.MapFile{Data: []byte("serving: autoscaling: minScale: 1\n")}
		}, changed: []string{"app-0001"}},
		{name: "a spec file of the app renamed", change: func(m fstest.MapFS) {
			m["apps/app-0002/main.cue"] = m["apps/app-0002/app.cue"]
			delete(m, "apps/app-0002/app.cue")
		}, changed: []string{"app-0002"}},
		{name: "the platform (teams, repos, policy, secrets, Knative settings live there)", change: func(m fstest.MapFS) { m["platform.cue"].Data = append(m["platform.cue"].Data, "teams: u: {}\n"...) }, changed: all},
		{name: "the platform as YAML", change: func(m fstest.MapFS) {
			m["platform.yaml"] = m["platform.cue"]
			delete(m, "platform.cue")
		}, changed: all},
		{name: "an environment", change: func(m fstest.MapFS) {
			m["overlays/prod.cue"].Data = append(m["overlays/prod.cue"].Data, "serving: minScale: 3\n"...)
		}, changed: all},
		{name: "a new environment", change: func(m fstest.MapFS) {
			m["overlays/qa.cue"] = &fstest.MapFile{Data: []byte("order: 3\nnamespaces: t: \"t-qa\"\n")}
		}, changed: all},
		{name: "the workspace's name in findings", root: "other", changed: all},
		{name: "the dmls version", version: "v2", changed: all},
		{name: "a file the loader does not read", change: func(m fstest.MapFS) {
			m["apps/app-0001/README.md"] = &fstest.MapFile{Data: []byte("notes")}
			m["apps/app-0001/.hidden.cue"] = &fstest.MapFile{Data: []byte("x: 1")}
			m["docs/x.cue"] = &fstest.MapFile{Data: []byte("x: 1")}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			if c.change != nil {
				c.change(m)
			}
			root, version := "ws", "v1"
			if c.root != "" {
				root = c.root
			}
			if c.version != "" {
				version = c.version
			}
			after := keysOf(t, m, root, version)
			must := map[string]bool{}
			for _, k := range c.changed {
				must[k] = true
			}
			for _, k := range all {
				if changed := before[k] != after[k]; changed != must[k] {
					t.Errorf("key of %q changed = %v, want %v", k, changed, must[k])
				}
			}
		})
	}
}

// TestVersion checks that the binary's version covers its build, the
// executable file and the embedded schemas.
func TestVersion(t *testing.T) {
	v := versionOf("v1", "build", "exe 1 2", schemas.FS)
	other := fstest.MapFS{"app.cue": {Data: []byte("#App: {}")}}
	for name, w := range map[string]string{
		"release":    versionOf("v2", "build", "exe 1 2", schemas.FS),
		"build info": versionOf("v1", "build2", "exe 1 2", schemas.FS),
		"executable": versionOf("v1", "build", "exe 1 3", schemas.FS),
		"schemas":    versionOf("v1", "build", "exe 1 2", other),
	} {
		if w == v {
			t.Errorf("a change of the %s does not change the version", name)
		}
	}
	if a, b := BinaryVersion("x"), BinaryVersion("x"); a != b {
		t.Error("BinaryVersion is not stable")
	}
}

// TestUncacheable checks that what the loader refuses or treats
// specially is left to it.
func TestUncacheable(t *testing.T) {
	for name, change := range map[string]func(fstest.MapFS){
		"two platform specs":  func(m fstest.MapFS) { m["platform.json"] = &fstest.MapFile{Data: []byte("{}")} },
		"no platform spec":    func(m fstest.MapFS) { delete(m, "platform.cue") },
		"a bad app folder":    func(m fstest.MapFS) { m["apps/Bad_Name/app.cue"] = &fstest.MapFile{Data: []byte("x: 1")} },
		"an empty app folder": func(m fstest.MapFS) { m["apps/empty/README"] = &fstest.MapFile{Data: []byte("x")} },
		"a symlinked spec": func(m fstest.MapFS) {
			m["apps/app-0000/link.cue"] = &fstest.MapFile{Data: []byte("x"), Mode: 0o777 | 1<<27}
		},
		"no environments": func(m fstest.MapFS) {
			delete(m, "overlays/dev.cue")
			delete(m, "overlays/staging.cue")
			delete(m, "overlays/prod.cue")
		},
		"apps/ is not a folder": func(m fstest.MapFS) {
			for k := range m {
				if len(k) > 5 && k[:5] == "apps/" {
					delete(m, k)
				}
			}
			m["apps"] = &fstest.MapFile{Data: []byte("x")}
		},
	} {
		m := synth.Workspace(1)
		change(m)
		if _, err := Read(m, "ws", "v1"); !errors.Is(err, ErrUncacheable) {
			t.Errorf("%s: Read = %v, want ErrUncacheable", name, err)
		}
	}
}
