package db

// Exported for the external tests, which need testdb (itself importing db).
var (
	NewMigrate = newMigrate
	MigrateURL = migrateURL
)
