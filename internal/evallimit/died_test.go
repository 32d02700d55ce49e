package evallimit

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestDiedPastTheLimit checks how died explains a worker that crashed
// without saying "out of memory" (a fault in the Go runtime, as seen when
// the kernel's data limit refused memory before the watchdog acted): past
// the memory limit, it is the memory limit; below it, how the worker
// ended.
func TestDiedPastTheLimit(t *testing.T) {
	if os.Getenv("DMLS_TEST_HOG") != "" {
		hog := make([]byte, 64<<20)
		for i := range hog {
			hog[i] = 1
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGSEGV)
		select {}
	}
	if runtime.GOOS != "linux" {
		t.Skip("peak resident sets as Linux reports them")
	}
	for _, tt := range []struct {
		limit int64
		want  string
	}{
		{32 << 20, "the memory limit of 32MiB per app"},
		{1 << 30, "the evaluation worker stopped"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDiedPastTheLimit$")
		cmd.Env = append(os.Environ(), "DMLS_TEST_HOG=1")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		w := &worker{cmd: cmd, stdin: in, stdout: out, stderr: &tail{}, exited: make(chan struct{})}
		cmd.Stderr = w.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			w.err = cmd.Wait()
			close(w.exited)
		}()
		<-w.exited
		if strings.Contains(w.stderr.String(), "out of memory") {
			t.Fatalf("the helper said out of memory: the test shows nothing")
		}
		got := w.died(Limits{Memory: tt.limit})
		var le *limitError
		if !strings.Contains(got.Error(), tt.want) || (tt.limit < 64<<20) != errors.As(got, &le) {
			t.Errorf("limit %d: died = %v, want %q", tt.limit, got, tt.want)
		}
	}
}
