package store

import (
	"strings"
	"unicode/utf8"
)

// ValidText reports whether s can be stored as text by every backend:
// valid UTF-8 without NUL characters (PostgreSQL's text types cannot hold
// NUL). Identifiers that fail it cannot name a stored record, so lookups
// answer ErrNotFound without asking the database, and request parsers
// refuse such input before it reaches the store.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
