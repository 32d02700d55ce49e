package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/dmls-project/dmls/generators"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/spec"
)

// Trees are the trees of the whole workspace that no single app owns
// (build.Whole): the Argo CD tree, and the config repos' trees without
// the apps' own (build.Result.Repos).
type Trees struct {
	ArgoCD generators.Tree
	Repos  map[string]generators.Tree
}

// Whole returns build.Whole's trees for r's apps and ws (the workspace
// of the platform and environments that Run loads with
// Options.Workspace), from the store when the platform, its charts and
// every app's build.Kept are the same: building and checking 3,000 Argo
// CD Applications again costs seconds at 1,000 apps.
func Whole(snap *Snapshot, r *Result, ws *spec.Workspace, store *Store) (*Trees, error) {
	kept := make([]build.Kept, len(r.Apps))
	for i, a := range r.Apps {
		kept[i] = a.Kept()
	}
	h := sha256.New()
	fmt.Fprintf(h, "dmls cache whole trees v1\nworkspace %s\n", snap.Key)
	snap.HashFiles(h, r.Platform.Charts)
	if err := json.NewEncoder(h).Encode(kept); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(h.Sum(nil))
	var t Trees
	if store.Get(key, &t) {
		return &t, nil
	}
	res, err := build.Whole(ws, kept)
	if err != nil {
		return nil, err
	}
	t = Trees{ArgoCD: res.ArgoCD, Repos: res.Repos(ws.Platform)}
	if err := store.Put(key, t); err != nil {
		store.debug("%v", err)
	}
	return &t, nil
}
