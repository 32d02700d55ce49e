package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/dmls-project/dmls/internal/gitops"
)

// TrailerIdempotency records, in the ml-model commit that made a change,
// the Idempotency-Key it was sent with: "<key> <fingerprint> <request id>",
// where key is the SHA-256 of the actor and the key (never the key itself)
// and fingerprint a hash of the request. A server that does not remember
// the key (it restarted, or another replica answered first) finds it in
// recent history and answers with the first answer instead of committing
// again.
const TrailerIdempotency = "Dmls-Idempotency"

// History is walked back at most this many commits, and no further back
// than the idempotency TTL.
const (
	historyFirstDepth = 16
	historyMaxDepth   = 4096
)

// keyHash is the form of an Idempotency-Key kept in git: hashed with its
// actor, so that keys of different actors never meet and the key itself
// (which a client may have derived from something private) is not
// published.
func keyHash(actor, key string) string {
	sum := sha256.Sum256([]byte(actor + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// histEntry is a change found in history by its key.
type histEntry struct {
	commit    string
	fp        string
	requestID string
}

// keyIndex holds the keys of the ml-model commits up to tip. Safe for
// concurrent use.
type keyIndex struct {
	mu    sync.Mutex
	tip   string
	byKey map[string]histEntry
	at    map[string]time.Time
}

func newKeyIndex() *keyIndex {
	return &keyIndex{byKey: map[string]histEntry{}, at: map[string]time.Time{}}
}

func (k *keyIndex) get(key string) (histEntry, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.byKey[key]
	return e, ok
}

// addCommit indexes the idempotency trailers of one commit.
func (k *keyIndex) addCommit(commit string, when time.Time, trailers []gitops.Trailer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addLocked(commit, when, trailers)
}

func (k *keyIndex) addLocked(commit string, when time.Time, trailers []gitops.Trailer) {
	for _, t := range trailers {
		if t.Key != TrailerIdempotency {
			continue
		}
		f := strings.SplitN(t.Value, " ", 3)
		if len(f) != 3 {
			continue
		}
		if _, ok := k.byKey[f[0]]; !ok {
			k.byKey[f[0]] = histEntry{commit: commit, fp: f[1], requestID: f[2]}
			k.at[f[0]] = when
		}
	}
}

// expire drops keys older than cutoff.
func (k *keyIndex) expire(cutoff time.Time) {
	for key, at := range k.at {
		if at.Before(cutoff) {
			delete(k.at, key)
			delete(k.byKey, key)
		}
	}
}

// catchUp indexes the keys of the ml-model commits made since the index's
// tip, by anyone, up to tip; a no-op when the index is there already (the
// server indexes its own commits as it makes them).
func (s *store) catchUp(ctx context.Context, tip string, ttl time.Duration) error {
	k := s.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if tip == "" || tip == k.tip {
		return nil
	}
	since := time.Now().Add(-ttl)
	for depth := historyFirstDepth; ; depth *= 4 {
		commits, complete, err := gitops.History(ctx, s.target, s.auth, k.tip, depth, since)
		s.observeGit(err)
		if err != nil {
			return err
		}
		if complete || depth >= historyMaxDepth {
			for _, c := range commits {
				k.addLocked(c.Hash, c.Time, c.Trailers())
			}
			if len(commits) > 0 {
				k.tip = commits[0].Hash
			}
			k.expire(since)
			return nil
		}
	}
}

// committed indexes a commit this server made on parent.
func (s *store) committed(parent, commit string, trailers []gitops.Trailer) {
	k := s.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addLocked(commit, time.Now(), trailers)
	if k.tip == parent {
		k.tip = commit
	}
}
