package build

import (
	"path"
	"testing"

	"github.com/dmls-project/dmls/generators/apiserver"
	"github.com/dmls-project/dmls/generators/argocd"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
)

// TestReservedEnvsCoverFolders guards the rule the loader applies to
// environment names (issue 8, section 5): every folder of the k8s-config
// repo that sits beside the per-environment folders argocd/<env> and
// platform/<env> is a reserved environment name.
func TestReservedEnvsCoverFolders(t *testing.T) {
	for _, dir := range []string{argocd.BootstrapDir, argocd.SharedDir, layout.APIServerDir} {
		env := path.Base(dir)
		if got := spec.ReservedEnvs[env]; got != dir {
			t.Errorf("spec.ReservedEnvs[%q] = %q, want %q", env, got, dir)
		}
		if layout.ArgoCDEnvDir(env) != dir && layout.PlatformDir(env) != dir {
			t.Errorf("%s is not where an environment named %q would write", dir, env)
		}
	}
	if apiserver.DefaultName != spec.APIServerName {
		t.Errorf("apiserver.DefaultName = %q, spec.APIServerName = %q", apiserver.DefaultName, spec.APIServerName)
	}
	if len(spec.ReservedEnvs) != 3 {
		t.Errorf("spec.ReservedEnvs has %d entries; add a folder above for each new one", len(spec.ReservedEnvs))
	}
}
