package media_test

import (
	"errors"
	"mime"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/media"
)

func TestCleanFilename(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", "report.pdf", "report.pdf"},
		{"unix path", "/home/me/clips/a.mp4", "a.mp4"},
		{"relative traversal", "../../etc/passwd", "passwd"},
		{"windows path", `C:\Users\me\Videos\clip.mp4`, "clip.mp4"},
		{"windows traversal", `..\..\boot.ini`, "boot.ini"},
		{"mixed separators", `a/b\c/d.txt`, "d.txt"},
		{"unc path", `\\server\share\x.mov`, "x.mov"},
		{"NUL", "a\x00b.txt", "ab.txt"},
		{"CR LF", "a\r\nb.txt", "ab.txt"},
		{"header injection", "x.mp4\r\nSet-Cookie: a=b", "x.mp4Set-Cookie: a=b"},
		{"tab", "a\tb", "ab"},
		{"escape", "\x1b[31mred", "[31mred"},
		{"DEL", "a\x7fb", "ab"},
		{"C1 NEL", "a\u0085b", "ab"},
		{"line separator", "a\u2028b", "ab"},
		{"paragraph separator", "a\u2029b", "ab"},
		{"invalid UTF-8", "caf\xe9.txt", "caf\uFFFD.txt"},
		{"invalid UTF-8 run", "a\xff\xfeb", "a\uFFFDb"},
		{"truncated multibyte", "x\xe6\x97", "x\uFFFD"},
		{"trimmed", "  spaced name.mp4 \t ", "spaced name.mp4"},
		{"trimmed after controls", "\x00 a \n", "a"},
		{"inner spaces kept", "a  b", "a  b"},
		{"non-ASCII kept", "Café 日本語 🎬.mp4", "Café 日本語 🎬.mp4"},
		{"dots inside a name", "..a..", "..a.."},
		{"dotfile", ".hidden", ".hidden"},
		{"quotes kept", `he said "hi"; ok.txt`, `he said "hi"; ok.txt`},
		{"exactly 255 bytes", strings.Repeat("a", 255), strings.Repeat("a", 255)},
		{"256 bytes", strings.Repeat("a", 256), strings.Repeat("a", 255)},
		{"path stripped before the cap", strings.Repeat("d", 300) + "/x.txt", "x.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := media.CleanFilename(tt.in)
			if err != nil {
				t.Fatalf("CleanFilename(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("CleanFilename(%q) = %q, want %q", tt.in, got, tt.want)
			}
			assertCleanName(t, got)
		})
	}
}

func TestCleanFilenameRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", ".", "..", " ", " \t\r\n", "\x00", "\u2028", " .. ", " . ",
		"/", `\`, "dir/", `dir\`, "a/..", `a\.`, "../", "/..", "\x00..\x00",
		"...", " .... ", "a/...", ".\u202e..",
	} {
		got, err := media.CleanFilename(in)
		if !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("CleanFilename(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

// The 255-byte cap must cut whole characters only and keep as many as fit.
func TestCleanFilenameCapKeepsValidUTF8(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		strings.Repeat("日", 100),             // 3-byte runes: 85 fit exactly
		"a" + strings.Repeat("日", 100),       // 253 bytes fit, a 3-byte rune would overshoot
		strings.Repeat("🎬", 70),              // 4-byte runes: 63 fit (252 bytes)
		"ab" + strings.Repeat("é", 200),      // 2-byte runes at an odd offset
		strings.Repeat("Café-", 60) + ".mp4", // mixed
	} {
		got, err := media.CleanFilename(in)
		if err != nil {
			t.Fatalf("CleanFilename: %v", err)
		}
		if len(got) > 255 {
			t.Errorf("%d bytes, want at most 255", len(got))
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, utf8.RuneError) {
			t.Errorf("cut inside a character: %q", got)
		}
		if !strings.HasPrefix(in, got) {
			t.Errorf("%q is not a prefix of the input", got)
		}
		if _, size := utf8.DecodeRuneInString(in[len(got):]); len(got)+size <= 255 {
			t.Errorf("cut to %d bytes, but the next character (%d bytes) still fits", len(got), size)
		}
	}
	if got, _ := media.CleanFilename(strings.Repeat("日", 100)); got != strings.Repeat("日", 85) {
		t.Errorf("got %d bytes, want 85 whole 日 (255 bytes)", len(got))
	}
}

// A name that is cut to 255 bytes must still be trimmed: the cut can expose a
// space that was inside the name.
func TestCleanFilenameTrimmedAfterCap(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("a", 254) + " 日本.mp4"
	got, err := media.CleanFilename(in)
	if err != nil {
		t.Fatal(err)
	}
	assertCleanName(t, got)
}

// The cap must cost time in proportion to the name, not its square: a client
// controls the name (?filename= may be as long as a request line).
func TestCleanFilenameLongNameIsFast(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("a", 16<<10)
	start := time.Now()
	got, err := media.CleanFilename(name)
	elapsed := time.Since(start)
	if err != nil || len(got) != 255 {
		t.Fatalf("CleanFilename of 16 KiB = %d bytes, %v", len(got), err)
	}
	t.Logf("a 16 KiB name took %v", elapsed)
	if elapsed > 500*time.Millisecond {
		t.Errorf("a 16 KiB name took %v: cutting to 255 bytes is quadratic in the name's length", elapsed)
	}
}

// FuzzCleanFilename checks that a cleaned name has every property of
// assertCleanName and that cleaning it again changes nothing.
func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{
		"a.mp4", "../x", `C:\x\y`, "a\r\nb", "\xff", strings.Repeat("日", 90), " . ", "\u2028",
		"evil\u202Egpj.exe", "a\u200Fb", strings.Repeat("a", 254) + " 日本.mp4", strings.Repeat("é", 200),
		"x/ ", "\t.\t", "\xe6\x97", "Café 日本語 🎬.mp4", "\x00..\x00", "CON", "nul.txt", "\u00a0a\u00a0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := media.CleanFilename(in)
		if err != nil {
			if !errors.Is(err, errs.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		assertCleanName(t, got)
		again, err := media.CleanFilename(got)
		if err != nil || again != got {
			t.Fatalf("CleanFilename(%q) = %q, which cleans to %q, %v", in, got, again, err)
		}
	})
}

// assertCleanName checks the properties every cleaned name has.
func assertCleanName(t *testing.T, name string) {
	t.Helper()
	switch {
	case strings.Trim(name, ".") == "":
		t.Errorf("%q is not a usable name: empty or only dots", name)
	case len(name) > 255:
		t.Errorf("%q has %d bytes, more than 255", name, len(name))
	case !utf8.ValidString(name):
		t.Errorf("%q is not valid UTF-8", name)
	case strings.ContainsAny(name, `/\`):
		t.Errorf("%q has a path separator", name)
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }):
		t.Errorf("%q has a control character or line separator", name)
	case name != strings.TrimSpace(name):
		t.Errorf("%q is not trimmed", name)
	}
}

func TestInline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		contentType string
		inline      bool
	}{
		{"video/mp4", true},
		{"video/webm", true},
		{"video/quicktime", true},
		{"audio/mpeg", true},
		{"audio/ogg; codecs=opus", true},
		{"image/png", true},
		{"image/jpeg", true},
		{"image/gif", true},
		{"image/webp", true},
		{"image/avif", true},
		{"IMAGE/PNG", true},
		{"image/svg+xml", false},
		{"image/svg+xml; charset=utf-8", false},
		{"Image/SVG+XML", false},
		{"text/html", false},
		{"text/html; charset=utf-8", false},
		{"application/xhtml+xml", false},
		{"text/xml; charset=utf-8", false},
		{"application/xml", false},
		{"text/javascript", false},
		{"application/javascript", false},
		{"application/pdf", false},
		{"application/octet-stream", false},
		{"text/plain; charset=utf-8", false},
		{"", false},
		{"video", false},
		{"garbage/;;;", false},
	}
	for _, tt := range tests {
		if got := media.Inline(tt.contentType); got != tt.inline {
			t.Errorf("Inline(%q) = %v, want %v", tt.contentType, got, tt.inline)
		}
		// A viewer's policy is never given to what is not shown inline.
		if csp := config.MediaCSPFor(tt.contentType); csp != config.MediaCSP && !tt.inline {
			t.Errorf("MediaCSPFor(%q) = %q, but the type is an attachment", tt.contentType, csp)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	names := []string{
		"clip.mp4",
		"my holiday video.mp4",
		`say "cheese".jpg`,
		`semi;colon.png`,
		`back\slash.txt`,
		"100% real.mp4",
		"%41%0d%0a.txt",
		"a'b'c.mp3",
		"Café.mp4",
		"日本語のファイル.mov",
		"🎬 party 🎉.webm",
		`"; filename="evil.html`,
		"filename*=UTF-8''evil.html",
		"x,y=z (1) [2] {3} <4> @5 ?6.txt",
		"\uFFFD.bin",
	}
	for _, name := range names {
		for _, inline := range []bool{true, false} {
			h := media.ContentDisposition(name, inline)
			kind, params, err := mime.ParseMediaType(h)
			if err != nil {
				t.Errorf("%q: %q does not parse: %v", name, h, err)
				continue
			}
			wantKind := "attachment"
			if inline {
				wantKind = "inline"
			}
			if kind != wantKind {
				t.Errorf("%q: disposition %q, want %q", name, kind, wantKind)
			}
			// ParseMediaType prefers filename* and decodes it.
			if params["filename"] != name {
				t.Errorf("%q: filename* gives back %q (header %q)", name, params["filename"], h)
			}
			if len(params) != 1 {
				t.Errorf("%q: parameters %q, want only the file name", name, params)
			}
			assertFallback(t, h)
		}
	}
}

// assertFallback checks the plain filename="..." of a Content-Disposition.
func assertFallback(t *testing.T, header string) {
	t.Helper()
	if strings.ContainsAny(header, "\r\n") {
		t.Fatalf("header %q has a line break", header)
	}
	_, rest, ok := strings.Cut(header, `; filename="`)
	if !ok {
		t.Fatalf("header %q has no filename parameter", header)
	}
	fallback, tail, ok := strings.Cut(rest, `"; filename*=UTF-8''`)
	if !ok {
		t.Fatalf("header %q: the fallback is not followed by filename*", header)
	}
	if fallback == "" || strings.ContainsAny(fallback, "\"\\;\r\n") {
		t.Errorf("fallback %q is empty or has a quote, backslash, semicolon or line break", fallback)
	}
	for _, r := range fallback {
		if r < 0x20 || r > 0x7e {
			t.Errorf("fallback %q has a non-printable-ASCII character %U", fallback, r)
		}
	}
	for _, c := range []byte(tail) {
		if !strings.ContainsRune("!#$&+-.^_`|~%", rune(c)) &&
			(c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			t.Errorf("filename* %q has %q outside RFC 8187's attr-char and %%XX", tail, c)
		}
	}
}

