package api

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestServeWritesCatalog: dmls serve writes the model catalog to the docs
// repo when it publishes, as dmls publish does (publish.Catalog), and the
// page of a submitted app names the ml-model commit that made it.
func TestServeWritesCatalog(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	// At start, the catalog of what ml-model holds.
	files := r.git.Files(t, "docs", "")
	for _, f := range []string{"catalog/README.md", "catalog/ml-research/README.md", "catalog/ml-research/fashion-mnist.md", "catalog/ml-serving/ranker.md"} {
		if files[f] == "" {
			t.Errorf("no %s in the docs repo after start; it holds %d files", f, len(files))
		}
	}
	seed := r.git.Head(t, "ml-model", "")
	if p := files["catalog/ml-research/fashion-mnist.md"]; !strings.Contains(p, "| Last change | `"+seed[:12]+"` ") || !strings.Contains(p, ": seed |") {
		t.Errorf("fashion-mnist's page does not name the seed commit %s:\n%s", seed, p)
	}

	res := must(ts.client(researchToken).SubmitTrainingJob(context.Background(), "ml-research", trainingJob("mnist")))(t)
	var commit string
	for _, c := range res.Commits {
		if c.Repo == "ml-model" {
			commit = c.SHA
		}
	}
	if commit == "" || len(notValidate(res.Warnings)) > 0 {
		t.Fatalf("commits %+v, warnings %q", res.Commits, res.Warnings)
	}
	// The answer comes once the config repos are in; the catalog, which
	// deploys nothing, follows it.
	if sha := res.Commit("k8s-config"); sha == "" || sha != r.git.Head(t, "k8s-config", "") {
		t.Errorf("the answer names k8s-config's commit %q; k8s-config is at %s", sha, r.git.Head(t, "k8s-config", ""))
	}
	if sha := res.Commit("docs"); sha != "" {
		t.Errorf("the answer names a docs commit %s: the catalog is not part of the answer", sha)
	}
	var page string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		files = r.git.Files(t, "docs", "")
		page = files["catalog/ml-research/mnist.md"]
		if page != "" || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(page, "| Last change | `"+commit[:12]+"` ") || !strings.Contains(page, "2 worker") {
		t.Errorf("mnist's page does not name its commit %s:\n%s", commit, page)
	}
	if !strings.Contains(files["catalog/ml-research/README.md"], "[mnist](mnist.md)") {
		t.Errorf("the team index does not list mnist:\n%s", files["catalog/ml-research/README.md"])
	}
	// fashion-mnist did not change: its page still names the seed.
	if p := files["catalog/ml-research/fashion-mnist.md"]; !strings.Contains(p, "`"+seed[:12]+"`") {
		t.Errorf("fashion-mnist's last change moved:\n%s", p)
	}
}

// TestCatalogWithoutFetchingOwnCommits: the catalog of each publish needs
// ml-model's history up to the batch's commit, which the server made
// itself; it adds that commit to the history it keeps rather than fetch
// it back from ml-model, and the pages still name each app's commit.
func TestCatalogWithoutFetchingOwnCommits(t *testing.T) {
	r := startRepos(t)
	ts := startServer(t, r)
	c := ts.client(researchToken)
	must(c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob("own-0")))(t)
	r.waitConfig(t)
	fetches := r.git.Fetches("ml-model")
	commits := map[string]string{}
	for _, app := range []string{"own-1", "own-2", "own-3"} {
		res := must(c.SubmitTrainingJob(context.Background(), "ml-research", trainingJob(app)))(t)
		commits[app] = res.Commit("ml-model")
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		page := r.git.Files(t, "docs", "")["catalog/ml-research/own-3.md"]
		if page != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no page for own-3 in the docs repo")
		}
	}
	files := r.git.Files(t, "docs", "")
	for app, commit := range commits {
		if p := files["catalog/ml-research/"+app+".md"]; !strings.Contains(p, "| Last change | `"+commit[:12]+"` ") {
			t.Errorf("%s's page does not name its commit %s:\n%s", app, commit, p)
		}
	}
	if n := r.git.Fetches("ml-model") - fetches; n != 0 {
		t.Errorf("%d fetches of ml-model for 3 batches, want none: the server made every commit", n)
	}
}
