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
	// A full batch is written without waiting for the (hour-long) interval.
	deadline := time.Now().Add(5 * time.Second)
	for count(t, l) < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(t, l); n < 100 {
		t.Fatalf("%d rows before shutdown, want at least a full batch (100)", n)
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
			l.Record(Entry{MediaID: item, Actor: fmt.Sprint(i)})
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
	// A repeat of a pending row still counts: it takes no room.
	l.Record(Entry{MediaID: item, Actor: "0"})
	if l.Dropped() != 15 || l.Depth() != 10 {
		t.Fatalf("a repeat on a full buffer: dropped %d, depth %d; want 15 and 10", l.Dropped(), l.Depth())
	}
}

// TestFold writes repeats of one request as one row, against real
// PostgreSQL: the count, the first and last time and the bytes' sum are
// kept, in the raw entries and in the viewings; another Range, another
// outcome or a request past FoldWindow makes a row of its own.
func TestFold(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for i := range 1000 {
		l.Record(Entry{At: at(time.Duration(i) * time.Millisecond / 2), MediaID: item, Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 1024})
	}
	l.Record(Entry{At: at(100 * time.Millisecond), MediaID: item, Actor: "alice@x", Allowed: true, Via: "owner", Range: "bytes=0-1", Bytes: 2})
	l.Record(Entry{At: at(200 * time.Millisecond), MediaID: item, Actor: "alice@x", Allowed: false})
	l.Record(Entry{At: at(1500 * time.Millisecond), MediaID: item, Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 1024})
	if l.Depth() != 4 {
		t.Fatalf("depth %d, want 4 rows for 1003 requests", l.Depth())
	}
	cancel()
	l.Wait()
	if n := count(t, l); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
	p, err := l.List(t.Context(), item, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		at, last       time.Duration
		rng            string
		allowed        bool
		requests, size int64
	}
	var got []row
	for _, e := range p.Entries {
		r := row{at: e.At.Sub(t0), rng: e.Range, allowed: e.Allowed, requests: e.Requests, size: e.Bytes}
		if !e.Last.IsZero() {
			r.last = e.Last.Sub(t0)
		}
		got = append(got, r)
	}
	want := []row{
		{at: 1500 * time.Millisecond, allowed: true, requests: 1, size: 1024},
		{at: 200 * time.Millisecond, requests: 1},
		{at: 100 * time.Millisecond, rng: "bytes=0-1", allowed: true, requests: 1, size: 2},
		{at: 0, last: 999 * time.Millisecond / 2, allowed: true, requests: 1000, size: 1000 * 1024},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("raw entries\n got %v\nwant %v", got, want)
	}
	v, err := l.ListViews(t.Context(), item, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Views) != 2 {
		t.Fatalf("views = %+v, want the allowed viewing and the refusal", v.Views)
	}
	for _, w := range v.Views {
		if w.Allowed && (w.Requests != 1002 || w.Bytes != 1001*1024+2 || !w.Started.Equal(t0) || !w.Ended.Equal(at(1500*time.Millisecond))) {
			t.Errorf("viewing %+v, want 1002 requests from t0 to +1.5s", w)
		}
		if !w.Allowed && w.Requests != 1 {
			t.Errorf("refusal %+v, want 1 request", w)
		}
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

// TestListViews groups requests into viewings against real PostgreSQL: one
// reader's requests through one way in, each within ViewGap of the one
// before, are one row (start, end, count, bytes); a longer silence, another
// way in, a refusal or another reader start another; another item's rows
// stay out; pages follow each other without gap or overlap.
func TestListViews(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	other := "22222222-2222-2222-2222-222222222222"
	rows := []Entry{
		// alice plays: three requests, the last one ViewGap after the second.
		{At: at(0), Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 1000},
		{At: at(10 * time.Second), Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 500},
		{At: at(10*time.Second + ViewGap), Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 20},
		// ...and again after a long pause: a second viewing.
		{At: at(time.Hour), Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 7},
		// alice through a group meanwhile: another way in.
		{At: at(30 * time.Second), Actor: "alice@x", Allowed: true, Via: "group:team", Bytes: 3},
		// A share link, interleaved with alice's requests.
		{At: at(5 * time.Second), Actor: "link:abc", Allowed: true, Via: ViaLink, Bytes: 100},
		{At: at(6 * time.Second), Actor: "link:abc", Allowed: true, Via: ViaLink, Bytes: 100},
		// bob, refused twice.
		{At: at(20 * time.Second), Actor: "bob@x", Allowed: false},
		{At: at(21 * time.Second), Actor: "bob@x", Allowed: false},
	}
	for i := range rows {
		rows[i].MediaID = item
	}
	rows = append(rows, Entry{At: at(2 * time.Second), MediaID: other, Actor: "alice@x", Allowed: true, Via: "owner", Bytes: 1 << 20})
	if err := l.write(t.Context(), rows); err != nil {
		t.Fatal(err)
	}

	want := []View{
		{Who: "alice@x", Via: "owner", Allowed: true, Started: at(time.Hour), Ended: at(time.Hour), Requests: 1, Bytes: 7},
		{Who: "alice@x", Via: "group:team", Allowed: true, Started: at(30 * time.Second), Ended: at(30 * time.Second), Requests: 1, Bytes: 3},
		{Who: "bob@x", Via: "", Allowed: false, Started: at(20 * time.Second), Ended: at(21 * time.Second), Requests: 2, Bytes: 0},
		{Who: "link:abc", Via: ViaLink, Allowed: true, Started: at(5 * time.Second), Ended: at(6 * time.Second), Requests: 2, Bytes: 200},
		{Who: "alice@x", Via: "owner", Allowed: true, Started: at(0), Ended: at(10*time.Second + ViewGap), Requests: 3, Bytes: 1520},
	}
	all, err := l.ListViews(t.Context(), item, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if all.Next != "" || len(all.Views) != len(want) {
		t.Fatalf("views = %+v (next %q), want %d", all.Views, all.Next, len(want))
	}
	for i, v := range all.Views {
		v.Started, v.Ended = v.Started.UTC(), v.Ended.UTC()
		if v != want[i] {
			t.Errorf("view %d = %+v, want %+v", i, v, want[i])
		}
	}

	// Two at a time: the same views, in the same order.
	var paged []View
	cursor := ""
	for range len(want) {
		p, err := l.ListViews(t.Context(), item, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Views...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(paged) != len(want) {
		t.Fatalf("paged views = %+v, want %d", paged, len(want))
	}
	for i, v := range paged {
		if v.Started.UTC() != want[i].Started || v.Who != want[i].Who || v.Via != want[i].Via {
			t.Errorf("paged view %d = %+v, want %+v", i, v, want[i])
		}
	}
	if _, err := l.ListViews(t.Context(), item, "not a cursor", 2); err == nil {
		t.Error("a malformed cursor was taken")
	}
}

// TestViewGapAfterFold keeps a viewing whole across folded rows of two
// ranges: the gap before a request is measured from the latest request
// before it, which a folded row of another range may hold.
func TestViewGapAfterFold(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	rows := []Entry{
		// Range A at 0 s and 0.9 s, folded; range B at 0.5 s; A again 299.8 s
		// after the last request (0.9 s), 300.2 s after the row before it.
		{At: at(0), Last: at(900), Requests: 2, Bytes: 2},
		{At: at(500), Range: "bytes=0-0", Requests: 1, Bytes: 1},
		{At: at(300_700), Requests: 1, Bytes: 1},
	}
	for i := range rows {
		rows[i].MediaID, rows[i].Actor, rows[i].Allowed, rows[i].Via = item, "alice@x", true, "owner"
	}
	if err := l.write(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	v, err := l.ListViews(t.Context(), item, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Views) != 1 || v.Views[0].Requests != 4 || !v.Views[0].Ended.Equal(at(300_700)) {
		t.Fatalf("views = %+v, want one viewing of 4 requests ending at +300.7s", v.Views)
	}
}

// TestWriteFreesTheBuffer has Record go on while a write is under way: the
// rows being written still count against the buffer, and once written they
// no longer do.
func TestWriteFreesTheBuffer(t *testing.T) {
	t.Parallel()
	pool, _ := testdb.New(t)
	l := New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Buffer: 10, Interval: time.Hour})
	for i := range 10 {
		l.Record(Entry{MediaID: item, Actor: fmt.Sprint(i)})
	}
	rows := l.take()
	if len(rows) != 10 || l.Depth() != 10 {
		t.Fatalf("took %d rows, depth %d; want 10 and 10", len(rows), l.Depth())
	}
	l.Record(Entry{MediaID: item, Actor: "while writing"})
	if l.Dropped() != 1 {
		t.Fatalf("dropped %d while the buffer's rows were being written, want 1", l.Dropped())
	}
	l.written(len(rows))
	l.Record(Entry{MediaID: item, Actor: "after"})
	if l.Dropped() != 1 || l.Depth() != 1 {
		t.Fatalf("after the write: dropped %d, depth %d; want 1 and 1", l.Dropped(), l.Depth())
	}
}
