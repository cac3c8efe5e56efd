package session_test

import (
	"bytes"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/session"
)

var tokenRE = regexp.MustCompile(`^mg_[A-Za-z0-9_-]{43}$`)

func TestTokens(t *testing.T) {
	t.Parallel()
	pool, us := newUsers(t)
	ctx := ctxT(t)
	alice := mustCreate(t, us, "alice@example.com", acl.RoleEditor, "password1")
	bob := mustCreate(t, us, "bob@example.com", acl.RoleViewer, "password1")

	tok, err := us.CreateToken(ctx, alice.ID)
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if !tokenRE.MatchString(tok) {
		t.Errorf("token %q is not mg_ and 43 URL-safe characters", tok)
	}
	tok2, err := us.CreateToken(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	bobTok, err := us.CreateToken(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok == tok2 || tok == bobTok {
		t.Error("tokens repeat")
	}

	// Only the SHA-256 is stored; the text appears nowhere in the table.
	var hash []byte
	if err := pool.QueryRow(ctx, `SELECT token_hash FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id LIMIT 1`,
		alice.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	sum1, sum2 := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(tok2))
	if !bytes.Equal(hash, sum1[:]) && !bytes.Equal(hash, sum2[:]) {
		t.Errorf("stored hash %x is the SHA-256 of neither token", hash)
	}
	for _, s := range []string{tok, strings.TrimPrefix(tok, "mg_")} {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens t
			WHERE strpos(t::text, $1) > 0 OR strpos(t::text, encode(convert_to($1, 'UTF8'), 'hex')) > 0`, s).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("the token text %q is stored in api_tokens", s)
		}
	}

	// Each token finds its owner.
	for tk, want := range map[string]session.User{tok: alice, tok2: alice, bobTok: bob} {
		u, err := us.ByToken(ctx, tk)
		if err != nil || u.ID != want.ID || u.Email != want.Email || u.Role != want.Role {
			t.Errorf("ByToken = %+v, %v; want %s", u, err, want.Email)
		}
	}

	// Anything else is unauthenticated.
	for _, bad := range []string{
		"", "mg_", "mg_x", "garbage", strings.TrimPrefix(tok, "mg_"), "MG_" + strings.TrimPrefix(tok, "mg_"),
		tok + "x", tok[:len(tok)-1], " " + tok, tok + " ", "mg_" + strings.Repeat("A", 43),
	} {
		u, err := us.ByToken(ctx, bad)
		if !isOnly(err, errs.ErrUnauthenticated) || u != (session.User{}) {
			t.Errorf("ByToken(%q) = %+v, %v; want ErrUnauthenticated", bad, u, err)
		}
	}

	// A disabled user's tokens stop working.
	disable(t, pool, bob.ID)
	if u, err := us.ByToken(ctx, bobTok); !isOnly(err, errs.ErrUnauthenticated) || u != (session.User{}) {
		t.Errorf("disabled user's token: %+v, %v; want ErrUnauthenticated", u, err)
	}

	// Deleting the row ends that token only.
	if _, err := pool.Exec(ctx, `DELETE FROM api_tokens WHERE token_hash = $1`, sum1[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := us.ByToken(ctx, tok); !isOnly(err, errs.ErrUnauthenticated) {
		t.Errorf("deleted token: %v, want ErrUnauthenticated", err)
	}
	if u, err := us.ByToken(ctx, tok2); err != nil || u.ID != alice.ID {
		t.Errorf("the user's other token stopped working: %+v, %v", u, err)
	}

	// Deleting the user deletes their tokens.
	if _, err := pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := us.ByToken(ctx, tok2); !isOnly(err, errs.ErrUnauthenticated) {
		t.Errorf("deleted user's token: %v, want ErrUnauthenticated", err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE user_id = $1`, alice.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d tokens left for a deleted user (%v)", left, err)
	}
}

func TestCreateTokenUnknownUser(t *testing.T) {
	t.Parallel()
	_, us := newUsers(t)
	for _, id := range []string{"7d4c9a10-5e6f-4a3b-8c2d-1e0f9a8b7c6d", "nope"} {
		if tok, err := us.CreateToken(ctxT(t), id); err == nil || tok != "" {
			t.Errorf("CreateToken(%q) = %q, %v; want an error", id, tok, err)
		}
	}
}
