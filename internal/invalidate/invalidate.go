// Package invalidate keeps in-process caches exact across instances:
// PostgreSQL NOTIFY tells every instance that something changed, and caches
// are bypassed whenever the listening connection is down.
package invalidate

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// Channel is the NOTIFY channel the migrations' triggers send on.
const Channel = "mediagate_invalidate"

// Topics name what changed; a cache registers for one.
const (
	ACL  = "acl"  // grants, groups, memberships, folders, items, links
	Auth = "auth" // sessions, API tokens
	All  = "all"  // users: both of the above
)

// flusher is anything that can drop what it holds.
type flusher interface{ Flush() }

// Hub dispatches invalidations to the caches registered with it and knows
// whether they may be trusted.
type Hub struct {
	mu      sync.Mutex
	caches  map[string][]flusher
	healthy atomic.Bool
	up      chan struct{} // closed while healthy; replaced when it goes down
	log     *slog.Logger
}

// NewHub returns a Hub that is not yet healthy: its caches are bypassed until
// Run has a listening connection.
func NewHub(log *slog.Logger) *Hub {
	return &Hub{caches: map[string][]flusher{}, up: make(chan struct{}), log: log}
}

// Healthy reports whether notifications are being received, and so whether
// cached answers may be used.
func (h *Hub) Healthy() bool { return h != nil && h.healthy.Load() }

func (h *Hub) register(topic string, c flusher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.caches[topic] = append(h.caches[topic], c)
}

// Changed flushes the caches for topic at once. Writers call it after their
// own commit, so this instance never waits for its own notification.
func (h *Hub) Changed(topic string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	var cs []flusher
	if topic == All {
		for _, list := range h.caches {
			cs = append(cs, list...)
		}
	} else {
		cs = append(cs, h.caches[topic]...)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.Flush()
	}
}

func (h *Hub) setHealthy(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.healthy.Load() == ok {
		return
	}
	if ok {
		close(h.up)
	} else {
		h.up = make(chan struct{})
	}
	h.healthy.Store(ok)
}

// WaitHealthy blocks until the hub is healthy or ctx ends.
func (h *Hub) WaitHealthy(ctx context.Context) error {
	h.mu.Lock()
	up := h.up
	h.mu.Unlock()
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run listens until ctx ends, reconnecting after failures. connect must return
// a connection for the listener's sole use.
func (h *Hub) Run(ctx context.Context, connect func(context.Context) (*pgx.Conn, error)) error {
	l := &pgxlisten.Listener{
		Connect: connect,
		LogError: func(ctx context.Context, err error) {
			if h.healthy.Load() {
				h.log.Warn("cache invalidation listener lost; caches bypassed", "err", err)
			}
			h.down()
		},
		ReconnectDelay: 500 * time.Millisecond,
	}
	l.Handle(Channel, handler{h})
	defer h.down()
	return l.Listen(ctx)
}

// down marks the hub unhealthy and flushes everything: whatever happened
// while nobody listened is unknown.
func (h *Hub) down() {
	h.setHealthy(false)
	h.Changed(All)
}

type handler struct{ h *Hub }

// HandleBacklog runs once LISTEN is in place: anything may have changed while
// the listener was away, so flush, then trust the caches again.
func (hd handler) HandleBacklog(ctx context.Context, channel string, conn *pgx.Conn) error {
	hd.h.Changed(All)
	hd.h.setHealthy(true)
	hd.h.log.Info("cache invalidation listener up")
	return nil
}

func (hd handler) HandleNotification(ctx context.Context, n *pgconn.Notification, conn *pgx.Conn) error {
	hd.h.Changed(n.Payload)
	return nil
}

// Cache is a bounded in-process map whose entries are dropped on every
// invalidation of its topic. Errors are never cached, and while its hub is
// unhealthy every lookup goes to the loader.
type Cache[K comparable, V any] struct {
	hub *Hub
	max int

	mu  sync.RWMutex
	m   map[K]V
	gen uint64 // bumped by every flush; a load that straddles one is not stored
}

// NewCache returns a cache of at most max entries, registered with hub for
// topic.
func NewCache[K comparable, V any](hub *Hub, topic string, max int) *Cache[K, V] {
	c := &Cache[K, V]{hub: hub, max: max, m: make(map[K]V)}
	if hub != nil {
		hub.register(topic, c)
	}
	return c
}

// Get returns the cached value for k, or loads, caches and returns it.
func (c *Cache[K, V]) Get(ctx context.Context, k K, load func(context.Context) (V, error)) (V, error) {
	if !c.hub.Healthy() {
		return load(ctx)
	}
	c.mu.RLock()
	v, ok := c.m[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := load(ctx)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	// A flush during the load means v may predate a change: don't keep it.
	if c.gen == gen && c.hub.Healthy() {
		if len(c.m) >= c.max {
			clear(c.m)
		}
		c.m[k] = v
	}
	c.mu.Unlock()
	return v, nil
}

// Put stores v for k while the hub is healthy. Unlike Get it has no
// generation check: only use it for a value that cannot be stale.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hub.Healthy() {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
}

// Delete drops k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// Flush drops everything.
func (c *Cache[K, V]) Flush() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	c.mu.Unlock()
}

// Len returns the number of cached entries.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
