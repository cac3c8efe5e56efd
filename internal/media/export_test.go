package media

// Test-only access to unexported state.

// WorkDir is this Disk's own temp dir (tmp/<random>).
func (d *Disk) WorkDir() string { return d.work }

// SniffLen is how many leading bytes Receive sniffs the type from.
const SniffLen = sniffLen

// ValidLang is AddCaption's check of a language tag.
func ValidLang(lang string) bool { return len(lang) <= maxLang && langRE.MatchString(lang) }
