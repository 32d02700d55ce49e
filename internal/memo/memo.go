// Package memo caches immutable results by the digest of everything they
// depend on, so that a long-running process (dmls serve) re-evaluates only
// the apps whose files changed.
package memo

import "sync"

// Cache maps digests to results. It holds at most Max entries and forgets
// the oldest first. It is safe for concurrent use; the results it holds
// must not be modified.
type Cache[T any] struct {
	mu    sync.Mutex
	max   int
	m     map[string]T
	order []string
}

// New returns a cache of at most max entries.
func New[T any](max int) *Cache[T] {
	return &Cache[T]{max: max, m: map[string]T{}}
}

// Get returns the result cached under digest.
func (c *Cache[T]) Get(digest string) (T, bool) {
	if c == nil {
		var zero T
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[digest]
	return v, ok
}

// Put caches v under digest.
func (c *Cache[T]) Put(digest string, v T) {
	if c == nil || digest == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[digest]; ok {
		return
	}
	for len(c.order) >= c.max && len(c.order) > 0 {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[digest] = v
	c.order = append(c.order, digest)
}

// Len returns the number of cached results.
func (c *Cache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
