// Package invalidate keeps in-process caches exact across instances:
// PostgreSQL NOTIFY tells every instance that something changed, and caches
// are bypassed whenever the listening connection is down.
package invalidate

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"strconv"
	"strings"
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

// flusher is a cache: it can drop what it holds and say how it is used.
type flusher interface {
	Flush()
	Stats() CacheStats
}

// Hub dispatches invalidations to the caches registered with it and knows
// whether they may be trusted.
type Hub struct {
	mu      sync.Mutex
	caches  map[string][]flusher
	healthy atomic.Bool
	up      chan struct{} // closed while healthy; replaced when it goes down
	log     *slog.Logger

	id       string                     // names this hub's probes among every instance's
	lag      Observer                   // gets each probe's lag; under mu
	notified [len(topics)]atomic.Uint64 // notifications received, by topic
	other    atomic.Uint64              // notifications of no topic we know
	downs    atomic.Uint64              // times the listener was lost
}

// topics are the payloads notifications carry, as counted.
var topics = [...]string{ACL, Auth, All}

// Observer takes measurements, in seconds (a Prometheus histogram is one).
type Observer interface{ Observe(float64) }

// NewHub returns a Hub that is not yet healthy: its caches are bypassed until
// Run has a listening connection.
func NewHub(log *slog.Logger) *Hub {
	return &Hub{caches: map[string][]flusher{}, up: make(chan struct{}), log: log, id: rand.Text()[:12]}
}

// Stats is how the hub and its caches are doing.
type Stats struct {
	Healthy       bool
	Downs         uint64            // times the listening connection was lost
	Notifications map[string]uint64 // received, by topic; "other" for a topic no cache has
	Caches        []CacheStats      // every cache registered, by name
}

// Stats returns the hub's counters since it was made, and its caches'.
func (h *Hub) Stats() Stats {
	st := Stats{Healthy: h.Healthy(), Downs: h.downs.Load(), Notifications: map[string]uint64{"other": h.other.Load()}}
	for i, t := range topics {
		st.Notifications[t] = h.notified[i].Load()
	}
	h.mu.Lock()
	for _, list := range h.caches {
		for _, c := range list {
			st.Caches = append(st.Caches, c.Stats())
		}
	}
	h.mu.Unlock()
	slices.SortFunc(st.Caches, func(a, b CacheStats) int { return strings.Compare(a.Name, b.Name) })
	return st
}

// ObserveLag sends o the lag of every probe of this hub from now on (see
// Probe).
func (h *Hub) ObserveLag(o Observer) {
	h.mu.Lock()
	h.lag = o
	h.mu.Unlock()
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
	// Healthy is true before WaitHealthy's waiters wake, and false before
	// a new waiter can find the fresh channel: one who returns from
	// WaitHealthy sees Healthy.
	if ok {
		h.healthy.Store(true)
		close(h.up)
	} else {
		h.up = make(chan struct{})
		h.healthy.Store(false)
	}
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
				h.downs.Add(1)
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
	h := hd.h
	if rest, ok := strings.CutPrefix(n.Payload, probePrefix); ok {
		h.probed(rest)
		return nil
	}
	h.Changed(n.Payload)
	if i := slices.Index(topics[:], n.Payload); i >= 0 {
		h.notified[i].Add(1)
	} else {
		h.other.Add(1)
	}
	return nil
}

// probePrefix starts a probe's payload: "probe:<hub id>:<sent, Unix ns>".
// No cache has it as a topic, so an instance that does not know probes
// flushes nothing for them.
const probePrefix = "probe:"

// Execer runs a statement (a pgxpool.Pool is one).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Probe measures how long a notification takes to arrive, which is how
// long a change made elsewhere may still be served from a cache here: while
// the hub is healthy it sends one of its own through db every interval and
// gives its lag, when it arrives, to the ObserveLag observer. It returns
// when ctx ends.
func (h *Hub) Probe(ctx context.Context, db Execer, every time.Duration) {
	for {
		if h.WaitHealthy(ctx) != nil {
			return
		}
		payload := probePrefix + h.id + ":" + strconv.FormatInt(time.Now().UnixNano(), 10)
		if _, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, payload); err != nil && ctx.Err() == nil {
			h.log.Debug("invalidation probe", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// probed takes a probe's payload (without its prefix): the lag of one of
// ours is observed; other instances' are theirs to measure.
func (h *Hub) probed(p string) {
	id, sent, ok := strings.Cut(p, ":")
	ns, err := strconv.ParseInt(sent, 10, 64)
	if !ok || err != nil || id != h.id {
		return
	}
	h.mu.Lock()
	o := h.lag
	h.mu.Unlock()
	if o != nil {
		o.Observe(time.Since(time.Unix(0, ns)).Seconds())
	}
}

// Cache is a bounded in-process map whose entries are dropped on every
// invalidation of its topic. Errors are never cached, and while its hub is
// unhealthy every lookup goes to the loader.
type Cache[K comparable, V any] struct {
	hub  *Hub
	name string
	max  int

	hits, misses, bypasses atomic.Uint64

	mu  sync.RWMutex
	m   map[K]V
	gen uint64 // bumped by every flush; a load that straddles one is not stored
}

// NewCache returns a cache of at most max entries, registered with hub for
// topic. name tells it apart in Stats.
func NewCache[K comparable, V any](hub *Hub, topic, name string, max int) *Cache[K, V] {
	c := &Cache[K, V]{hub: hub, name: name, max: max, m: make(map[K]V)}
	if hub != nil {
		hub.register(topic, c)
	}
	return c
}

// Get returns the cached value for k, or loads, caches and returns it.
func (c *Cache[K, V]) Get(ctx context.Context, k K, load func(context.Context) (V, error)) (V, error) {
	if !c.hub.Healthy() {
		c.bypasses.Add(1)
		return load(ctx)
	}
	c.mu.RLock()
	v, ok := c.m[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
		return v, nil
	}
	c.misses.Add(1)
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

// CacheStats is how a cache was used since it was made: lookups answered
// from it, loaded on a miss, and loaded because its hub was unhealthy.
type CacheStats struct {
	Name                   string
	Hits, Misses, Bypasses uint64
	Entries                int
}

// Stats returns the cache's counters.
func (c *Cache[K, V]) Stats() CacheStats {
	return CacheStats{Name: c.name, Hits: c.hits.Load(), Misses: c.misses.Load(), Bypasses: c.bypasses.Load(), Entries: c.Len()}
}

// Len returns the number of cached entries.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
