package passwd

import "context"

// Hold takes one of h's slots, as a running operation would, until the
// returned function is called.
func (h *Hasher) Hold(ctx context.Context) (func(), error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return h.release, nil
}
