//go:build unix

package nginxconf

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/testenv"
)

// fuzzInput is what an operator controls in a rendered config.
type fuzzInput struct {
	dataDir, prefix, listen, upstream, upstream2, user string
	s3                                                 bool
	endpoint, bucket, s3Prefix                         string
	pathStyle                                          bool
}

// base is fuzzInput's shape with marker values: every field a marker
// where in is set, empty where in is, so that defaults coincide.
func (in fuzzInput) base() fuzzInput {
	pick := func(v, marker string) string {
		if v == "" {
			return ""
		}
		return marker
	}
	endpoint := "http://s3base.test:4444"
	if u, err := url.Parse(in.endpoint); err == nil && u.Scheme == "https" {
		endpoint = "https://s3base.test:4444" // https adds the TLS directives
	}
	return fuzzInput{
		dataDir: "/basedata", prefix: "/baseprefix",
		listen: pick(in.listen, "127.0.0.1:1111"), upstream: pick(in.upstream+in.upstream2, "127.0.0.1:2222"),
		upstream2: pick(in.upstream2, "127.0.0.1:3333"), user: pick(in.user, "baseuser"),
		s3: in.s3, endpoint: endpoint, bucket: "basebucket", s3Prefix: "bases3/", pathStyle: in.pathStyle,
	}
}

func (in fuzzInput) render(server bool) (string, error) {
	cfg := config.Default()
	cfg.DataDir = in.dataDir
	if in.s3 {
		cfg.Storage = config.StorageS3
		cfg.S3Endpoint, cfg.S3Bucket, cfg.S3Prefix, cfg.S3PathStyle = in.endpoint, in.bucket, in.s3Prefix, in.pathStyle
	}
	opt := Options{Listen: in.listen, Upstream: in.upstream, Prefix: in.prefix, User: in.user}
	if in.upstream2 != "" {
		opt.Upstreams = []string{in.upstream, in.upstream2}
	}
	var b bytes.Buffer
	f := Render
	if server {
		f = RenderServer
	}
	err := f(&b, cfg, opt)
	if err != nil && b.Len() != 0 {
		return "", fmt.Errorf("wrote %d bytes before failing with %w", b.Len(), err)
	}
	return b.String(), err
}

// FuzzRender renders configs with odd data dirs, prefixes, addresses, user
// names and S3 settings. Each render either fails with an error or gives a
// config that nginx's grammar reads as exactly the directives and blocks of
// a config made from plain values, each operator value one whole argument
// that reads back as that value and brings no variable ($) with it.
func FuzzRender(f *testing.F) {
	seeds := []fuzzInput{
		{dataDir: "/srv/mediagate", prefix: "/var/lib/mediagate/nginx"},
		{dataDir: "/srv/media data", prefix: "/var/lib/mg nginx", listen: "[::1]:8081", upstream: "unix:/run/mg.sock", user: "www-data www-data"},
		{dataDir: "relative/data", prefix: "./var/nginx", upstream: "10.0.0.1:8080", upstream2: "10.0.0.2:8080"},
		{dataDir: "/", prefix: "/"},
		{dataDir: "/srv/Médias 2024 (copy)", prefix: "/opt/ng+inx,=@%"},
		{dataDir: "/srv/a;b", prefix: "/p"},
		{dataDir: "/srv/a}b{c", prefix: "/p"},
		{dataDir: "/srv/$host", prefix: "/p"},
		{dataDir: "/srv/a\"b", prefix: "/p"},
		{dataDir: "/srv/a\nb", prefix: "/p"},
		{dataDir: "/srv/a#b", prefix: "/p # c"},
		{dataDir: "/srv/x", prefix: "/p", listen: "127.0.0.1:80 ssl"},
		{dataDir: "/srv/x", prefix: "/p", upstream: "a:1;b"},
		{dataDir: "/srv/x", prefix: "/p", user: "root;"},
		{dataDir: "/srv/x", prefix: "/p", s3: true, endpoint: "http://127.0.0.1:8333", bucket: "media", s3Prefix: "mg/"},
		{dataDir: "/srv/x", prefix: "/p", s3: true, endpoint: "https://s3.example.com", bucket: "my.bucket", pathStyle: true},
		{dataDir: "/srv/x", prefix: "/p", s3: true, endpoint: "http://h:1/;x", bucket: "b{", s3Prefix: "a b/"},
		{dataDir: "/srv/x", prefix: "/p", s3: true, endpoint: "http://a$b:1", bucket: "b", s3Prefix: ""},
	}
	for _, s := range seeds {
		f.Add(s.dataDir, s.prefix, s.listen, s.upstream, s.upstream2, s.user, s.s3, s.endpoint, s.bucket, s.s3Prefix, s.pathStyle)
	}
	f.Fuzz(func(t *testing.T, dataDir, prefix, listen, upstream, upstream2, user string, s3 bool, endpoint, bucket, s3Prefix string, pathStyle bool) {
		in := fuzzInput{dataDir, prefix, listen, upstream, upstream2, user, s3, endpoint, bucket, s3Prefix, pathStyle}
		for _, server := range []bool{false, true} {
			got, err := in.render(server)
			if err != nil {
				if strings.Contains(err.Error(), "before failing") || !strings.HasPrefix(err.Error(), "nginxconf: ") {
					t.Fatalf("%+v: %v", in, err)
				}
				continue
			}
			want, err := in.base().render(server)
			if err != nil {
				t.Fatalf("the plain config fails: %v", err)
			}
			checkSameShape(t, in, want, got)
		}
	})
}

