package media

import (
	"fmt"
	"mime"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The streaming path's helpers were rewritten to allocate less; these
// fuzz tests hold them to the straightforward versions they replaced, so
// that every header and every check stays exactly what it was.

var oracleInputs = []string{
	"", "a.mp4", `a"b\c;d%e`, "Café 日本語 🎬", "x\r\ny", "'*=", "\xff", "a\xffb\xc3", `"; filename="evil.html`,
	"\u0085\u2028", "a\x00b", "\x7f\x01", "\ufffd", strings.Repeat("🎬", 70),
	"video/mp4", "VIDEO/MP4", "audio/ogg; codecs=opus", "image/svg+xml", "image/svg+xml; charset=utf-8",
	"application/pdf", "Application/PDF", "application/octet-stream", "text/plain; charset=utf-8", "text/plain; charset=utf-8; charset=utf-8", "text/plain;charset=utf-8", "/; charset=utf-8", "video",
	"video/", "/mp4", "a/b/c", "garbage/;;;", " video/mp4", "video/mp4 ", "x-/y_.+", "a b/c",
	strings.Repeat("0", 64), strings.Repeat("f", 64), strings.Repeat("F", 64), strings.Repeat("0", 63) + "g",
	strings.Repeat("a", 65), strings.Repeat("a", 63) + "\n",
}

// contentDispositionOracle is ContentDisposition as it was written first.
func contentDispositionOracle(name string, inline bool) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	fallback := strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\' || r == ';' || r == '%':
			return '_'
		case r < 0x20 || r == 0x7f:
			return -1
		case r > 0x7e:
			return '_'
		}
		return r
	}, name)
	if fallback == "" {
		fallback = "download"
	}
	var b strings.Builder
	for _, c := range []byte(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, kind, fallback, b.String())
}

var shaOracle = regexp.MustCompile(`^[0-9a-f]{64}$`)

func FuzzStreamingHelpers(f *testing.F) {
	for _, s := range oracleInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, inline := range []bool{false, true} {
			if got, want := ContentDisposition(s, inline), contentDispositionOracle(s, inline); got != want {
				t.Fatalf("ContentDisposition(%q, %v) = %q, want %q", s, inline, got, want)
			}
		}
		if want, _, _ := mime.ParseMediaType(s); mediaType(s) != want {
			t.Fatalf("mediaType(%q) = %q, want %q", s, mediaType(s), want)
		}
		if got, want := ValidKey(s), shaOracle.MatchString(s); got != want {
			t.Fatalf("ValidKey(%q) = %v, want %v", s, got, want)
		}
	})
}

// The common case of the streaming path allocates once for the header and
// not at all for the type.
func TestStreamingHelpersAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { ContentDisposition("Holiday clip.mp4", true) }); n != 1 {
		t.Errorf("ContentDisposition: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { Inline("application/octet-stream"); Previewable("text/plain; charset=utf-8") }); n != 0 {
		t.Errorf("Inline, Previewable: %v allocations, want 0", n)
	}
}
