package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/errs"
)

// tokenPrefix marks Mediagate API tokens so that leaked ones are easy to spot.
const tokenPrefix = "mg_"

// CreateToken makes a new API token for the user and returns it. Only its
// hash is stored: the token itself is shown once.
func (us *Users) CreateToken(ctx context.Context, userID string) (string, error) {
	token, _, err := us.CreateNamedToken(ctx, userID, "")
	return token, err
}

// CreateNamedToken is CreateToken with a name to tell tokens apart; it also
// returns the token's id.
func (us *Users) CreateNamedToken(ctx context.Context, userID, name string) (string, Token, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	hash := hashToken(token)
	if len(name) > 100 {
		return "", Token{}, fmt.Errorf("%w: a token name has at most 100 bytes", errs.ErrInvalid)
	}
	if !storable(name) {
		return "", Token{}, fmt.Errorf("%w: a token name must be UTF-8 text without NUL characters", errs.ErrInvalid)
	}
	t := Token{Name: name}
	if err := us.pool.QueryRow(ctx, `INSERT INTO api_tokens (user_id, token_hash, name) VALUES ($1, $2, $3)
		RETURNING id, created_at`, userID, hash[:], name).Scan(&t.ID, &t.CreatedAt); err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	return token, t, nil
}

// ByToken returns the active user owning token.
func (us *Users) ByToken(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return User{}, fmt.Errorf("%w: invalid API token", errs.ErrUnauthenticated)
	}
	hash := hashToken(token)
	return us.tokens.Get(ctx, hash, func(ctx context.Context) (User, error) {
		var u User
		err := us.pool.QueryRow(ctx, `
			SELECT u.id, u.email, u.role, u.disabled_at, u.created_at, u.session_epoch
			FROM api_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.token_hash = $1 AND u.disabled_at IS NULL`, hash[:]).
			Scan(u.fields()...)
		if errors.Is(err, pgx.ErrNoRows) {
			return User{}, fmt.Errorf("%w: invalid API token", errs.ErrUnauthenticated)
		}
		if err != nil {
			return User{}, fmt.Errorf("check token: %w", err)
		}
		return u, nil
	})
}

// hashToken is a plain SHA-256: tokens carry 256 random bits, so a slow hash
// adds nothing and would cost every API request.
func hashToken(token string) [32]byte {
	return sha256.Sum256([]byte(token))
}
