package publish

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/dmls-project/dmls/generators/catalog"
	"github.com/dmls-project/dmls/internal/build"
	"github.com/dmls-project/dmls/internal/workspace"
)

// RepoDocs is the repo of the model catalog.
const RepoDocs = build.RepoDocs

func init() { ManagedDirs[RepoDocs] = []string{catalog.Dir} }

// Catalog builds the catalog of a built workspace, with each app's last
// change read from the git history of dir (the workspace folder), and
// sets it on res, so that Repos gives it to the docs repo. A platform
// without a docs repo gets none.
func Catalog(ws *workspace.Workspace, res *build.Result, dir string) {
	if _, ok := ws.Platform.Repos[RepoDocs]; !ok {
		return
	}
	in := catalog.Input{Platform: ws.Platform, Changes: LastChanges(dir, ws.Apps)}
	for _, a := range res.Apps {
		in.Apps = append(in.Apps, catalog.App{App: a.App, Objects: a.Objects})
	}
	res.Catalog = catalog.Tree(in)
}

// LastChanges returns, for each app, the commit that last changed its
// folder in the git work tree that holds dir; nothing when dir is not in
// one.
func LastChanges(dir string, apps []*workspace.App) map[string]catalog.Change {
	out := map[string]catalog.Change{}
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return out
	}
	wt, err := r.Worktree()
	if err != nil {
		return out
	}
	absDir, err1 := filepath.Abs(dir)
	root, err2 := filepath.Abs(wt.Filesystem.Root())
	if err1 != nil || err2 != nil {
		return out
	}
	rel, err := filepath.Rel(root, absDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return out
	}
	head, err := r.Head()
	if err != nil {
		return out
	}
	for _, a := range apps {
		prefix := filepath.ToSlash(filepath.Join(rel, workspace.AppsDir, a.Dir)) + "/"
		prefix = strings.TrimPrefix(prefix, "./")
		iter, err := r.Log(&git.LogOptions{From: head.Hash(), PathFilter: func(p string) bool { return strings.HasPrefix(p, prefix) }})
		if err != nil {
			continue
		}
		var found *object.Commit
		err = iter.ForEach(func(c *object.Commit) error {
			found = c
			return storer.ErrStop
		})
		iter.Close()
		if (err != nil && !errors.Is(err, storer.ErrStop)) || found == nil {
			continue
		}
		subject, _, _ := strings.Cut(found.Message, "\n")
		out[a.Name] = catalog.Change{Commit: found.Hash.String(), Author: found.Author.Name, Date: found.Author.When.UTC().Format(time.RFC3339), Subject: subject}
	}
	return out
}