// checkSameShape checks that got is want with the marker values of
// in.base() replaced by in's, in the same directives and blocks.
func checkSameShape(t *testing.T, in fuzzInput, want, got string) {
	t.Helper()
	if i := strings.IndexFunc(got, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }); i >= 0 {
		t.Fatalf("%+v: control character %q in the config at %d", in, got[i], i)
	}
	ws, err := lexNginx(want)
	if err != nil {
		t.Fatalf("the plain config does not lex: %v", err)
	}
	gs, err := lexNginx(got)
	if err != nil {
		t.Fatalf("%+v: nginx would not read the config: %v\n%s", in, err, got)
	}
	if len(ws) != len(gs) {
		t.Fatalf("%+v: %d statements, want %d: a value ended or opened one\n%s", in, len(gs), len(ws), got)
	}
	subst := in.substitutions()
	for i := range ws {
		w, g := ws[i], gs[i]
		if w.depth != g.depth || w.block != g.block || w.words[0] != g.words[0] {
			t.Fatalf("%+v: statement %d is %q (depth %d), want %q (depth %d)", in, i, g.raw, g.depth, w.raw, w.depth)
		}
		if w.words[0] == "user" { // "user" or "user group": one value, one or two words
			if strings.Join(g.words[1:], " ") != in.user {
				t.Fatalf("%+v: %q, want user %q", in, g.raw, in.user)
			}
			continue
		}
		if len(w.words) != len(g.words) {
			t.Fatalf("%+v: %q has %d words, want %d like %q", in, g.raw, len(g.words), len(w.words), w.raw)
		}
		for j := 1; j < len(w.words); j++ {
			if w.raw[j] == g.raw[j] {
				continue
			}
			if strings.Count(w.raw[j], "$") != strings.Count(g.raw[j], "$") {
				t.Fatalf("%+v: %q brings a variable, where the plain config has %q", in, g.raw[j], w.raw[j])
			}
			if exp, ok := subst(w.words[j]); ok && g.words[j] != exp {
				t.Fatalf("%+v: %q reads as %q, want %q", in, g.raw[j], g.words[j], exp)
			}
		}
	}
}

// substitutions returns how a word of the plain config reads with in's
// values, and false for words made from S3 settings, which the renderer
// reshapes (scheme, default port, bucket host).
func (in fuzzInput) substitutions() func(string) (string, bool) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return "\x00unreachable"
		}
		return a
	}
	prefix := in.prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	dirs := []struct{ marker, value string }{{"/basedata", abs(in.dataDir)}, {"/baseprefix", abs(prefix)}}
	addrs := map[string]string{"127.0.0.1:1111": in.listen, "127.0.0.1:2222": in.upstream, "127.0.0.1:3333": in.upstream2}
	return func(w string) (string, bool) {
		if strings.Contains(w, "s3base") || strings.Contains(w, "basebucket") || strings.Contains(w, "bases3") {
			return "", false
		}
		for _, d := range dirs {
			if rest, ok := strings.CutPrefix(w, d.marker); ok {
				p := filepath.Join(d.value, rest)
				if strings.HasSuffix(rest, "/") {
					p += "/"
				}
				return p, true
			}
		}
		if v, ok := addrs[w]; ok {
			return v, true
		}
		return w, true
	}
}

