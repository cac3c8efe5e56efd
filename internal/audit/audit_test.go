package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/testdb"
)

const item = "11111111-1111-1111-1111-111111111111"

func count(t *testing.T, l *Log) int {
	t.Helper()
	var n int
	if err := l.pool.QueryRow(context.Background(), `SELECT count(*) FROM access_log WHERE media_id = $1`, item).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBatchesAndFlushOnShutdown(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Batch: 100, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	for i := 0; i < 250; i++ {
		l.Record(Entry{MediaID: item, Actor: fmt.Sprintf("u%d@example.com", i), Allowed: i%2 == 0, Range: "bytes=0-1"})
	}
	// Two full batches are written without waiting for the (hour-long) interval.
	deadline := time.Now().Add(5 * time.Second)
	for count(t, l) < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, l); n != 200 {
		t.Fatalf("%d rows before shutdown, want the two full batches (200)", n)
	}
	cancel()
	l.Wait()
	if n := count(t, l); n != 250 {
		t.Fatalf("%d rows after a clean shutdown, want all 250", n)
	}
	if l.Dropped() != 0 {
		t.Fatalf("%d dropped", l.Dropped())
	}
}

func TestRecordNeverBlocks(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Buffer: 10})
	// Run is not running: the buffer fills and the rest is dropped, counted.
	done := make(chan struct{})
	go func() {
		for i := 0; i < 25; i++ {
			l.Record(Entry{MediaID: item, Actor: "a"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Record blocked on a full buffer")
	}
	if l.Dropped() != 15 {
		t.Fatalf("dropped %d, want 15", l.Dropped())
	}
	if l.Depth() != 10 || l.Capacity() != 10 {
		t.Fatalf("depth %d of %d, want a full buffer of 10", l.Depth(), l.Capacity())
	}
}

func TestListPages(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 7; i++ {
		l.Record(Entry{At: base.Add(time.Duration(i) * time.Second), MediaID: item, Actor: fmt.Sprint(i), Allowed: true})
	}
	l.Record(Entry{At: base, MediaID: "22222222-2222-2222-2222-222222222222", Actor: "other item"})
	cancel()
	l.Wait()

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := l.List(context.Background(), item, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			seen = append(seen, e.Actor)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(seen) != "[6 5 4 3 2 1 0]" {
		t.Fatalf("entries newest first across pages = %v", seen)
	}
	if _, err := l.List(context.Background(), item, "not a time", 3); err == nil {
		t.Fatal("a malformed cursor was accepted")
	}
}
