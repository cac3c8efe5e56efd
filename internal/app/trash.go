package app

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/media"
)

// apiListTrash answers a page of the trash entries the caller manages: GET
// /api/trash?limit=&cursor=, with the next page's cursor.
func (a *App) apiListTrash(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	page, err := a.media.ListTrash(r.Context(), p, media.TrashOptions{Cursor: r.URL.Query().Get("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": page.Entries, "next_cursor": page.Next})
	return nil
}

// apiRestoreTrash takes an entry out of the trash: POST /api/trash/{id}/restore.
func (a *App) apiRestoreTrash(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	res, err := a.media.Restore(r.Context(), p, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// apiPurgeTrash purges an entry now: DELETE /api/trash/{id}.
func (a *App) apiPurgeTrash(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.media.Purge(r.Context(), p, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
