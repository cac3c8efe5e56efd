package invalidate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/testdb"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// healthyHub returns a hub marked healthy without a database, for tests of
// the cache alone.
func healthyHub() *Hub {
	h := NewHub(quiet())
	h.setHealthy(true)
	return h
}

func TestCacheServesUntilFlushed(t *testing.T) {
	h := healthyHub()
	c := NewCache[string, int](h, ACL, "test", 10)
	loads := 0
	load := func(context.Context) (int, error) { loads++; return loads, nil }
	for i := 0; i < 3; i++ {
		if v, _ := c.Get(context.Background(), "k", load); v != 1 {
			t.Fatalf("get %d = %d, want the cached 1", i, v)
		}
	}
	h.Changed(ACL)
	if v, _ := c.Get(context.Background(), "k", load); v != 2 {
		t.Fatalf("after a flush: %d, want a fresh load", v)
	}
	h.Changed(Auth) // another topic leaves it alone
	if v, _ := c.Get(context.Background(), "k", load); v != 2 {
		t.Fatalf("after another topic's flush: %d", v)
	}
	h.Changed(All)
	if v, _ := c.Get(context.Background(), "k", load); v != 3 {
		t.Fatalf("after an all flush: %d", v)
	}
}

func TestCacheNeverKeepsErrorsOrStraddlingLoads(t *testing.T) {
	h := healthyHub()
	c := NewCache[string, int](h, ACL, "test", 10)
	boom := errors.New("boom")
	if _, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if c.Len() != 0 {
		t.Fatal("an error was cached")
	}
	// A flush while the load is running: its answer may predate the change.
	v, _ := c.Get(context.Background(), "k", func(context.Context) (int, error) {
		h.Changed(ACL)
		return 7, nil
	})
	if v != 7 || c.Len() != 0 {
		t.Fatalf("a load that straddled a flush was kept (v=%d, len=%d)", v, c.Len())
	}
}

func TestCacheBypassedWhileUnhealthy(t *testing.T) {
	h := NewHub(quiet())
	c := NewCache[string, int](h, ACL, "test", 10)
	n := 0
	load := func(context.Context) (int, error) { n++; return n, nil }
	c.Get(context.Background(), "k", load)
	c.Get(context.Background(), "k", load)
	if n != 2 || c.Len() != 0 {
		t.Fatalf("unhealthy hub: %d loads, %d cached; want 2 and 0", n, c.Len())
	}
	var nilHub *Hub
	c2 := NewCache[string, int](nilHub, ACL, "test", 10)
	c2.Get(context.Background(), "k", load)
	if c2.Len() != 0 {
		t.Fatal("a cache without a hub kept something")
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache[int, int](healthyHub(), ACL, "test", 5)
	for i := 0; i < 12; i++ {
		c.Get(context.Background(), i, func(context.Context) (int, error) { return i, nil })
		if c.Len() > 5 {
			t.Fatalf("%d entries, bound 5", c.Len())
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	h := healthyHub()
	c := NewCache[int, int](h, ACL, "test", 100)
	var version atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // a writer: bump the version, then flush, like a commit then its notification
		defer wg.Done()
		for i := 0; i < 200; i++ {
			version.Add(1)
			h.Changed(ACL)
		}
		close(stop)
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Get(context.Background(), 1, func(context.Context) (int, error) { return int(version.Load()), nil })
			}
		}()
	}
	wg.Wait()
	// Once the writer is done, what the cache answers is the final version.
	v, _ := c.Get(context.Background(), 1, func(context.Context) (int, error) { return int(version.Load()), nil })
	if v != int(version.Load()) {
		t.Fatalf("stale answer after the last flush: %d, want %d", v, version.Load())
	}
}

