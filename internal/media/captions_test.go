package media_test

import (
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/media"
)

// TestLanguageTags checks AddCaption's rule for a caption's language: a
// well-formed BCP 47 tag with a two- or three-letter language.
func TestLanguageTags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tag string
		ok  bool
	}{
		{"en", true},
		{"EN", true},
		{"pt-BR", true},
		{"zh-Hant-TW", true},
		{"sr-Latn-RS", true},
		{"es-419", true},
		{"de-CH-1901", true},
		{"sl-rozaj-biske", true},
		{"sgn-ase", true},
		{"en-a-bbb-x-private", true},
		{"en-x-whatever", true},
		{"yue", true},
		{"", false},
		{"e", false},
		{"english", false}, // 5 to 8 letters: reserved, none in use
		{"en-", false},
		{"en--US", false},
		{"en_US", false},
		{"en-x", false},         // a singleton needs a subtag after it
		{"en-US-a", false},      // likewise
		{"en-abcdefghi", false}, // a subtag has at most 8 characters
		{"en-US-", false},
		{"en US", false},
		{"en\n", false},
		{"é", false},
		{"en-" + strings.Repeat("abcde-", 12) + "x", false}, // too long
	} {
		if got := media.ValidLang(tc.tag); got != tc.ok {
			t.Errorf("ValidLang(%q) = %v, want %v", tc.tag, got, tc.ok)
		}
	}
}
