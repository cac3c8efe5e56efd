// Package migrations embeds the numbered golang-migrate SQL files.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
