package session

import (
	"context"
	"time"

	"github.com/alexedwards/scs/pgxstore"

	"github.com/mediagate/mediagate/internal/invalidate"
)

// cachedStore is scs's PostgreSQL store with an in-process cache in front of
// Find, so that a player's many requests cost no session query. Another
// instance's logout or login reaches the cache through NOTIFY (the sessions
// table's triggers); this instance's own changes update it directly.
type cachedStore struct {
	db    *pgxstore.PostgresStore
	cache *invalidate.Cache[string, cachedSession]
}

type cachedSession struct {
	data   []byte
	expiry time.Time
}

func newCachedStore(db *pgxstore.PostgresStore, hub *invalidate.Hub) *cachedStore {
	return &cachedStore{db: db, cache: invalidate.NewCache[string, cachedSession](hub, invalidate.Auth, 100_000)}
}

// errMissing marks a miss so the cache never keeps it.
type errMissing struct{}

func (errMissing) Error() string { return "no session" }

// Find returns the session's data, from the cache when it holds an unexpired copy.
func (s *cachedStore) Find(token string) ([]byte, bool, error) {
	cs, err := s.cache.Get(context.Background(), token, func(context.Context) (cachedSession, error) {
		b, found, err := s.db.Find(token)
		if err != nil {
			return cachedSession{}, err
		}
		if !found {
			return cachedSession{}, errMissing{}
		}
		// The row's expiry is not returned by Find; the idle timeout keeps
		// moving it, so a cached copy is good for a short while only.
		return cachedSession{data: b, expiry: time.Now().Add(time.Minute)}, nil
	})
	if _, missing := err.(errMissing); missing {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if time.Now().After(cs.expiry) {
		s.cache.Delete(token)
		return s.Find(token)
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
