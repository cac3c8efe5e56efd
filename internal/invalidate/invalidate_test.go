package invalidate

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	c := NewCache[string, int](h, ACL, 10)
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
	c := NewCache[string, int](h, ACL, 10)
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
	c := NewCache[string, int](h, ACL, 10)
	n := 0
	load := func(context.Context) (int, error) { n++; return n, nil }
	c.Get(context.Background(), "k", load)
	c.Get(context.Background(), "k", load)
	if n != 2 || c.Len() != 0 {
		t.Fatalf("unhealthy hub: %d loads, %d cached; want 2 and 0", n, c.Len())
	}
	var nilHub *Hub
	c2 := NewCache[string, int](nilHub, ACL, 10)
	c2.Get(context.Background(), "k", load)
	if c2.Len() != 0 {
		t.Fatal("a cache without a hub kept something")
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache[int, int](healthyHub(), ACL, 5)
	for i := 0; i < 12; i++ {
		c.Get(context.Background(), i, func(context.Context) (int, error) { return i, nil })
		if c.Len() > 5 {
			t.Fatalf("%d entries, bound 5", c.Len())
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	h := healthyHub()
	c := NewCache[int, int](h, ACL, 100)
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
	c := NewCache[string, int](h, ACL, 10)
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
}
