package db_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	pool.Close()
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
