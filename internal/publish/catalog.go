package publish

import (
	"path"
	"time"

	"github.com/dmls-project/dmls/generators/catalog"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
	"github.com/dmls-project/dmls/internal/spec"
)

// RepoDocs is the repo of the model catalog.
const RepoDocs = build.RepoDocs

func init() { layout.ManagedDirs[RepoDocs] = []string{catalog.Dir} }

// Catalog builds the catalog of a built workspace, with each app's last
// change from the history of the repo that holds the workspace (ml-model)
// in folder prefix of it, and sets it on res, so that Repos gives it to
// the docs repo. dmls publish (the workspace's checkout) and dmls serve
// (ml-model as it fetched it) both call it. A platform without a docs
// repo gets none; a nil history gives no last changes.
func Catalog(p *spec.Platform, res *build.Result, history *gitops.CommitGraph, prefix string) {
	CatalogMemo(p, res, history, prefix, nil)
}

// CatalogMemo is Catalog with the app pages made before kept in m (see
// catalog.Memo), for dmls serve.
func CatalogMemo(p *spec.Platform, res *build.Result, history *gitops.CommitGraph, prefix string, m *catalog.Memo) {
	if _, ok := p.Repos[RepoDocs]; !ok {
		return
	}
	in := catalog.Input{Platform: p, Memo: m}
	var apps []*spec.App
	for _, a := range res.Apps {
		in.Apps = append(in.Apps, catalog.App{App: a.App, Objects: a.Objects})
		apps = append(apps, a.App)
	}
	in.Changes = LastChanges(history, prefix, apps)
	res.Catalog = catalog.Tree(in)
}

// LastChanges returns, for each app, the commit of history that last
// changed its folder (prefix/apps/<dir>), by app name.
func LastChanges(history *gitops.CommitGraph, prefix string, apps []*spec.App) map[string]catalog.Change {
	dirs := map[string][]string{}
	for _, a := range apps {
		dirs[a.Name] = []string{path.Join(prefix, layout.AppsDir, a.Dir)}
	}
	out := map[string]catalog.Change{}
	for name, c := range history.LastChanges(dirs) {
		out[name] = catalog.Change{Commit: c.Commit, Author: c.Author, Date: c.Time.Format(time.RFC3339), Subject: subject(c.Message)}
	}
	return out
}

func subject(msg string) string {
	for i := 0; i < len(msg); i++ {
		if msg[i] == '\n' {
			return msg[:i]
		}
	}
	return msg
}
