package promtest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fatalTB records the message of a Fatalf and ends the goroutine, as
// testing's does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestStartWithoutPrometheus: without the binary, Start fails the test
// and says how to install it; it never skips.
func TestStartWithoutPrometheus(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(tb)
	}()
	<-done
	if !strings.Contains(tb.msg, "run `make prometheus`") {
		t.Fatalf("Start without prometheus on PATH: %q, want a failure that says to run make prometheus", tb.msg)
	}
}