// TestHubFollowsTheDatabase runs a real listener: a NOTIFY from another
// connection flushes the cache, and losing the listening connection makes
// the hub unhealthy until it is back.
func TestHubFollowsTheDatabase(t *testing.T) {
	pool, url := testdb.New(t)
	h := NewHub(quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) })
	}()
	defer func() { cancel(); <-done }()
	wait, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	if err := h.WaitHealthy(wait); err != nil {
		t.Fatal(err)
	}
	c := NewCache[string, int](h, ACL, "test", 10)
	c.Get(ctx, "k", func(context.Context) (int, error) { return 1, nil })
	if c.Len() != 1 {
		t.Fatal("nothing cached while healthy")
	}
	start := time.Now()
	if _, err := pool.Exec(ctx, `SELECT pg_notify($1, 'acl')`, Channel); err != nil {
		t.Fatal(err)
	}
	for c.Len() != 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatal("the notification never flushed the cache")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("notify-to-flush: %v", time.Since(start))

	c.Get(ctx, "k", func(context.Context) (int, error) { return 1, nil })
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen%'`); err != nil {
		t.Fatal(err)
	}
	for start = time.Now(); h.Healthy(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the hub did not notice its connection was gone")
		}
	}
	if c.Len() != 0 {
		t.Fatal("the cache was not flushed when the listener went down")
	}
	if err := h.WaitHealthy(wait); err != nil {
		t.Fatalf("the listener did not come back: %v", err)
	}
	if st := h.Stats(); st.Downs != 1 || !st.Healthy || st.Notifications[ACL] != 1 {
		t.Errorf("Stats = %+v; want 1 down, healthy again, 1 acl notification", st)
	}
}

func TestCacheStats(t *testing.T) {
	h := healthyHub()
	a := NewCache[string, int](h, ACL, "a", 10)
	b := NewCache[string, int](h, Auth, "b", 10)
	load := func(context.Context) (int, error) { return 1, nil }
	for _, k := range []string{"x", "x", "x", "y"} { // miss, hit, hit, miss
		a.Get(context.Background(), k, load)
	}
	h.setHealthy(false)
	b.Get(context.Background(), "x", load)
	b.Get(context.Background(), "x", load)
	st := h.Stats()
	want := []CacheStats{{Name: "a", Hits: 2, Misses: 2, Entries: 2}, {Name: "b", Bypasses: 2}}
	if len(st.Caches) != 2 || st.Caches[0] != want[0] || st.Caches[1] != want[1] || st.Healthy {
		t.Errorf("Stats = %+v, want caches %+v, unhealthy", st, want)
	}
}

// lags is an Observer that keeps what it is given.
type lags struct {
	mu sync.Mutex
	v  []float64
}

func (l *lags) Observe(v float64) { l.mu.Lock(); l.v = append(l.v, v); l.mu.Unlock() }

func (l *lags) get() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]float64(nil), l.v...)
}

// TestHubProbes runs a real listener: the hub's own probes arrive and their
// lag is observed; another hub's probes are not, and no probe flushes a
// cache or counts as a notification, while real ones are counted by topic.
func TestHubProbes(t *testing.T) {
	pool, url := testdb.New(t)
	h := NewHub(quiet())
	var observed lags
	h.ObserveLag(&observed)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { h.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }) })
	other := NewHub(quiet()) // another instance's hub, probing the same database
	wg.Go(func() { other.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }) })
	defer func() { cancel(); wg.Wait() }()
	c := NewCache[string, int](h, ACL, "test", 10)
	wait, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	if err := h.WaitHealthy(wait); err != nil {
		t.Fatal(err)
	}
	c.Get(ctx, "k", func(context.Context) (int, error) { return 1, nil })

	wg.Go(func() { h.Probe(ctx, pool, 20*time.Millisecond) })
	wg.Go(func() { other.Probe(ctx, pool, 20*time.Millisecond) })
	for start := time.Now(); len(observed.get()) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d probes observed in 5 s, want 3", len(observed.get()))
		}
	}
	for _, v := range observed.get() {
		if v < 0 || v > 2 {
			t.Errorf("a probe's lag: %v s", v)
		}
	}
	if c.Len() != 1 {
		t.Error("a probe flushed the cache")
	}
	for _, payload := range []string{ACL, ACL, Auth, "nonsense"} {
		if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, payload); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]uint64{ACL: 2, Auth: 1, All: 0, "other": 1}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		got := h.Stats().Notifications
		if maps.Equal(got, want) {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("notifications counted %v, want %v (probes not among them)", got, want)
		}
	}
}
