package acl

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/mediagate/mediagate/internal/errs"
)

// activeAdmins locks the rows of the active admins, in id order (two
// transactions taking them wait for each other rather than deadlock), and
// returns their ids. A change to who is an admin takes them first, so that
// what it checks (that its actor still is one) holds until it commits: two
// admins demoting each other at once then leave one, since the second change
// finds that its actor no longer is one. A row that another transaction
// changed while this one waited for it is read again, as committed.
//
// FOR NO KEY UPDATE is enough (role and disabled_at are no key) and, unlike
// FOR UPDATE, lets foreign key checks on the rows through: writes that name
// an admin (an item they upload, a token they make) don't wait for it.
func activeAdmins(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT id::text FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR NO KEY UPDATE`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// LockAdmins is activeAdmins for a change actor makes as an admin: it
// refuses one whose request was made as an admin but who, by the time the
// change holds the admins' rows, no longer is one, and returns the active
// admins' ids. Every admin-only write (to the users: a role, a password
// reset, a new account, a deletion; to the groups, which decide access to
// what is granted to them) takes it first, so that a request made just
// before its admin was demoted can't demote the other admin, take over
// another account, make a new admin or join a group; and all of them lock
// in the same order, admins' rows first, so that none deadlocks with
// another.
func LockAdmins(ctx context.Context, tx pgx.Tx, actor Principal) ([]string, error) {
	admins, err := activeAdmins(ctx, tx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(admins, actor.UserID) {
		return nil, fmt.Errorf("%w: only admins may do this, and you no longer are one", errs.ErrForbidden)
	}
	return admins, nil
}
