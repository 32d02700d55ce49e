package api

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time, user and system, this process and its
// waited-for children (git http-backend, git) have used so far.
func cpuTime(t testing.TB) (self, children time.Duration) {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		t.Fatal(err)
	}
	return self, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeHeap writes the heap profile (allocations since the start) to
// file. A profile holds the allocations up to the last collection, so it
// collects first: the difference of two is then what was allocated
// between them.
func writeHeap(b *testing.B, file string) {
	runtime.GC()
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBatchCPU measures the CPU that submissions cost, not their
// wall-clock time (which a loaded machine distorts): each iteration sends
// 25 new training jobs at once to a server whose workspace holds 10 or
// 1,000 apps, as one batch (behind a rejected retrain that holds the
// writer until all 25 wait), and waits for every answer. It reports the
// CPU of the server's process (cpu-ms/op: the batch and the retrain; and
// per submission) and of the
// git processes the test's git server ran (git-cpu-ms/op). With
// DMLS_BATCH_PROFILE=prefix it writes a CPU profile of the iterations
// alone (the startup, which loads every app, left out) to
// prefix-apps=N.pprof, and the heap profiles before and after them to
// prefix-apps=N.heap0 and .heap1: their difference
// (go tool pprof -sample_index=alloc_space -diff_base ...heap0 ...heap1)
// is what the iterations allocated, which sets the collector's work.
//
//	go test ./internal/api -run '^$' -bench BatchCPU -benchtime 8x
func BenchmarkBatchCPU(b *testing.B) {
	const k = 25
	for _, apps := range []int{10, 1000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			r := startReposWith(b, apps)
			ts := newServer(b, r)
			hold := newBatchHold(ts)
			ts.Start()
			ts.waitReady(b)
			c := ts.client(researchToken)
			ctx := context.Background()
			// One warm-up batch: the first commit fills the config repos.
			if _, err := c.SubmitTrainingJob(ctx, "ml-research", trainingJob("warm-up")); err != nil {
				b.Fatal(err)
			}
			var before dtoHistogram
			before.read(ts.metrics.batchSize)
			if prefix := os.Getenv("DMLS_BATCH_PROFILE"); prefix != "" {
				// The allocations of the iterations: the heap profile after
				// them, to be read with the one before as -diff_base (after
				// the CPU profile stops: deferred first).
				writeHeap(b, fmt.Sprintf("%s-apps=%d.heap0", prefix, apps))
				defer writeHeap(b, fmt.Sprintf("%s-apps=%d.heap1", prefix, apps))
				f, err := os.Create(fmt.Sprintf("%s-apps=%d.pprof", prefix, apps))
				if err != nil {
					b.Fatal(err)
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					b.Fatal(err)
				}
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
			self0, child0 := cpuTime(b)
			b.ResetTimer()
			for i := range b.N {
				// A retrain of no app holds the writer (a batch that
				// changes nothing) while the k submissions queue, so that
				// they make one batch whatever the machine's load.
				hold.armed.Store(true)
				blocked := make(chan error, 1)
				go func() {
					_, err := c.Retrain(ctx, "ml-research", "no-such-app")
					blocked <- err
				}()
				<-hold.held
				var wg sync.WaitGroup
				errs := make([]error, k)
				for j := range k {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[j] = c.SubmitTrainingJob(ctx, "ml-research", trainingJob(fmt.Sprintf("cpu-%03d-%02d", i, j)))
					}()
				}
				for ts.writer.QueueLen() < k {
					time.Sleep(time.Millisecond)
				}
				hold.resume <- struct{}{}
				if err := <-blocked; err == nil {
					b.Fatal("a retrain of no app succeeded")
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			self1, child1 := cpuTime(b)
			var after dtoHistogram
			after.read(ts.metrics.batchSize)
			batches := after.count - before.count
			cpu := (self1 - self0).Seconds() * 1000
			b.ReportMetric(cpu/float64(b.N), "cpu-ms/op")
			b.ReportMetric(cpu/float64(b.N*k), "cpu-ms/submission")
			b.ReportMetric((child1-child0).Seconds()*1000/float64(b.N), "git-cpu-ms/op")
			b.ReportMetric(batches/float64(b.N), "batches/op")
		})
	}
}
