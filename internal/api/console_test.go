package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dmls-project/dmls/internal/console"
	"github.com/dmls-project/dmls/internal/gittest"
)

func TestConsoleHeaders(t *testing.T) {
	ts := startServer(t, startRepos(t))
	for _, p := range []string{"/ui/", "/ui/app.js", "/ui/app/x"} {
		resp, err := http.Get(ts.http.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Security-Policy") != console.CSP || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: %d %v", p, resp.StatusCode, h)
		}
		if c := h.Get("Set-Cookie"); c != "" {
			t.Errorf("%s sets a cookie: %s", p, c)
		}
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*"} {
		if strings.Contains(console.CSP, bad) {
			t.Errorf("the CSP allows %s", bad)
		}
	}
}

// chromium finds the browser: $DMLS_CHROMIUM, or Debian's chromium.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("DMLS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("DMLS_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium, and DMLS_REQUIRE_BROWSER is set")
	}
	t.Skip("no chromium: apt-get install chromium (.ci/run does)")
	return ""
}

// browser starts a headless Chromium of its own (its own profile) for the
// test, for at most two minutes.
func browser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1280, 800),
		chromedp.Flag("headless", true), chromedp.Flag("disable-gpu", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(tcancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return ctx
}

// TestConsoleInBrowser drives the console in headless Chromium: sign in,
// the app and its live states from the cluster, a submission with a bad
// field (the error next to the field), the fixed one, a canary moved
// with the slider, a hostile app name and commit message that stay text,
// and sign out. DMLS_SCREENSHOTS=DIR saves the screenshots of the README.
func TestConsoleInBrowser(t *testing.T) {
	exe := chromium(t)
	ts, _, _, r := statusServer(t)
	ctx := browser(t, exe)
	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("DMLS_SCREENSHOTS")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			b, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), b, 0o644)
		})
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return s
	}
	text := func(sel string) string {
		t.Helper()
		q, _ := json.Marshal(sel)
		return eval(`(document.querySelector(` + string(q) + `) || {}).textContent || ""`)
	}
	waitText := func(sel, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := text(sel)
			if strings.Contains(s, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %q, want %q", sel, s, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	confirm := chromedp.Click(css("#confirm-ok"), chromedp.NodeVisible)

	// Sign in with the keyboard.
	run("sign in", chromedp.Navigate(ts.http.URL+"/ui/"), chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), researchToken+"\r"))
	waitText(`tr[data-app="fashion-mnist"] td[data-env="dev"] .state`, "Running")
	waitText(`tr[data-app="fashion-mnist"] td[data-env="staging"]`, "Argo CD")
	if stored := eval(`sessionStorage.getItem("dmls.token")`); stored != researchToken {
		t.Errorf("sessionStorage holds %q", stored)
	}
	run("screenshot", shot("console-apps.png"))
	run("app view", chromedp.Navigate(ts.http.URL+"/ui/#/app/fashion-mnist"))
	waitText(`#view .cards`, "TFJobRunning")
	waitText(`#view .cards`, "stable 90%")
	waitText(`#spec`, "training:")
	run("screenshot", shot("console-app.png"))

	// A submission with a bad field: its dry run shows the error next to
	// the field before anything is confirmed. Then fixed: the confirmation
	// shows the preview's summary.
	mlModel := r.git.CommitCount(t, "ml-model", "")
	// Issue 18, section 3: the warnings validate prints for the change
	// (a secret-looking literal in dev, whose policy only warns) show
	// before the user confirms.
	run("submit leaky", chromedp.Navigate(ts.http.URL+"/ui/#/submit"), chromedp.WaitVisible(css("#spec-editor")),
		chromedp.SetValue(css("#kind"), "training"),
		chromedp.SetValue(css("#spec-editor"), "name: leaky\nenvs: [dev]\ntraining:\n  image: registry.example.com/t:1.0\n  replicas:\n    worker:\n      replicas: 1\n  env:\n    AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\n"),
		chromedp.Click(css(`#submit-form button[type="submit"]`)))
	waitText("#confirm-warnings", "warning: training.env.AWS_ACCESS_KEY_ID: ")
	waitText("#confirm-warnings", "[secret-literal]")
	if hidden := eval(`String(document.getElementById("confirm-warnings-title").hidden)`); hidden != "false" {
		t.Error("the warnings' title is hidden")
	}
	run("cancel leaky", chromedp.Click(css(`#confirm button[value="cancel"]`), chromedp.NodeVisible))
	run("submit bad", chromedp.Navigate(ts.http.URL+"/ui/#/submit"), chromedp.WaitVisible(css("#spec-editor")),
		chromedp.SetValue(css("#kind"), "serving"),
		chromedp.SetValue(css("#spec-editor"), "name: mnist-serve\nserving:\n  imagee: registry.example.com/mnist-serve:1.0\n  revision: v1\n"),
		chromedp.Click(css(`#submit-form button[type="submit"]`)))
	waitText("#spec-editor-error", "serving.imagee: field not allowed")
	if open := eval(`String(document.getElementById("confirm").open)`); open != "false" {
		t.Errorf("a submission with a bad field opened the confirmation")
	}
	run("screenshot", shot("console-error.png"))
	run("submit fixed", chromedp.SetValue(css("#spec-editor"), "name: mnist-serve\nserving:\n  image: registry.example.com/mnist-serve:1.0\n  revision: v1\n"),
		chromedp.Click(css(`#submit-form button[type="submit"]`)))
	waitText("#confirm-summary", "new app mnist-serve (dev, staging, prod)")
	if n := r.git.CommitCount(t, "ml-model", ""); n != mlModel {
		t.Errorf("ml-model has %d commits before the confirmation, %d before the submission", n, mlModel)
	}
	run("screenshot", shot("console-confirm.png"))
	run("confirm", confirm)
	waitText("#view h1", "mnist-serve")
	run("list", chromedp.Navigate(ts.http.URL+"/ui/#/"))
	waitText(`tr[data-app="mnist-serve"]`, "serves")

	// Roll out a canary, then move it with the slider.
	run("rollout", chromedp.Navigate(ts.http.URL+"/ui/#/app/mnist-serve"), chromedp.WaitVisible(css("#rollout-image")),
		chromedp.SetValue(css("#canary"), "10"),
		chromedp.SendKeys(css("#rollout-image"), "registry.example.com/mnist-serve:1.1"), chromedp.Click(css("#rollout")))
	waitText("#confirm-text", "Roll out registry.example.com/mnist-serve:1.1 as a new revision of mnist-serve with 10% of the traffic")
	waitText("#confirm-summary", "mnist-serve/staging: canary 0%→10% (v1 → v2)")
	run("confirm", confirm)
	waitText("#serve-form .outcome", "Committed")
	eval(`(() => { document.querySelector("#serve-form .outcome").textContent = ""; const c = document.getElementById("canary"); c.value = "50"; c.dispatchEvent(new Event("input")); return ""; })()`)
	run("canary", chromedp.Click(css("#set-canary")))
	waitText("#confirm-text", "Send 50% of mnist-serve's traffic to the canary revision.")
	waitText("#confirm-summary", "mnist-serve/prod: canary 10%→50% (v1 → v2)")
	run("confirm", confirm)
	waitText("#serve-form .outcome", "Committed")
	if got := text("#canary-out"); got != "50%" {
		t.Errorf("slider shows %q", got)
	}
	spec := r.appJSON(t, "mnist-serve")
	if tr, _ := spec["serving"].(map[string]any)["traffic"].(map[string]any); tr["canaryPercent"] != float64(50) {
		t.Errorf("the canary in git: %v", spec["serving"])
	}

	// Hostile strings stay text: an app name in the URL and a commit
	// message in the history.
	const hostile = `<img src=x onerror="window.__xss=1">`
	for i := 0; ; i++ { // the server may be pushing too
		_, err := r.git.PushChange("ml-model", gittest.Change{Files: map[string]string{"apps/fashion-mnist/notes.cue": "package x\n"}, Message: hostile + " <script>window.__xss=2</script>"})
		if err == nil {
			break
		}
		if i == 5 {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	run("hostile name", chromedp.Navigate(ts.http.URL+"/ui/#/app/"+hostile))
	waitText("#view h1", hostile)
	run("hostile commit", chromedp.Navigate(ts.http.URL+"/ui/#/app/fashion-mnist"))
	waitText("#history", "<script>window.__xss=2</script>")
	run("settle", chromedp.Sleep(300*time.Millisecond))
	xss := eval(`String(window.__xss)`)
	imgs := eval(`String(document.querySelectorAll("img, script:not([src])").length)`)
	if xss != "undefined" || imgs != "0" || dialogs.Load() != 0 {
		t.Errorf("hostile input became markup: xss %s, %s img or inline script elements, %d dialogs", xss, imgs, dialogs.Load())
	}

	// A phone's width: nothing wider than the screen.
	run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(ts.http.URL+"/ui/#/"))
	waitText(`tr[data-app="fashion-mnist"]`, "Running")
	run("screenshot", shot("console-phone.png"))
	if over := eval(`String(document.documentElement.scrollWidth > 390)`); over != "false" {
		t.Errorf("the page is wider than a 390 px screen: %s px", eval(`String(document.documentElement.scrollWidth)`))
	}

	// Sign out clears the token.
	run("sign out", chromedp.Click(css("#signout")), chromedp.WaitVisible(css("#token")))
	if left := eval(`String(sessionStorage.length)`); left != "0" {
		t.Errorf("%s items left in sessionStorage", left)
	}
}
