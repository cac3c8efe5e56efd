package app

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/session"
)

func (a *App) apiListUsers(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	users, err := a.auth.Users.List(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

func (a *App) apiUpdateUser(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Role     *acl.Role `json:"role"`
		Disabled *bool     `json:"disabled"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	u, err := a.auth.Users.Update(r.Context(), p, chi.URLParam(r, "email"), session.UserChange{Role: body.Role, Disabled: body.Disabled})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (a *App) apiChangePassword(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := a.auth.ChangePassword(r.Context(), p, body.Current, body.New, a.clientIP(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *App) apiListTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	tokens, err := a.auth.Users.Tokens(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": tokens})
	return nil
}

func (a *App) apiCreateToken(w http.ResponseWriter, r *http.Request) error {
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
	token, t, err := a.auth.Users.CreateNamedToken(r.Context(), p.UserID, body.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "created_at": t.CreatedAt, "token": token})
	return nil
}

func (a *App) apiDeleteToken(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if err := a.auth.Users.DeleteToken(r.Context(), p.UserID, chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiCreateUser adds an account, for admins.
func (a *App) apiCreateUser(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	if p.Role != acl.RoleAdmin { // before reading the body
		return fmt.Errorf("%w: only admins add users", errs.ErrForbidden)
	}
	var body struct {
		Email    string   `json:"email"`
		Role     acl.Role `json:"role"`
		Password string   `json:"password"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	u, err := a.auth.Users.Add(r.Context(), p, body.Email, body.Role, body.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// apiResetPassword sets another user's password, for admins.
func (a *App) apiResetPassword(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := a.auth.Users.ResetPassword(r.Context(), p, chi.URLParam(r, "email"), body.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiDeleteUser removes an account, for admins, handing what it owned to
// another admin.
func (a *App) apiDeleteUser(w http.ResponseWriter, r *http.Request) error {
	p, err := caller(r)
	if err != nil {
		return err
	}
	var body struct {
		ReassignTo string `json:"reassign_to"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if err := a.auth.Users.Delete(r.Context(), p, chi.URLParam(r, "email"), body.ReassignTo); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
