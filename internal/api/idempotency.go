package api

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// maxIdempotencyKeyLen bounds an Idempotency-Key header.
const maxIdempotencyKeyLen = 255

// idemStore remembers the answers to requests that carried an
// Idempotency-Key, per team and key, so that a retry gets the first answer
// and makes no second commit. A request whose key is in flight waits for
// the first one. Answers of 5xx and 429 are not kept: those requests made
// no commit, and a retry should try again. Entries expire after ttl; past
// max entries, the oldest answered one goes. Safe for concurrent use.
type idemStore struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // of *idemEntry
	order *list.List               // oldest first
}

type idemEntry struct {
	key     string
	fp      [sha256.Size]byte
	created time.Time
	done    chan struct{} // closed when resp is set or the entry is dropped
	resp    *response
}

func newIdemStore(ttl time.Duration, max int) *idemStore {
	return &idemStore{ttl: ttl, max: max, now: time.Now, items: map[string]*list.Element{}, order: list.New()}
}

// idemState is what begin found.
type idemState int

const (
	idemNew      idemState = iota // the caller runs the request and calls finish
	idemReplay                    // the entry holds the first answer
	idemMismatch                  // the key was used for a different request
)

// begin looks up key. For a new key it records an entry in flight and
// returns idemNew; the caller must then call finish. For a key in flight
// it waits for the first request to finish.
func (s *idemStore) begin(key string, fp [sha256.Size]byte) (*idemEntry, idemState) {
	for {
		s.mu.Lock()
		s.expire()
		if el, ok := s.items[key]; ok {
			e := el.Value.(*idemEntry)
			s.mu.Unlock()
			if e.fp != fp {
				return e, idemMismatch
			}
			<-e.done
			if e.resp != nil {
				return e, idemReplay
			}
			continue // the first attempt failed and was dropped: try again
		}
		e := &idemEntry{key: key, fp: fp, created: s.now(), done: make(chan struct{})}
		s.items[key] = s.order.PushBack(e)
		s.evict()
		s.mu.Unlock()
		return e, idemNew
	}
}

// finish records resp as the answer of e, or drops e if resp is not to be
// replayed, and wakes the requests waiting for it.
func (s *idemStore) finish(e *idemEntry, resp *response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if replayable(resp.status) {
		e.resp = resp
	} else if el, ok := s.items[e.key]; ok && el.Value.(*idemEntry) == e {
		s.order.Remove(el)
		delete(s.items, e.key)
	}
	close(e.done)
}

func replayable(status int) bool {
	return status < 500 && status != 429 && status != 401
}

// expire drops answered entries older than ttl. Called with mu held.
func (s *idemStore) expire() {
	cutoff := s.now().Add(-s.ttl)
	for el := s.order.Front(); el != nil; {
		e := el.Value.(*idemEntry)
		if !e.created.Before(cutoff) {
			return
		}
		next := el.Next()
		if e.resp != nil {
			s.order.Remove(el)
			delete(s.items, e.key)
		}
		el = next
	}
}

// evict drops the oldest answered entries beyond max. Called with mu held.
func (s *idemStore) evict() {
	for el := s.order.Front(); el != nil && s.order.Len() > s.max; {
		next := el.Next()
		if e := el.Value.(*idemEntry); e.resp != nil {
			s.order.Remove(el)
			delete(s.items, e.key)
		}
		el = next
	}
}