func TestContentDispositionFallback(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, fallback string }{
		{"clip.mp4", "clip.mp4"},
		{`a"b\c;d%e`, "a_b_c_d_e"},
		{"Café.mp4", "Caf_.mp4"},
		{"日本", "__"},
		{"\r\n", "download"},
	}
	for _, tt := range tests {
		h := media.ContentDisposition(tt.name, false)
		if want := `attachment; filename="` + tt.fallback + `"; `; !strings.HasPrefix(h, want) {
			t.Errorf("ContentDisposition(%q) = %q, want it to start %q", tt.name, h, want)
		}
		assertFallback(t, h)
	}
}

// A name with CR/LF (were one to get past CleanFilename) stays one header.
func TestContentDispositionNoHeaderInjection(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"a.mp4\r\nX-Injected: 1",
		"a.mp4\nX-Injected: 1",
		"a.mp4\rX-Injected: 1",
		"a.mp4\r\n\r\n<script>alert(1)</script>",
		"a\u0085b\u2028c",
	} {
		h := media.ContentDisposition(name, true)
		if strings.ContainsAny(h, "\r\n\x00") {
			t.Errorf("ContentDisposition(%q) = %q has a line break", name, h)
		}
		_, params, err := mime.ParseMediaType(h)
		if err != nil {
			t.Errorf("ContentDisposition(%q) = %q does not parse: %v", name, h, err)
			continue
		}
		if len(params) != 1 || strings.ContainsAny(params["filename"], "\r\n") {
			t.Errorf("ContentDisposition(%q) parses to %q", name, params)
		}
		assertFallback(t, h)
	}
}

