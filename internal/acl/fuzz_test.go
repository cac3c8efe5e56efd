package acl_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/errs"
)

// FuzzParseSubject checks that any subject ParseSubject accepts is one
// PostgreSQL can be asked about and that its API form reads back as itself:
// the grant handlers parse the URL's subject, then hand its String() on.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{
		"everyone", " everyone\t", "Everyone", "user:alice@example.com", "Alice@Example.COM",
		"user:", "user:alice", "user: bob@example.org", "group:staff", "group:", "group:a b",
		"group:Staff.Team-1", "group:everyone", "user:group:x@y", "group:x@y", "a@b@c", "group:a\x00b", "user:a\xff@b",
		"user:ÄNNE@EXAMPLE.COM", "user:K@example.com", "İ@x.io",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := acl.ParseSubject(in)
		if err != nil {
			if !errors.Is(err, errs.ErrInvalid) {
				t.Fatalf("ParseSubject(%q): %v, want ErrInvalid", in, err)
			}
			if s != (acl.Subject{}) {
				t.Fatalf("ParseSubject(%q) = %+v alongside its error", in, s)
			}
			return
		}
		switch s.Type {
		case "everyone":
			if s.Name != "" || strings.TrimSpace(in) != "everyone" {
				t.Fatalf("ParseSubject(%q) = %+v", in, s)
			}
		case "group":
			// Only names CreateGroup takes can name a group that exists.
			if !validGroupName(s.Name) {
				t.Fatalf("ParseSubject(%q) = group %q, a name no group can have", in, s.Name)
			}
		case "user":
			if !plausibleEmail(s.Name) {
				t.Fatalf("ParseSubject(%q) = user %q, not a lower-case email PostgreSQL can hold", in, s.Name)
			}
		default:
			t.Fatalf("ParseSubject(%q) = %+v: unknown type", in, s)
		}
		str := s.String()
		back, err := acl.ParseSubject(str)
		if err != nil || back != s {
			t.Fatalf("ParseSubject(%q) = %+v; its form %q reads back as %+v, %v", in, s, str, back, err)
		}
		if back.String() != str {
			t.Fatalf("%q is not a fixed point: %q", str, back.String())
		}
	})
}

// validGroupName is the rule CreateGroup states: 1-64 letters, digits, '.',
// '_' or '-', starting with a letter or digit, and not "everyone".
func validGroupName(name string) bool {
	if name == "" || len(name) > 64 || name == "everyone" {
		return false
	}
	for i, c := range []byte(name) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-", rune(c))) {
			return false
		}
	}
	return true
}

// plausibleEmail reports what every user's email has (session.NormalizeEmail
// checks more): one '@' with text either side, valid UTF-8 (PostgreSQL
// refuses anything else), no control character or space, lower case.
func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") &&
		utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r)
	}) && strings.ToLower(s) == s
}

// FuzzValidID checks ValidID against an independent reading of the id
// form (PostgreSQL's uuid output: 8-4-4-4-12 lower-case hex digits), and
// that every 16 bytes written in that form are an id that gives them back.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{
		"0b7e7f2e-3c1a-4d8e-9f00-123456789abc", "00000000-0000-0000-0000-000000000000",
		"0B7E7F2E-3C1A-4D8E-9F00-123456789ABC", "0b7e7f2e3c1a4d8e9f00123456789abc",
		"{0b7e7f2e-3c1a-4d8e-9f00-123456789abc}", "0b7e7f2e-3c1a-4d8e-9f00-123456789abc\n",
		"0b7e7f2e-3c1a-4d8e-9f00-123456789ab", "0b7e7f2e-3c1a-4d8e-9f00-123456789abcd",
		"0b7e7f2e+3c1a-4d8e-9f00-123456789abc", "1; DROP TABLE media", "",
	} {
		f.Add(s, []byte("0123456789abcdef"))
	}
	f.Fuzz(func(t *testing.T, s string, raw []byte) {
		if got, want := acl.ValidID(s), isUUID(s); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", s, got, want)
		}
		if len(raw) < 16 {
			return
		}
		h := hex.EncodeToString(raw[:16])
		id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		if !acl.ValidID(id) {
			t.Fatalf("ValidID(%q) = false for 16 bytes in the id form", id)
		}
		back, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
		if err != nil || string(back) != string(raw[:16]) {
			t.Fatalf("%q does not give back its bytes", id)
		}
	})
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
