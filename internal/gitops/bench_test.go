package gitops_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/gittest"
)

// benchTree is n generated manifests of about 600 bytes in n/4 app directories.
func benchTree(n int) map[string][]byte {
	files := make(map[string][]byte, n)
	kinds := []string{"deployment", "service", "configmap", "kustomization"}
	for i := range n {
		p := fmt.Sprintf("apps/app-%03d/%s.yaml", i/len(kinds), kinds[i%len(kinds)])
		files[p] = []byte(fmt.Sprintf("apiVersion: v1\nkind: %s\nmetadata:\n  name: app-%03d\n  labels: {app: app-%03d}\ndata:\n%s",
			kinds[i%len(kinds)], i/len(kinds), i/len(kinds), strings.Repeat("  key: value-of-some-length\n", 20)))
	}
	return files
}

func newBareRepo(b *testing.B, dir, name string) string {
	b.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("git", "init", "-q", "--bare", "--initial-branch=main", p).CombinedOutput(); err != nil {
		b.Fatalf("git init: %v\n%s", err, out)
	}
	return "file://" + p
}

// BenchmarkPublish publishes a tree of 1000 files into a local bare repository (file://): into
// an empty repository, again unchanged (no commit), and with one file changed per iteration.
// "http" repeats the last two through gittest's git-http-backend with basic auth.
func BenchmarkPublish(b *testing.B) {
	const n = 1000
	files := benchTree(n)
	ctx := context.Background()
	req := func(url string) gitops.Request {
		return gitops.Request{Target: gitops.Target{URL: url}, Files: files, Managed: []string{"apps"}, Message: "bench"}
	}

	b.Run("first", func(b *testing.B) {
		dir := b.TempDir()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			url := newBareRepo(b, dir, fmt.Sprintf("r%d.git", i))
			b.StartTimer()
			res, err := gitops.Publish(ctx, req(url))
			if err != nil || !res.Changed || len(res.Added) != n {
				b.Fatalf("publish: %+v, %v", res, err)
			}
		}
		b.ReportMetric(n, "files/op")
	})

	b.Run("noop", func(b *testing.B) {
		url := newBareRepo(b, b.TempDir(), "r.git")
		if _, err := gitops.Publish(ctx, req(url)); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := gitops.Publish(ctx, req(url))
			if err != nil || res.Changed {
				b.Fatalf("republish: %+v, %v", res, err)
			}
		}
		b.ReportMetric(n, "files/op")
	})

	b.Run("one-changed", func(b *testing.B) {
		url := newBareRepo(b, b.TempDir(), "r.git")
		if _, err := gitops.Publish(ctx, req(url)); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := req(url)
			r.Files = make(map[string][]byte, n)
			for k, v := range files {
				r.Files[k] = v
			}
			r.Files["apps/app-000/configmap.yaml"] = []byte(fmt.Sprintf("iteration: %d\n", i))
			res, err := gitops.Publish(ctx, r)
			if err != nil || !res.Changed || len(res.Modified) != 1 {
				b.Fatalf("publish: %+v, %v", res, err)
			}
		}
		b.ReportMetric(n, "files/op")
	})

	b.Run("http", func(b *testing.B) {
		srv := gittest.Start(b)
		url := srv.CreateRepo(b, "r")
		user, pass := srv.Credentials()
		auth := gitops.Auth{Username: user, Password: pass}
		r := req(url)
		r.Auth = auth
		if _, err := gitops.Publish(ctx, r); err != nil {
			b.Fatal(err)
		}
		b.Run("noop", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if res, err := gitops.Publish(ctx, r); err != nil || res.Changed {
					b.Fatalf("republish: %+v, %v", res, err)
				}
			}
		})
		seq := 0 // the benchmark function runs more than once; content must differ every time
		b.Run("one-changed", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				seq++
				r2 := r
				r2.Files = make(map[string][]byte, n)
				for k, v := range files {
					r2.Files[k] = v
				}
				r2.Files["apps/app-000/configmap.yaml"] = []byte(fmt.Sprintf("http iteration: %d\n", seq))
				if res, err := gitops.Publish(ctx, r2); err != nil || !res.Changed {
					b.Fatalf("publish: %+v, %v", res, err)
				}
			}
		})
	})
}
