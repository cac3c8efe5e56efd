package passwd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/passwd"
)

// cheap parameters: these tests check the bound, not the cost.
var cheap = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestHashAndCompare(t *testing.T) {
	h := passwd.New(cheap, 1, time.Second)
	hash, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{"correct horse", true}, {"wrong horse", false}, {"", false}} {
		ok, err := h.Compare(context.Background(), tc.password, hash)
		if err != nil || ok != tc.want {
			t.Errorf("Compare(%q) = %v, %v; want %v, nil", tc.password, ok, err, tc.want)
		}
	}
	if _, err := h.Compare(context.Background(), "x", "not a hash"); err == nil {
		t.Error("Compare against a malformed hash = nil error")
	}
}

func TestBound(t *testing.T) {
	const bound, wait = 2, 150 * time.Millisecond
	h := passwd.New(cheap, bound, wait)
	if h.Bound() != bound {
		t.Fatalf("Bound = %d, want %d", h.Bound(), bound)
	}
	hash, err := h.Hash(context.Background(), "secret")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var releases []func()
	for range bound {
		rel, err := h.Hold(ctx)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, rel)
	}
	// Every slot is taken: the next operation waits, then is refused as a
	// passing unavailability (a 503), not as a wrong password.
	start := time.Now()
	if _, err := h.Compare(ctx, "secret", hash); !errors.Is(err, passwd.ErrBusy) || !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("Compare with every slot taken = %v, want ErrBusy (ErrUnavailable)", err)
	}
	if waited := time.Since(start); waited < wait {
		t.Errorf("refused after %v, want a wait of at least %v", waited, wait)
	}
	if _, err := h.Hash(ctx, "secret"); !errors.Is(err, passwd.ErrBusy) {
		t.Fatalf("Hash with every slot taken = %v, want ErrBusy", err)
	}
	// A cancelled caller stops waiting at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Compare(cctx, "secret", hash); !errors.Is(err, errs.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Compare with a cancelled context = %v, want ErrUnavailable and context.Canceled", err)
	}
	// A slot freed while an operation waits lets it run.
	done := make(chan error, 1)
	go func() {
		ok, err := h.Compare(ctx, "secret", hash)
		if err == nil && !ok {
			err = errors.New("the right password did not match")
		}
		done <- err
	}()
	time.Sleep(wait / 3)
	releases[0]()
	if err := <-done; err != nil {
		t.Errorf("Compare once a slot was freed = %v, want a match", err)
	}
	releases[1]()
}

func TestBoundAtLeastOne(t *testing.T) {
	if b := passwd.New(cheap, 0, time.Second).Bound(); b != 1 {
		t.Errorf("New(concurrency 0).Bound() = %d, want 1", b)
	}
}
