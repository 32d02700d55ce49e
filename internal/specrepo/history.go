package specrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/dmls-project/dmls/internal/gitops"
	"github.com/dmls-project/dmls/internal/layout"
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

// KeyHash is the form of an Idempotency-Key kept in git: hashed with its
// actor, so that keys of different actors never meet and the key itself
// (which a client may have derived from something private) is not
// published.
func KeyHash(actor, key string) string {
	sum := sha256.Sum256([]byte(actor + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// History is the one cache of git history a server keeps: the commit
// graph of each repo it asks about (ml-model, for the catalog's last
// changes and the app history route; k8s-config, for what the status
// routes say dmls published), and the Idempotency-Keys of ml-model's
// recent commits. Safe for concurrent use.
type History struct {
	target  gitops.Target // ml-model
	auth    gitops.Auth
	observe func(repo string, err error)

	mu     sync.Mutex
	graphs map[gitops.Target]*graph
	keys   keyIndex
}

// graph is one repo's history; its lock keeps an update from changing the
// graph under a reader (gitops.CommitGraph.At shares the graph's objects).
type graph struct {
	mu sync.RWMutex
	g  *gitops.CommitGraph
}

func newHistory(target gitops.Target, auth gitops.Auth, observe func(string, error)) *History {
	return &History{target: target, auth: auth, observe: observe, graphs: map[gitops.Target]*graph{},
		keys: keyIndex{byKey: map[string]Keyed{}, at: map[string]time.Time{}}}
}

// MLModel is the target of ml-model, for Graph.
func (h *History) MLModel() gitops.Target { return h.target }

// Graph calls fn with the history of t's branch, fetched on first use and
// brought up to date (only new objects cross the wire) when it lacks
// commit want, or, with want "", when the branch's tip moved. fn must not
// keep the graph, nor anything At returns of it: the next update, which
// waits for the readers, may change it. A failed fetch drops the graph,
// so that the next call reads it afresh.
func (h *History) Graph(ctx context.Context, t gitops.Target, want string, fn func(*gitops.CommitGraph)) error {
	h.mu.Lock()
	gr := h.graphs[t]
	if gr == nil {
		gr = &graph{}
		h.graphs[t] = gr
	}
	h.mu.Unlock()
	fresh := func(g *gitops.CommitGraph) bool { return g.At(want) != nil }
	if want == "" {
		tip, err := gitops.Tip(ctx, t, h.auth)
		if err != nil {
			return err
		}
		fresh = func(g *gitops.CommitGraph) bool { return g.Tip() == tip }
	}
	gr.mu.RLock()
	if g := gr.g; g != nil && fresh(g) {
		defer gr.mu.RUnlock()
		fn(g)
		return nil
	}
	gr.mu.RUnlock()
	gr.mu.Lock()
	var err error
	if gr.g == nil {
		gr.g, err = gitops.ReadHistory(ctx, t, h.auth)
	} else {
		err = gr.g.Update(ctx)
	}
	if err != nil {
		gr.g = nil
		gr.mu.Unlock()
		return err
	}
	g := gr.g
	gr.mu.Unlock()
	gr.mu.RLock()
	defer gr.mu.RUnlock()
	fn(g)
	return nil
}

// Keyed is a change found in ml-model's history by its Idempotency-Key.
type Keyed struct {
	Commit    string
	FP        string
	RequestID string
}

// keyIndex holds the keys of the ml-model commits up to tip. Guarded by
// its own lock.
type keyIndex struct {
	mu    sync.Mutex
	tip   string
	byKey map[string]Keyed
	at    map[string]time.Time
}

// Key returns the change of ml-model's history indexed (CatchUp) under
// key, a KeyHash.
func (h *History) Key(key string) (Keyed, bool) {
	k := &h.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.byKey[key]
	return e, ok
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
			k.byKey[f[0]] = Keyed{Commit: commit, FP: f[1], RequestID: f[2]}
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

// CatchUp indexes the keys of the ml-model commits made since the index's
// tip, by anyone, up to tip, as far back as ttl; a no-op when the index is
// there already (the Repo indexes its own commits as it makes them). It
// walks a shallow history, deepened only as far as needed, rather than
// the whole of it.
func (h *History) CatchUp(ctx context.Context, tip string, ttl time.Duration) error {
	k := &h.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	if tip == "" || tip == k.tip {
		return nil
	}
	since := time.Now().Add(-ttl)
	for depth := historyFirstDepth; ; depth *= 4 {
		commits, complete, err := gitops.History(ctx, h.target, h.auth, k.tip, depth, since)
		if h.observe != nil {
			h.observe(layout.RepoMLModel, err)
		}
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

// committed indexes a commit the Repo made on parent, gives ml-model's
// history graph the repo paths it changed (gitops.CommitGraph.Touched),
// so that the catalog's last changes do not diff it, and adds the commit
// to the graph from src, the in-memory repo that pushed it, when the
// graph is at its parent (gitops.CommitGraph.Extend), so that the
// catalog of the next publish does not fetch it back.
func (h *History) committed(src *gitops.Repo, parent, commit string, trailers []gitops.Trailer, changed []string) {
	if commit != "" {
		h.mu.Lock()
		gr := h.graphs[h.target]
		h.mu.Unlock()
		if gr != nil {
			gr.mu.Lock()
			gr.g.Extend(src, commit)
			if len(changed) > 0 {
				gr.g.Touched(commit, changed)
			}
			gr.mu.Unlock()
		}
	}
	k := &h.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addLocked(commit, time.Now(), trailers)
	if k.tip == parent {
		k.tip = commit
	}
}