// stmt is one directive as nginx reads it: its words (unescaped), the raw
// text of each, how deep in blocks it is and whether it opens one.
type stmt struct {
	words, raw []string
	depth      int
	block      bool
}

// lexNginx splits a config into statements the way nginx's
// ngx_conf_read_token does: words end at space, tab, CR, LF, ';' or '{'
// (but "${" goes on), '#' starts a comment only where a word could start,
// quotes only open a string there and must be followed by a separator
// (or the ")" of an if),
// backslash escapes the next byte, and "}" closes a block only on its own.
func lexNginx(s string) ([]stmt, error) {
	var out []stmt
	var words, raw []string
	depth := 0
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';' || c == '{':
			if len(words) == 0 {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			out = append(out, stmt{words: words, raw: raw, depth: depth, block: c == '{'})
			words, raw = nil, nil
			if c == '{' {
				depth++
			}
			i++
		case c == '}':
			if len(words) != 0 || depth == 0 {
				return nil, fmt.Errorf("unexpected } at %d", i)
			}
			depth--
			i++
		case c == '"' || c == '\'':
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			if j+1 < len(s) && !isSpace(s[j+1]) && !strings.ContainsRune(";{)", rune(s[j+1])) {
				return nil, fmt.Errorf("unexpected %q after the string at %d", s[j+1], i)
			}
			words, raw = append(words, unescape(s[i+1:j])), append(raw, s[i:j+1])
			i = j + 1
		default:
			j := i
			for ; j < len(s); j++ {
				if s[j] == '\\' {
					j++
					continue
				}
				if isSpace(s[j]) || s[j] == ';' || (s[j] == '{' && s[j-1] != '$') {
					break
				}
			}
			j = min(j, len(s))
			words, raw = append(words, unescape(s[i:j])), append(raw, s[i:j])
			i = j
		}
	}
	if len(words) != 0 || depth != 0 {
		return nil, fmt.Errorf("unexpected end of file (%d words pending, depth %d)", len(words), depth)
	}
	return out, nil
}

// unescape undoes nginx's escapes in a word: \" \' \\ \t \r \n; any other
// backslash stays.
func unescape(w string) string {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '\\' || i+1 == len(w) {
			b.WriteByte(w[i])
			continue
		}
		i++
		switch w[i] {
		case '"', '\'', '\\':
			b.WriteByte(w[i])
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte('\\')
			b.WriteByte(w[i])
		}
	}
	return b.String()
}

// TestNginxAcceptsOddValues runs nginx -t on configs made from values that
// are odd but accepted, as the fuzzer's seeds and finds have them.
func TestNginxAcceptsOddValues(t *testing.T) {
	t.Parallel()
	nginx := testenv.LookPath(t, "nginx")
	tests := []struct {
		name            string
		dataDir, prefix string // under the test's temp dir, appended as they are
		upstreams       []string
	}{
		{"spaces and non-ASCII", "Médias 2024 (copie)", "ng inx", nil},
		{"punctuation nginx takes bare", "d+a,t=a@x%41", "p-r_e.f~ix", nil},
		{"bytes that are not UTF-8", "data\xff\xfe", "pre\x80fix", nil},
		{"trailing spaces", "data ", "nginx  ", nil},
		{"dot segments and trailing slashes", "a/../data/", "b/./c/../nginx/", nil},
		{"several upstreams, a socket among them", "data", "nginx", []string{"127.0.0.1:8080", "[::1]:8081", "unix:/run/mediagate.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := config.Default()
			cfg.DataDir = dir + "/" + tt.dataDir
			prefix := dir + "/" + tt.prefix
			if err := os.MkdirAll(prefix, 0o755); err != nil {
				t.Fatal(err)
			}
			opt := Options{Prefix: prefix, User: workerUser(t), Listen: testenv.FreeAddr(t), Upstreams: tt.upstreams}
			text := render(t, cfg, opt)
			in := fuzzInput{dataDir: cfg.DataDir, prefix: prefix, listen: opt.Listen, user: opt.User}
			if len(tt.upstreams) == 0 {
				want, err := in.base().render(false)
				if err != nil {
					t.Fatal(err)
				}
				checkSameShape(t, in, want, text)
			}
			conf := filepath.Join(prefix, "nginx.conf")
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			nginxTest(t, nginx, prefix, conf)
		})
	}
}
