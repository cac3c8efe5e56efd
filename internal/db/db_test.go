package db_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/testdb"
)

// TestOpenCreatesAndMigrates checks a missing database is created and
// migrated, that opening again changes nothing, and that every down
// migration undoes its up migration cleanly (down to nothing, then up again).
func TestOpenCreatesAndMigrates(t *testing.T) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.ServerURL())
	if err != nil {
		testdb.New(t) // skips or fails the way every database test does
		return
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "mgdbtest_" + hex.EncodeToString(b)
	url := testdb.WithDatabase(testdb.ServerURL(), name)
	t.Cleanup(func() { testdb.Drop(t, name) })

	pool, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var version int
	var dirty bool
	if err := pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if version < 3 || dirty {
		t.Fatalf("schema version %d dirty=%v", version, dirty)
	}
	var jit string
	if err := pool.QueryRow(ctx, `SHOW jit`).Scan(&jit); err != nil || jit != "off" {
		t.Errorf("jit = %q (%v), want off by default", jit, err)
	}
	pool.Close()
	// A url that sets jit keeps its choice.
	on, err := db.Connect(ctx, url+"&jit=on")
	if err != nil {
		t.Fatal(err)
	}
	if err := on.QueryRow(ctx, `SHOW jit`).Scan(&jit); err != nil || jit != "on" {
		t.Errorf("with ?jit=on: jit = %q (%v)", jit, err)
	}
	on.Close()
	if pool, err = db.Open(ctx, url); err != nil {
		t.Fatalf("second open: %v", err)
	}
	pool.Close()

	m, err := db.NewMigrate(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	m.Close()
}

func TestMigrateURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h/db":   "pgx5://u@h/db",
		"postgresql://u@h/db": "pgx5://u@h/db",
		"pgx5://u@h/db":       "pgx5://u@h/db",
	} {
		if got := db.MigrateURL(in); got != want {
			t.Errorf("migrateURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnavailable tells real outages from real query failures: a server
// nobody listens on, a session the server ends, are outages; a bad query,
// a violated constraint, a cancelled request are not.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testdb.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, connectErr := pgx.Connect(ctx, "postgres://postgres@"+closed+"/x?sslmode=disable&connect_timeout=5")

	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, terminatedErr := conn.Exec(ctx, `SELECT 1`)
	conn.Release()

	_, syntaxErr := pool.Exec(ctx, `SELEC 1`)
	_, uniqueErr := pool.Exec(ctx, `INSERT INTO blobs (sha256, size, content_type) VALUES ($1, 1, 'x'), ($1, 1, 'x')`, strings.Repeat("a", 64))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, cancelErr := pool.Exec(cancelled, `SELECT 1`)

	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nobody listens", connectErr, true},
		{"session terminated", terminatedErr, true},
		{"syntax error", syntaxErr, false},
		{"unique violation", uniqueErr, false},
		{"cancelled", cancelErr, false},
		{"no error", nil, false},
	} {
		if tt.err == nil && tt.want {
			t.Errorf("%s: no error to classify", tt.name)
			continue
		}
		if got := db.Unavailable(fmt.Errorf("wrapped: %w", tt.err)); got != tt.want && tt.err != nil {
			t.Errorf("%s (%v): Unavailable = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
