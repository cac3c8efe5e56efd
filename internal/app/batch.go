package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// maxBatch is the most ids one batch request may name.
const maxBatch = 500

// batchResult is what one id of a batch came to: the status and error the
// single-item request would have answered.
type batchResult struct {
	ID     string `json:"id"`
	OK     bool   `json:"ok"`
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
}

// apiBatch applies one action to many items, each decided on its own by the
// call its single-item endpoint makes: a refusal stops nothing but itself.
func (a *App) apiBatch(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Action  string   `json:"action"`
		IDs     []string `json:"ids"`
		Folder  string   `json:"folder"`
		Subject string   `json:"subject"`
		Level   string   `json:"level"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if len(body.IDs) == 0 || len(body.IDs) > maxBatch {
		return fmt.Errorf("%w: ids must name 1 to %d items, not %d", errs.ErrInvalid, maxBatch, len(body.IDs))
	}
	do, ok, err := a.batchAction(p, body.Action, body.Folder, body.Subject, body.Level)
	if err != nil {
		return err
	}
	out := struct {
		Results   []batchResult `json:"results"`
		Succeeded int           `json:"succeeded"`
		Failed    int           `json:"failed"`
	}{Results: make([]batchResult, len(body.IDs))}
	for i, id := range body.IDs {
		res := batchResult{ID: id, OK: true, Status: ok}
		if err := do(r.Context(), id); err != nil {
			var e errorJSON
			res.OK = false
			res.Status, e = a.describe(r, err)
			res.Code, res.Error = e.Code, e.Error
			out.Failed++
		} else {
			out.Succeeded++
		}
		out.Results[i] = res
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchAction returns what a batch does to one item, and the status its
// single-item endpoint answers on success. What is wrong with the request
// as a whole (the action, the subject, the level) is an error here.
func (a *App) batchAction(p acl.Principal, action, folder, subject, level string) (func(context.Context, string) error, int, error) {
	switch action {
	case "move":
		to, err := folderParam(folder)
		if err != nil { // as PATCH /api/media/{id} answers it, for each id
			return func(context.Context, string) error { return err }, http.StatusOK, nil
		}
		return func(ctx context.Context, id string) error {
			_, err := a.media.Update(ctx, p, id, media.Change{Folder: &to})
			return err
		}, http.StatusOK, nil
	case "delete":
		return func(ctx context.Context, id string) error { return a.media.Delete(ctx, p, id) }, http.StatusNoContent, nil
	case "grant":
		l, err := acl.ParseLevel(level)
		if err != nil {
			return nil, 0, err
		}
		s, err := acl.ParseSubject(subject)
		if err != nil {
			return nil, 0, err
		}
		return func(ctx context.Context, id string) error { return a.decide.SetGrant(ctx, p, id, s.String(), l) }, http.StatusOK, nil
	case "ungrant":
		if _, err := acl.ParseSubject(subject); err != nil {
			return nil, 0, err
		}
		return func(ctx context.Context, id string) error { return a.decide.RemoveGrant(ctx, p, id, subject) }, http.StatusNoContent, nil
	}
	return nil, 0, fmt.Errorf("%w: action must be move, delete, grant or ungrant, not %q", errs.ErrInvalid, action)
}
