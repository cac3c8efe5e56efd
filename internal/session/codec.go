package session

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// memoCodec is scs's gob codec with its decoding remembered: the same bytes
// always decode to the same session, so a player's many requests with one
// cookie decode it once. Being keyed by the bytes themselves, it needs no
// invalidation. Each caller gets its own copy of the values map, since scs
// changes it in place on Put.
type memoCodec struct {
	scs.GobCodec

	mu sync.RWMutex
	m  map[string]decoded
}

type decoded struct {
	deadline time.Time
	values   map[string]any
}

const memoMax = 50_000

func newMemoCodec() *memoCodec { return &memoCodec{m: make(map[string]decoded)} }

// Decode returns the session encoded in b.
func (c *memoCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	d, err := c.lookup(b)
	if err != nil {
		return d.deadline, d.values, err
	}
	return d.deadline, copyValues(d.values), nil
}

// peek returns the values of the session encoded in b without copying
// them: the map is the remembered one, shared by every caller, to be read
// and never changed.
func (c *memoCodec) peek(b []byte) (map[string]any, error) {
	d, err := c.lookup(b)
	return d.values, err
}

// lookup returns the remembered decoding of b, decoding it on a miss.
func (c *memoCodec) lookup(b []byte) (decoded, error) {
	c.mu.RLock()
	d, ok := c.m[string(b)]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	deadline, values, err := c.GobCodec.Decode(b)
	if err != nil {
		return decoded{deadline, values}, err
	}
	d = decoded{deadline, values}
	c.mu.Lock()
	if len(c.m) >= memoMax {
		clear(c.m)
	}
	c.m[string(b)] = d
	c.mu.Unlock()
	return d, nil
}

// copyValues copies a session's values deep enough that changing the copy
// (scs's Put, appending to a list) never reaches the remembered original.
func copyValues(v map[string]any) map[string]any {
	out := maps.Clone(v)
	if out == nil {
		out = make(map[string]any)
	}
	for k, x := range out {
		if s, ok := x.([]string); ok {
			out[k] = slices.Clone(s)
		}
	}
	return out
}