// FuzzContentDisposition checks the header for any name: it is one line
// that mime.ParseMediaType reads, with one pair of quotes. For a name
// CleanFilename lets through (all that reaches the header), filename* gives
// the name back exactly, the ASCII fallback is that name character for
// character, and the header stays within a bound.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{
		"a.mp4", `a"b\c;d%e`, "Café 日本語 🎬", "x\r\ny", "'*=", "\xff", `"; filename="evil.html`,
		"filename*=UTF-8''evil.html", "%41%0d%0a", "\u0085\u2028", "a\x00b", strings.Repeat("🎬", 70), "",
	} {
		f.Add(s, true)
	}
	f.Add("report.pdf", false)
	f.Fuzz(func(t *testing.T, raw string, inline bool) {
		assertHeaderSafe(t, raw, media.ContentDisposition(raw, inline), inline)
		name, err := media.CleanFilename(raw)
		if err != nil {
			return
		}
		h := media.ContentDisposition(name, inline)
		assertHeaderSafe(t, name, h, inline)
		_, params, _ := mime.ParseMediaType(h)
		if params["filename"] != name || len(params) != 1 {
			t.Fatalf("%q: parses to %q", name, params)
		}
		if strings.ContainsAny(params["filename"], `/\`) ||
			strings.ContainsFunc(params["filename"], unicode.IsControl) {
			t.Fatalf("%q: the name read back has a separator or control character", name)
		}
		assertFallback(t, h)
		fallback := strings.TrimSuffix(strings.SplitN(h, `"`, 3)[1], `"`)
		if want := asciiFallback(name); fallback != want {
			t.Fatalf("%q: fallback %q, want %q", name, fallback, want)
		}
		if bound := len(`attachment; filename=""; filename*=UTF-8''`) + 255 + 3*255; len(h) > bound {
			t.Fatalf("%q: a header of %d bytes, more than %d", name, len(h), bound)
		}
	})
}

// assertHeaderSafe checks what holds for the header of any name.
func assertHeaderSafe(t *testing.T, name, h string, inline bool) {
	t.Helper()
	if strings.ContainsAny(h, "\r\n\x00") {
		t.Fatalf("%q: header %q has CR, LF or NUL", name, h)
	}
	if n := strings.Count(h, `"`); n != 2 {
		t.Fatalf("%q: header %q has %d quotes, want the fallback's two", name, h, n)
	}
	kind, params, err := mime.ParseMediaType(h)
	if err != nil {
		t.Fatalf("%q: %q does not parse: %v", name, h, err)
	}
	if want := map[bool]string{true: "inline", false: "attachment"}[inline]; kind != want {
		t.Fatalf("%q: disposition %q, want %q", name, kind, want)
	}
	if _, ok := params["filename"]; !ok || len(params) != 1 {
		t.Fatalf("%q: parameters %q, want only the file name", name, params)
	}
}

// asciiFallback is what the plain filename should be for a clean name,
// written apart from the code: printable ASCII but for the four characters
// a quoted parameter or a decoder could trip on, '_' for anything else.
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 0x20 && r < 0x7f && !strings.ContainsRune(`"\;%`, r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
