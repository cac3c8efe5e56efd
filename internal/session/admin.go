package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
)

// changed drops this instance's cached users, sessions and decisions after
// a commit; other instances hear of it from the users trigger.
func (us *Users) changed() { us.hub.Changed(invalidate.All) }

func requireAdmin(actor acl.Principal) error {
	if !actor.Valid() {
		return errs.ErrUnauthenticated
	}
	if actor.Role != acl.RoleAdmin {
		return fmt.Errorf("%w: only admins manage users", errs.ErrForbidden)
	}
	return nil
}

// List returns every user, by email. actor must be an admin.
func (us *Users) List(ctx context.Context, actor acl.Principal) ([]User, error) {
	if err := requireAdmin(actor); err != nil {
		return nil, err
	}
	rows, err := us.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) {
		var u User
		return u, row.Scan(u.fields()...)
	})
}

// UserChange changes a user's role and/or disables or enables the account;
// nil fields stay as they are.
type UserChange struct {
	Role     *acl.Role
	Disabled *bool
}

// Update applies ch to the user with email. actor must be an admin, still
// when the change is made, and may not demote or disable themselves (so an
// admin always remains). Disabling ends the user's sessions and tokens at
// once, on every instance.
func (us *Users) Update(ctx context.Context, actor acl.Principal, email string, ch UserChange) (User, error) {
	if err := requireAdmin(actor); err != nil {
		return User{}, err
	}
	u, err := us.ByEmail(ctx, email)
	if err != nil {
		return User{}, err
	}
	if u.ID == actor.UserID && ((ch.Role != nil && *ch.Role != acl.RoleAdmin) || (ch.Disabled != nil && *ch.Disabled)) {
		return User{}, fmt.Errorf("%w: you can't demote or disable yourself", errs.ErrConflict)
	}
	if ch.Role != nil {
		if _, err := acl.ParseRole(string(*ch.Role)); err != nil {
			return User{}, err
		}
	}
	err = pgx.BeginFunc(ctx, us.pool, func(tx pgx.Tx) error {
		if _, err := acl.LockAdmins(ctx, tx, actor); err != nil {
			return err
		}
		if ch.Role != nil {
			if _, err := tx.Exec(ctx, `UPDATE users SET role = $2 WHERE id = $1`, u.ID, *ch.Role); err != nil {
				return err
			}
		}
		if ch.Disabled != nil {
			var at *time.Time
			if *ch.Disabled {
				now := time.Now()
				at = &now
			}
			if _, err := tx.Exec(ctx, `UPDATE users SET disabled_at = $2, session_epoch = session_epoch + 1 WHERE id = $1`, u.ID, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	us.changed()
	return us.ByID(ctx, u.ID)
}

// SetPassword replaces the user's password and ends all their sessions.
func (us *Users) SetPassword(ctx context.Context, userID, password string) error {
	return us.setPassword(ctx, acl.Principal{}, userID, password)
}

// setPassword is SetPassword, made by actor, an admin still when it is
// written, unless actor is the zero Principal (the user themselves).
func (us *Users) setPassword(ctx context.Context, actor acl.Principal, userID, password string) error {
	if len(password) < MinPasswordLength {
		return fmt.Errorf("%w: password must have at least %d characters", errs.ErrInvalid, MinPasswordLength)
	}
	hash, err := us.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, us.pool, func(tx pgx.Tx) error {
		if actor.Valid() {
			if _, err := acl.LockAdmins(ctx, tx, actor); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 WHERE id = $1`, userID, hash)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no such user", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	us.changed()
	return nil
}

// ChangePassword is SetPassword for a user who proves the current one.
func (us *Users) ChangePassword(ctx context.Context, p acl.Principal, current, next string) error {
	if !p.Valid() {
		return errs.ErrUnauthenticated
	}
	if _, err := us.CheckPassword(ctx, p.Email, current); err != nil {
		if errors.Is(err, ErrBadCredentials) {
			return fmt.Errorf("%w: the current password is wrong", errs.ErrForbidden)
		}
		return err
	}
	return us.SetPassword(ctx, p.UserID, next)
}

// Token describes an API token without the token itself.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Tokens lists the user's API tokens, newest first.
func (us *Users) Tokens(ctx context.Context, userID string) ([]Token, error) {
	rows, err := us.pool.Query(ctx, `SELECT id, name, created_at FROM api_tokens
		WHERE user_id = $1 ORDER BY created_at DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Token, error) {
		var t Token
		return t, row.Scan(&t.ID, &t.Name, &t.CreatedAt)
	})
	if out == nil && err == nil {
		out = []Token{}
	}
	return out, err
}

// DeleteToken removes one of the user's API tokens; requests carrying it fail
// from then on, on every instance.
func (us *Users) DeleteToken(ctx context.Context, userID, tokenID string) error {
	if !acl.ValidID(tokenID) {
		return fmt.Errorf("%w: no such token", errs.ErrNotFound)
	}
	tag, err := us.pool.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1 AND user_id = $2`, tokenID, userID)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no such token", errs.ErrNotFound)
	}
	us.hub.Changed(invalidate.Auth)
	return nil
}

// ResetPassword sets the password of the user with email, for an admin
// (still when it is written), and ends all that user's sessions (the
// caller's own too, when it is theirs). API tokens are not affected.
func (us *Users) ResetPassword(ctx context.Context, actor acl.Principal, email, password string) error {
	if err := requireAdmin(actor); err != nil {
		return err
	}
	u, err := us.ByEmail(ctx, email)
	if err != nil {
		return err
	}
	return us.setPassword(ctx, actor, u.ID, password)
}

// Add creates an account, for an admin (still when it is written).
func (us *Users) Add(ctx context.Context, actor acl.Principal, email string, role acl.Role, password string) (User, error) {
	if err := requireAdmin(actor); err != nil {
		return User{}, err
	}
	return us.create(ctx, actor, email, role, password)
}

// Delete removes the user with email, for an admin: the items and folders
// they own move to reassignTo, an active admin; their grants, group
// memberships, API tokens and browser sessions go with them, all in one
// transaction. Nobody deletes themselves, so an admin always remains.
func (us *Users) Delete(ctx context.Context, actor acl.Principal, email, reassignTo string) error {
	if err := requireAdmin(actor); err != nil {
		return err
	}
	u, err := us.ByEmail(ctx, email)
	if err != nil {
		return err
	}
	if u.ID == actor.UserID {
		return fmt.Errorf("%w: you can't delete yourself", errs.ErrConflict)
	}
	if reassignTo == "" {
		return fmt.Errorf("%w: reassign_to must name the admin who takes over %s's items and folders", errs.ErrInvalid, u.Email)
	}
	heir, err := us.ByEmail(ctx, reassignTo)
	if errors.Is(err, errs.ErrNotFound) {
		return fmt.Errorf("%w: reassign_to: no user with email %q", errs.ErrInvalid, reassignTo)
	}
	if err != nil {
		return err
	}
	if heir.ID == u.ID {
		return fmt.Errorf("%w: reassign_to must be another user than the one deleted", errs.ErrInvalid)
	}
	err = pgx.BeginFunc(ctx, us.pool, func(tx pgx.Tx) error {
		// The admins' rows are locked first, so that two admins deleting
		// or demoting each other (or their heirs) at once can't leave none.
		admins, err := acl.LockAdmins(ctx, tx, actor)
		if err != nil {
			return err
		}
		if !slices.Contains(admins, heir.ID) {
			return fmt.Errorf("%w: reassign_to must be an active admin; %s is not", errs.ErrInvalid, heir.Email)
		}
		for _, q := range []string{`UPDATE media SET owner_id = $2 WHERE owner_id = $1`, `UPDATE folders SET owner_id = $2 WHERE owner_id = $1`} {
			if _, err := tx.Exec(ctx, q, u.ID, heir.ID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM grants WHERE subject_type = 'user' AND subject_id = $1`, u.ID); err != nil {
			return err
		}
		// scs keeps a session's values gob-encoded, where the user id is a
		// plain string: the sessions that carry it go. (Without the user row
		// they would be anonymous anyway.)
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE position(convert_to($1, 'UTF8') IN data) > 0`, u.ID); err != nil {
			return err
		}
		// Memberships and tokens go by cascade.
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, u.ID)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no such user", errs.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	us.changed()
	return nil
}
