package db

import (
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says that PostgreSQL cannot be reached
// now: a connection that could not be made, a server shutting down or
// starting up, a connection that broke. Such a failure passes by itself,
// so a client is told to try again (503), unlike a query's own failure.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08, connection exception; 57P01 admin_shutdown, 57P02
		// crash_shutdown, 57P03 cannot_connect_now.
		return len(pg.Code) == 5 && (pg.Code[:2] == "08" || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03")
	}
	// A request never sent, or a connection that broke on the way.
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.As(err, &netErr)
}
