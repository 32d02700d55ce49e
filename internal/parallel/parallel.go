// Package parallel runs the iterations of a loop on a bounded number of
// goroutines.
package parallel

import "sync"

// For runs f(0..n-1) on up to workers goroutines and returns when all
// have returned.
func For(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
