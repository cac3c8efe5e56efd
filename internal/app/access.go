package app

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

// nullableID is a JSON field that may be absent, null (the root) or an id.
type nullableID struct {
	set bool
	id  *string
}

// UnmarshalJSON records that the field was present.
func (n *nullableID) UnmarshalJSON(b []byte) error {
	n.set = true
	return json.Unmarshal(b, &n.id)
}

// ptr returns the field for a change: nil when absent.
func (n nullableID) ptr() (**string, error) {
	if !n.set {
		return nil, nil
	}
	if n.id != nil && !acl.ValidID(*n.id) {
		return nil, fmt.Errorf("%w: no such folder", errs.ErrNotFound)
	}
	return &n.id, nil
}

func (a *App) apiUpdateMedia(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Filename *string    `json:"filename"`
		Folder   nullableID `json:"folder"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	folder, err := body.Folder.ptr()
	if err != nil {
		return err
	}
	it, err := a.media.Update(r.Context(), p, chi.URLParam(r, "id"), media.Change{Filename: body.Filename, Folder: folder})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJSON(it))
	return nil
}

func (a *App) apiCreateFolder(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Name   string  `json:"name"`
		Parent *string `json:"parent"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	f, err := a.decide.CreateFolder(r.Context(), p, body.Name, body.Parent)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/folders/"+f.ID)
	writeJSON(w, http.StatusCreated, f)
	return nil
}

func (a *App) apiUpdateFolder(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Name   *string    `json:"name"`
		Parent nullableID `json:"parent"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	parent, err := body.Parent.ptr()
	if err != nil {
		return err
	}
	f, err := a.decide.UpdateFolder(r.Context(), p, chi.URLParam(r, "id"), acl.FolderChange{Name: body.Name, Parent: parent})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// apiDeleteFolder moves a folder to the trash: DELETE /api/folders/{id}.
func (a *App) apiDeleteFolder(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.media.TrashFolder(r.Context(), p, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiGetFolder answers the folder ("root" for the top), its child folders
// and a page of its items.
func (a *App) apiGetFolder(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	var folder *acl.Folder
	var parent *string
	if id != "root" {
		f, err := a.decide.Folder(r.Context(), p, id)
		if err != nil {
			return err
		}
		folder, parent = &f, &f.ID
	}
	children, err := a.decide.Children(r.Context(), p, parent)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := a.media.List(r.Context(), p, media.ListOptions{
		Cursor: q.Get("cursor"), Limit: limit, InFolder: true, Folder: parent, Search: q.Get("q"), Sort: q.Get("sort"),
		Paths: true,
	})
	if err != nil {
		return err
	}
	items := make([]itemJSON, len(page.Items))
	for i, it := range page.Items {
		items[i] = toJSON(it)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"folder": folder, "folders": children, "items": items, "next_cursor": page.Next,
	})
	return nil
}

// grantTarget names what a grants route is about.
type grantTarget struct {
	folder bool
	id     string
}

func target(r *http.Request, folder bool) grantTarget {
	return grantTarget{folder: folder, id: chi.URLParam(r, "id")}
}

func (a *App) listGrants(folder bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := caller(r)
		if err != nil {
			return err
		}
		t := target(r, folder)
		list := a.decide.Grants
		if t.folder {
			list = a.decide.FolderGrants
		}
		grants, err := list(r.Context(), p, t.id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"grants": grants})
		return nil
	}
}

func (a *App) setGrant(folder bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := caller(r)
		if err != nil {
			return err
		}
		var body struct {
			Permission string `json:"permission"`
		}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		level, err := acl.ParseLevel(body.Permission)
		if err != nil {
			return err
		}
		subject, err := acl.ParseSubject(chi.URLParam(r, "subject"))
		if err != nil {
			return err
		}
		t := target(r, folder)
		set := a.decide.SetGrant
		if t.folder {
			set = a.decide.SetFolderGrant
		}
		if err := set(r.Context(), p, t.id, subject.String(), level); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, acl.Grant{Subject: subject.String(), Permission: level.String()})
		return nil
	}
}

func (a *App) removeGrant(folder bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := caller(r)
		if err != nil {
			return err
		}
		t := target(r, folder)
		remove := a.decide.RemoveGrant
		if t.folder {
			remove = a.decide.RemoveFolderGrant
		}
		if err := remove(r.Context(), p, t.id, chi.URLParam(r, "subject")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (a *App) apiListGroups(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	groups, err := a.decide.Groups(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups})
	return nil
}

func (a *App) apiCreateGroup(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	g, err := a.decide.CreateGroup(r.Context(), &p, body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, g)
	return nil
}

func (a *App) apiRenameGroup(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	g, err := a.decide.RenameGroup(r.Context(), p, chi.URLParam(r, "name"), body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (a *App) apiDeleteGroup(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.decide.DeleteGroup(r.Context(), p, chi.URLParam(r, "name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *App) setMember(in bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := caller(r)
		if err != nil {
			return err
		}
		if err := a.decide.SetMember(r.Context(), &p, chi.URLParam(r, "name"), chi.URLParam(r, "email"), in); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
