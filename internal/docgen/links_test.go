package docgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocLinks follows every relative link of README.md and docs/: each
// must lead to a file, and an #anchor to a heading of the target page.
func TestDocLinks(t *testing.T) {
	pages, err := DocPages(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 10 {
		t.Fatalf("found only %v", pages)
	}
	broken, err := CheckLinks(repoRoot, pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Errorf("broken link: %s", b)
	}
}

// TestCheckLinksFindsBroken holds the checker to what it must find, on a
// small tree of pages: a missing file, a missing anchor in another page and
// in the same page, a link out of the tree; and what it must let pass.
func TestCheckLinksFindsBroken(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", strings.Join([]string{
		"# Top",
		"[ok](docs/a.md) [ok](docs/a.md#pull-request-previews-dmls-diff) [ok](docs) [ok](#top)",
		"[ok](https://example.com/x#y) [ok](mailto:a@b.c) `[code](nowhere.md)`",
		"[gone](docs/gone.md) [no anchor](docs/a.md#nothing) [self](#bottom)",
		"```",
		"[in a fence](nowhere.md)",
		"```",
	}, "\n"))
	write("docs/a.md", strings.Join([]string{
		"# A page",
		"## Pull-request previews (`dmls diff`)",
		"## Repeated",
		"## Repeated",
		"[ok](#repeated-1) [ok](../README.md#top) [ok](a.md#a-page) [up](../../x.md) [not md](x.txt#y)",
		"[no third](#repeated-2)",
	}, "\n"))
	write("docs/x.txt", "not a page")
	pages, err := DocPages(root)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pages, " ") != "README.md docs/a.md" {
		t.Fatalf("pages %v", pages)
	}
	broken, err := CheckLinks(root, pages)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range broken {
		got = append(got, b.String())
	}
	want := []string{
		"README.md:4: docs/gone.md: no such file docs/gone.md",
		"README.md:4: docs/a.md#nothing: no heading of docs/a.md makes the anchor #nothing",
		"README.md:4: #bottom: no heading of README.md makes the anchor #bottom",
		"docs/a.md:5: ../../x.md: leaves the repository",
		"docs/a.md:5: x.txt#y: an anchor in docs/x.txt, which is no Markdown page",
		"docs/a.md:6: #repeated-2: no heading of docs/a.md makes the anchor #repeated-2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("broken links:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlug(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"Pull-request previews (`dmls diff`)", "pull-request-previews-dmls-diff"},
		{"Clusters: kops on AWS (the infra repo)", "clusters-kops-on-aws-the-infra-repo"},
		{"Validation as strict as the cluster, offline", "validation-as-strict-as-the-cluster-offline"},
		{"A [linked](x.md) heading", "a-linked-heading"},
		{"#App", "app"},
		{"snake_case and Ünïcode", "snake_case-and-ünïcode"},
	} {
		if got := Slug(c.text); got != c.want {
			t.Errorf("Slug(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}
