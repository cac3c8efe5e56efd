package session

import (
	"context"
	"errors"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/invalidate"
)

// cachedStore is scs's PostgreSQL store with an in-process cache in front of
// Find, so that a player's many requests cost no session query. Another
// instance's logout or login reaches the cache through NOTIFY (the sessions
// table's triggers); this instance's own changes update it directly.
type cachedStore struct {
	db    *pgxstore.PostgresStore
	pool  *pgxpool.Pool
	cache *invalidate.Cache[string, cachedSession]
}

type cachedSession struct {
	data   []byte
	expiry time.Time
}

func newCachedStore(pool *pgxpool.Pool, hub *invalidate.Hub) *cachedStore {
	// pgxstore's own cleaner races with its StopCleanup; Auth runs one.
	return &cachedStore{db: pgxstore.NewWithCleanupInterval(pool, 0), pool: pool,
		cache: invalidate.NewCache[string, cachedSession](hub, invalidate.Auth, "sessions", 100_000)}
}

// errMissing marks a miss so the cache never keeps it.
type errMissing struct{}

func (errMissing) Error() string { return "no session" }

// Find returns the session's data, from the cache when it holds an unexpired copy.
func (s *cachedStore) Find(token string) ([]byte, bool, error) {
	cs, err := s.cache.Get(context.Background(), token, func(ctx context.Context) (cachedSession, error) {
		// pgxstore's Find, plus the row's expiry: the cached copy is good
		// until then (scs sets it to the idle timeout or the absolute
		// deadline, whichever comes first).
		var cs cachedSession
		err := s.pool.QueryRow(ctx, `SELECT data, expiry FROM sessions WHERE token = $1 AND current_timestamp < expiry`,
			token).Scan(&cs.data, &cs.expiry)
		if errors.Is(err, pgx.ErrNoRows) {
			return cachedSession{}, errMissing{}
		}
		return cs, err
	})
	if _, missing := err.(errMissing); missing {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !time.Now().Before(cs.expiry) {
		s.cache.Delete(token)
		return nil, false, nil
	}
	return cs.data, true, nil
}

// Commit saves the session and drops the cached copy. A change of the data
// also reaches every instance through the sessions trigger.
func (s *cachedStore) Commit(token string, b []byte, expiry time.Time) error {
	err := s.db.Commit(token, b, expiry)
	s.cache.Delete(token)
	return err
}

// Delete removes the session everywhere. The whole cache is flushed, not
// just this token, so that a Find racing with the delete cannot put the old
// session back (logouts are rare; reads are not).
func (s *cachedStore) Delete(token string) error {
	err := s.db.Delete(token)
	s.cache.Flush()
	return err
}
