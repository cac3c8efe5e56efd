//go:build unix

package nginxconf

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/testenv"
)

// testConfig returns a valid config whose data dir is a fresh temp dir.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.MaxUpload = 8 << 20
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cfg.PrivateDir(), cfg.PublicDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// workerUser is what a caller passes as Options.User: the current user when
// running as root (so that workers can read the 0700 temp dirs), else nothing.
func workerUser(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return ""
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func render(t *testing.T, cfg config.Config, opt Options) string {
	t.Helper()
	var b strings.Builder
	if err := Render(&b, cfg, opt); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

func TestRenderRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*config.Config, *Options)
	}{
		{"newline in data dir", func(c *config.Config, _ *Options) { c.DataDir = "/srv/a\nb" }},
		{"double quote in data dir", func(c *config.Config, _ *Options) { c.DataDir = `/srv/a"b` }},
		{"single quote in data dir", func(c *config.Config, _ *Options) { c.DataDir = `/srv/a'b` }},
		{"semicolon in data dir", func(c *config.Config, _ *Options) { c.DataDir = "/srv/a;b" }},
		{"brace in data dir", func(c *config.Config, _ *Options) { c.DataDir = "/srv/a{b" }},
		{"closing brace in data dir", func(c *config.Config, _ *Options) { c.DataDir = "/srv/a}b" }},
		{"variable in data dir", func(c *config.Config, _ *Options) { c.DataDir = "/srv/$host" }},
		{"backslash in data dir", func(c *config.Config, _ *Options) { c.DataDir = `/srv/a\b` }},
		{"tab in data dir", func(c *config.Config, _ *Options) { c.DataDir = "/srv/a\tb" }},
		{"empty data dir", func(c *config.Config, _ *Options) { c.DataDir = "" }},
		{"newline in prefix", func(_ *config.Config, o *Options) { o.Prefix = "/var/ng\ninx" }},
		{"semicolon in prefix", func(_ *config.Config, o *Options) { o.Prefix = "/var/nginx; daemon on" }},
		{"zero max upload", func(c *config.Config, _ *Options) { c.MaxUpload = 0 }},
		{"zero body idle timeout", func(c *config.Config, _ *Options) { c.BodyIdleTimeout = 0 }},
		{"listen with space", func(_ *config.Config, o *Options) { o.Listen = "127.0.0.1:80 ssl" }},
		{"listen with semicolon", func(_ *config.Config, o *Options) { o.Listen = "127.0.0.1:80;" }},
		{"upstream with brace", func(_ *config.Config, o *Options) { o.Upstream = "127.0.0.1:80}" }},
		{"bad app address", func(c *config.Config, _ *Options) { c.Addr = "no port" }},
		{"relative unix app address", func(c *config.Config, _ *Options) { c.Addr = "unix:run/app.sock" }},
		{"unix upstream with a semicolon", func(_ *config.Config, o *Options) { o.Upstream = "unix:/run/a;b" }},
		{"user with semicolon", func(_ *config.Config, o *Options) { o.User = "root;" }},
		{"user with newline", func(_ *config.Config, o *Options) { o.User = "www\ndata" }},
		{"user with three words", func(_ *config.Config, o *Options) { o.User = "a b c" }},
		{"upstream is the metrics address", func(c *config.Config, o *Options) {
			c.MetricsAddr, o.Upstreams = "127.0.0.1:9464", []string{"127.0.0.1:8080", "127.0.0.1:9464"}
		}},
		{"app's address is the metrics address on all interfaces", func(c *config.Config, _ *Options) {
			c.Addr, c.MetricsAddr = ":9464", "127.0.0.1:9464" // config.Validate refuses only the same string
		}},
		{"listen is the metrics address", func(c *config.Config, o *Options) { c.MetricsAddr, o.Listen = "127.0.0.1:9464", "127.0.0.1:9464" }},
		{"variable in an error page", func(_ *config.Config, o *Options) {
			o.ErrorPages = []ErrorPage{{Status: 404, Body: "<p>$host</p>", CSP: "default-src 'none'"}}
		}},
		{"quote in an error page's CSP", func(_ *config.Config, o *Options) {
			o.ErrorPages = []ErrorPage{{Status: 404, Body: "<p>x</p>", CSP: `default-src "none"`}}
		}},
		{"error page nginx would cut", func(_ *config.Config, o *Options) {
			o.ErrorPages = []ErrorPage{{Status: 502, Body: strings.Repeat("<p>", 1400), CSP: "default-src 'none'"}}
		}},
		{"error page for a status nginx does not answer", func(_ *config.Config, o *Options) {
			o.ErrorPages = []ErrorPage{{Status: 500, Body: "<p>x</p>", CSP: "default-src 'none'"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.DataDir = "/srv/mediagate"
			opt := Options{Prefix: "/var/lib/mediagate/nginx"}
			tt.edit(&cfg, &opt)
			for name, f := range map[string]func(io.Writer, config.Config, Options) error{"Render": Render, "RenderServer": RenderServer} {
				var b bytes.Buffer
				if err := f(&b, cfg, opt); err == nil {
					t.Errorf("%s accepted it:\n%s", name, b.String())
				} else if b.Len() != 0 {
					t.Errorf("%s wrote %d bytes before failing", name, b.Len())
				}
			}
		})
	}
}

// TestUnixUpstream checks that an app on a Unix socket, named by
// MEDIAGATE_ADDR or by --upstream, is nginx's upstream server as it is.
func TestUnixUpstream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr, upstream, want string
	}{
		{"from the app's address", "unix:/run/mediagate/app.sock", "", "unix:/run/mediagate/app.sock"},
		{"from --upstream", "127.0.0.1:8080", "unix:/srv/mg/app.sock", "unix:/srv/mg/app.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.Default()
			cfg.DataDir = "/srv/mediagate"
			cfg.Addr = tc.addr
			var b bytes.Buffer
			if err := Render(&b, cfg, Options{Prefix: "/var/lib/mediagate/nginx", Upstream: tc.upstream}); err != nil {
				t.Fatal(err)
			}
			block := regexp.MustCompile(`(?s)upstream ` + UpstreamName + ` \{(.*?)\}`).FindStringSubmatch(b.String())
			if block == nil {
				t.Fatalf("no upstream %s block in:\n%s", UpstreamName, b.String())
			}
			if servers := regexp.MustCompile(`server ([^;]+);`).FindAllStringSubmatch(block[1], -1); len(servers) != 1 || servers[0][1] != tc.want {
				t.Errorf("upstream servers %q, want only %s", servers, tc.want)
			}
		})
	}
}

func TestRenderContents(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = "/srv/media data" // a space: quoted
	cfg.Addr = ":9000"              // all interfaces: nginx dials loopback
	cfg.MaxUpload = 123456789
	conf := render(t, cfg, Options{Prefix: "/var/lib/mg/nginx", User: "mediagate"})
	renderServer := func(opt Options) string {
		var b strings.Builder
		if err := RenderServer(&b, cfg, opt); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	server := renderServer(Options{Prefix: "/var/lib/mg/nginx", User: "mediagate"})

	tests := []struct {
		name       string
		text       string
		want, dont []string
	}{
		{"Render", conf, []string{
			"\nuser mediagate;\n",
			"\nworker_processes auto;\n",
			"\npid /var/lib/mg/nginx/nginx.pid;\n",
			"\nerror_log /var/lib/mg/nginx/error.log;\n",
			"access_log /var/lib/mg/nginx/access.log mediagate;",
			"client_body_temp_path /var/lib/mg/nginx/client_body_temp;",
			"proxy_temp_path /var/lib/mg/nginx/proxy_temp;",
			"fastcgi_temp_path /var/lib/mg/nginx/fastcgi_temp;",
			"uwsgi_temp_path /var/lib/mg/nginx/uwsgi_temp;",
			"scgi_temp_path /var/lib/mg/nginx/scgi_temp;",
			"events {",
			"server 127.0.0.1:9000;",
			"listen 127.0.0.1:8081;",
			fmt.Sprintf("client_max_body_size %d;", cfg.MaxUploadBody()),
			"client_body_timeout 60s;",
			"location ^~ " + config.AccelPrefix + " {",
			`alias "/srv/media data/private/";`,
			"location ^~ " + config.PublicPrefix + " {",
			`alias "/srv/media data/public/";`,
			"default_type application/octet-stream;",
			"video/mp4 mp4;",
			"image/jpeg jpeg jpg;",
			"location ^~ " + config.SharePrefix + " {\n            set $mediagate_share 1;\n            proxy_pass http://" + UpstreamName + ";\n            error_log /var/lib/mg/nginx/error.log crit;\n        }",
			"location ^~ " + shareMediaPrefix + config.AccelPrefix + " {\n            internal;\n            error_log /var/lib/mg/nginx/error.log crit;\n",
		}, []string{"daemon", "include", "mime.types", "html", "svg", "javascript"}},
		{"RenderServer", server, []string{
			"upstream " + UpstreamName + " {",
			"server {",
			"location ^~ " + config.AccelPrefix + " {",
			`alias "/srv/media data/private/";`,
			"types {",
			// The including nginx's error log, for the share links' location only.
			"location ^~ " + config.SharePrefix + " {\n        set $mediagate_share 1;\n        proxy_pass http://" + UpstreamName + ";\n        error_log " + DefaultServerErrorLog + " crit;\n    }",
		}, []string{"daemon", "\nuser ", "pid ", "events", "http {", "_temp_path", "access_log", "/var/lib/mg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				if !strings.Contains(tt.text, w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, d := range tt.dont {
				if strings.Contains(stripComments(tt.text), d) {
					t.Errorf("holds %q", d)
				}
			}
			if t.Failed() {
				t.Logf("rendered:\n%s", tt.text)
			}
		})
	}
	for _, l := range strings.Split(stripComments(server), "\n") {
		if strings.Contains(l, "error_log") && strings.TrimSpace(l) != "error_log "+DefaultServerErrorLog+" crit;" {
			t.Errorf("RenderServer has an error_log besides the share links' locations': %s", l)
		}
	}
	if !strings.Contains(conf, indent(renderServer(Options{ErrorLog: "/var/lib/mg/nginx/error.log"}), "    ")) {
		t.Errorf("Render does not hold RenderServer's output")
	}
	// The metrics' address is never among the upstreams, nor /metrics a
	// location: nginx has no way to them.
	withMetrics := cfg
	withMetrics.MetricsAddr = "127.0.0.1:9464"
	if c := render(t, withMetrics, Options{Prefix: "/x"}); strings.Contains(c, "9464") || strings.Contains(c, "metrics") {
		t.Errorf("the config names the metrics:\n%s", c)
	}
	// No user directive unless asked for.
	if c := render(t, cfg, Options{Prefix: "/x"}); strings.Contains(c, "\nuser ") {
		t.Errorf("user directive without Options.User:\n%s", c)
	}
}

func TestBodyTimeoutFollowsTheApp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		idle time.Duration
		want string
	}{
		{60 * time.Second, "60s"},
		{2 * time.Second, "2s"},
		{90 * time.Minute, "5400s"},
		{1500 * time.Millisecond, "1500ms"},
		{time.Nanosecond, "1ms"}, // never 0, which nginx would take as no wait at all
	} {
		cfg := config.Default()
		cfg.DataDir = "/srv/mediagate"
		cfg.BodyIdleTimeout = tt.idle
		conf := render(t, cfg, Options{Prefix: "/x"})
		for _, d := range []string{"client_body_timeout", "send_timeout"} {
			if !strings.Contains(conf, " "+d+" "+tt.want+";\n") {
				t.Errorf("idle %v: no %s %s in\n%s", tt.idle, d, tt.want, conf)
			}
		}
	}
}

// stripComments drops nginx comments, which run from # to the end of a line
// (the rendered config has no # inside quotes).
func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

// nginxTest runs `nginx -t` for the file conf and fails on errors and on
// warnings that do not depend on the machine. nginx -t binds the listen
// addresses, so they must be free.
func nginxTest(t *testing.T, nginx, prefix, conf string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, nginx, "-t", "-p", prefix, "-e", filepath.Join(prefix, "error.log"), "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\nconfig:\n%s", err, out, readFile(t, conf))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[warn]") && !strings.Contains(line, "open file resource limit") {
			t.Errorf("nginx -t warns: %s", line)
		}
	}
	if !strings.Contains(string(out), "test is successful") {
		t.Errorf("nginx -t said:\n%s", out)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNginxAcceptsConfig(t *testing.T) {
	t.Parallel()
	nginx := testenv.LookPath(t, "nginx")
	tests := []struct {
		name    string
		dataDir string // under the test's temp dir
		prefix  string // likewise
	}{
		{"plain", "data", "nginx"},
		{"spaces", "media data", "nginx prefix"},
		{"odd but allowed", "da+ta,x=y@z%", "ng-inx_1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := config.Default()
			cfg.DataDir = filepath.Join(dir, tt.dataDir)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			prefix := filepath.Join(dir, tt.prefix)
			if err := os.MkdirAll(prefix, 0o755); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(prefix, "nginx.conf")
			text := render(t, cfg, Options{Prefix: prefix, User: workerUser(t), Listen: testenv.FreeAddr(t)})
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			nginxTest(t, nginx, prefix, conf)
		})
	}
}

// TestNginxAcceptsServerInclude checks that RenderServer's output can be
// included into the http{} block of an existing nginx.conf.
func TestNginxAcceptsServerInclude(t *testing.T) {
	t.Parallel()
	nginx := testenv.LookPath(t, "nginx")
	cfg := testConfig(t)
	prefix := t.TempDir()
	var server bytes.Buffer
	if err := RenderServer(&server, cfg, Options{Listen: testenv.FreeAddr(t), ErrorLog: filepath.Join(prefix, "error.log")}); err != nil {
		t.Fatal(err)
	}
	inc := filepath.Join(prefix, "mediagate.conf")
	if err := os.WriteFile(inc, server.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// An "existing" nginx.conf, with the types the operator's distribution uses.
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
    types { text/html html; image/svg+xml svg; }
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/cb;
    proxy_temp_path %[1]s/px;
    fastcgi_temp_path %[1]s/fc;
    uwsgi_temp_path %[1]s/uw;
    scgi_temp_path %[1]s/sc;
    server { listen %[3]s; }
    include %[2]s;
}
`, prefix, inc, testenv.FreeAddr(t))
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	nginxTest(t, nginx, prefix, conf)
}

// upstream is a real HTTP server standing in for the app.
type upstream struct {
	srv        *httptest.Server
	accel      string // X-Accel-Redirect target for /smedia/x
	mu         sync.Mutex
	seen       []*http.Request // requests received, bodies not kept
	newConns   int
	uploads    map[string]chan struct{} // closed once an upload got its first bytes
	uploadDone map[string]string        // "size sha256" of finished uploads
}

const (
	contentDisposition = `inline; filename="a b.mp4"; filename*=UTF-8''a%20b.mp4`
	appCacheControl    = "private, no-cache"
	appCookie          = "sid=abc123; Path=/; HttpOnly"
	appExpires         = "Thu, 01 Jan 1970 00:00:00 GMT"
	firstChunk         = 64 << 10
)

// droppedOnAccel are headers the app sends with X-Accel-Redirect that nginx
// does not pass on (the static module sets its own ETag and Last-Modified).
var droppedOnAccel = map[string]string{
	"Etag":                    `"from-the-app"`,
	"Last-Modified":           "Mon, 02 Jan 2006 15:04:05 GMT",
	"X-Content-Type-Options":  "from-the-app",
	"Content-Security-Policy": "from-the-app",
	"Referrer-Policy":         "from-the-app",
	"Vary":                    "Cookie",
	"Link":                    "</x>; rel=preload",
	"Content-Language":        "de",
	"X-App-Only":              "1",
}

func newUpstream(t *testing.T, accel string) *upstream {
	t.Helper()
	u := &upstream{accel: accel, uploads: map[string]chan struct{}{}, uploadDone: map[string]string{}}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.mu.Lock()
			u.newConns++
			u.mu.Unlock()
		}
	}
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Clone(context.Background()))
	u.mu.Unlock()
	h := w.Header()
	h.Set("X-Request-Id", "app-"+r.Header.Get("X-Request-Id")) // as the app names its answers
	path := r.URL.Path
	if strings.HasPrefix("/"+strings.TrimLeft(path, "/"), config.SharePrefix) && strings.HasSuffix(path, "/download") {
		path = config.PrivatePrefix + "x" // a share link's download is answered alike
	}
	switch path {
	case config.PrivatePrefix + "x":
		accel := u.accel
		if r.URL.Query().Has("missing") {
			accel = config.AccelPrefix + "00/00/nothing"
		}
		h.Set("X-Accel-Redirect", accel)
		if !r.URL.Query().Has("notype") {
			h.Set("Content-Type", "video/mp4")
		}
		h.Set("Content-Disposition", contentDisposition)
		h.Set("Cache-Control", appCacheControl)
		h.Set("Set-Cookie", appCookie)
		h.Set("Expires", appExpires)
		// Headers nginx does not keep on an X-Accel-Redirect.
		for name, v := range droppedOnAccel {
			h.Set(name, v)
		}
		w.WriteHeader(http.StatusOK)
	case "/upload":
		u.mu.Lock()
		first := u.uploads[r.URL.Query().Get("id")]
		u.mu.Unlock()
		hash := sha256.New()
		n, err := io.CopyN(hash, r.Body, firstChunk)
		if err == nil && first != nil {
			close(first)
		}
		if err == nil {
			var m int64
			m, err = io.Copy(hash, r.Body)
			n += m
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := fmt.Sprintf("%d %x", n, hash.Sum(nil))
		u.mu.Lock()
		u.uploadDone[r.URL.Query().Get("id")] = sum
		u.mu.Unlock()
		fmt.Fprint(w, sum)
	default:
		http.Error(w, "upstream: not found", http.StatusNotFound)
	}
}

// expectUpload registers an upload and returns the channel closed when the
// app has received its first bytes.
func (u *upstream) expectUpload(id string) <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := make(chan struct{})
	u.uploads[id] = c
	return c
}

func (u *upstream) requests(path string) []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*http.Request
	for _, r := range u.seen {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// errorLogUntil waits, for up to 5 s, until nginx's error log under prefix
// holds the line of a request made after those that must leave none
// (marker), and fails the test if it holds secret meanwhile.
func errorLogUntil(t *testing.T, prefix, secret, marker string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("the error log holds a share token:\n%s", b)
		}
		if bytes.Contains(b, []byte(marker)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the error log has no line with %q, the request after:\n%s", marker, b)
		}
	}
}

// startNginx renders the config for cfg and runs nginx in the foreground in
// front of the upstream at app; it returns the address nginx listens on and
// stops nginx when the test ends.
func startNginx(t *testing.T, cfg config.Config, app string) (addr, prefix string) {
	t.Helper()
	return startNginxWith(t, cfg, app, nil)
}

// startNginxWith is startNginx with error pages.
func startNginxWith(t *testing.T, cfg config.Config, app string, pages []ErrorPage) (addr, prefix string) {
	t.Helper()
	nginx := testenv.LookPath(t, "nginx")
	prefix = filepath.Join(t.TempDir(), "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	errorLog := filepath.Join(prefix, "error.log")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		listen := testenv.FreeAddr(t)
		text := render(t, cfg, Options{Listen: listen, Upstream: app, Prefix: prefix, User: workerUser(t), ErrorPages: pages})
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nginx, "-p", prefix, "-e", errorLog, "-c", conf, "-g", "daemon off;")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		// Its own process group, so that a kill reaches the workers too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if lastErr = waitListening(listen, done); lastErr == nil {
			t.Cleanup(func() { stopNginx(t, cmd, done, errorLog) })
			return listen, prefix
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		lastErr = fmt.Errorf("%w\n%s\n%s", lastErr, out.String(), tail(errorLog))
		if !strings.Contains(lastErr.Error(), "Address already in use") {
			break
		}
	}
	t.Fatalf("nginx did not start: %v", lastErr)
	return "", ""
}

func waitListening(addr string, done <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("nginx exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("nginx not listening after 10s")
}

// stopNginx asks nginx to finish (SIGQUIT, a graceful shutdown) and kills its
// process group if it has not within 10 seconds.
func stopNginx(t *testing.T, cmd *exec.Cmd, done <-chan error, errorLog string) {
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Errorf("signal nginx: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("nginx exited with %v\n%s", err, tail(errorLog))
		}
	case <-time.After(10 * time.Second):
		t.Errorf("nginx did not stop within 10s; killing it")
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	if t.Failed() {
		t.Logf("nginx error log:\n%s", tail(errorLog))
	}
}

func tail(name string) string {
	b, _ := os.ReadFile(name)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// rawRequest sends a request exactly as written (Go's client would clean or
// escape some of these paths) and returns the response and its body.
func rawRequest(t *testing.T, addr, method, target string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, target, err)
	}
	return resp, body
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := h.Values(name); len(got) != 1 || got[0] != want {
		t.Errorf("%s = %q, want exactly %q", name, got, want)
	}
}

// wantHeaderRepeated is wantHeader for responses on which nginx may repeat
// the header: on a 416 from the range filter, "add_header ... always" runs
// twice (once for the 200 the static module started, once for the 416), which
// is harmless for these headers (the same value twice means the same).
func wantHeaderRepeated(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	got := h.Values(name)
	for _, v := range got {
		if v != want {
			got = nil
		}
	}
	if len(got) == 0 {
		t.Errorf("%s = %q, want %q (once or more)", name, h.Values(name), want)
	}
}

// TestNginxServes runs nginx with the rendered config in front of a real
// upstream and checks what clients get.
func TestNginxServes(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)

	// A private blob, stored as the app stores it.
	secret := append([]byte("SECRET-PRIVATE-MEDIA\n"), randomBytes(t, 100_000)...)
	sum := sha256.Sum256(secret)
	name := hex.EncodeToString(sum[:])
	rel := name[:2] + "/" + name[2:4] + "/" + name
	if err := os.MkdirAll(filepath.Join(cfg.PrivateDir(), name[:2], name[2:4]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.PrivateDir(), filepath.FromSlash(rel)), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	// Published files.
	public := []byte("published text\n")
	for file, body := range map[string][]byte{"pub.txt": public, "evil.html": []byte("<script>alert(1)</script>"), "sub/pic.png": []byte("png")} {
		p := filepath.Join(cfg.PublicDir(), filepath.FromSlash(file))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	app := newUpstream(t, config.AccelPrefix+rel)
	addr, prefix := startNginx(t, cfg, app.srv.Listener.Addr().String())
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second}
	size := len(secret)
	private := config.PrivatePrefix + "x"

	get := func(t *testing.T, method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	t.Run("X-Accel-Redirect", func(t *testing.T) {
		resp, body := get(t, "GET", private, "X-Forwarded-For", "203.0.113.9", "X-Sendfile-Type", "bogus", config.FrontHeader, "caddy")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, secret) {
			t.Fatalf("status %d, %d bytes (want 200, the %d bytes of the file)", resp.StatusCode, len(body), size)
		}
		h := resp.Header
		// The app's headers nginx keeps on an X-Accel-Redirect.
		wantHeader(t, h, "Content-Type", "video/mp4")
		wantHeader(t, h, "Content-Disposition", contentDisposition)
		wantHeader(t, h, "Cache-Control", appCacheControl)
		wantHeader(t, h, "Set-Cookie", appCookie)
		// Ours.
		wantHeader(t, h, "X-Content-Type-Options", "nosniff")
		// The browser's player may load and style the video it shows.
		wantHeader(t, h, "Content-Security-Policy", config.PlayerCSP)
		wantHeader(t, h, "Referrer-Policy", "no-referrer")
		wantHeader(t, h, "Content-Length", strconv.Itoa(size))
		wantHeader(t, h, "Accept-Ranges", "bytes")
		wantHeader(t, h, "Server", "nginx")
		wantHeader(t, h, "Expires", appExpires)
		// The app's headers nginx drops; ETag and Last-Modified are the file's.
		if v := h.Values("X-Accel-Redirect"); len(v) != 0 {
			t.Errorf("X-Accel-Redirect reached the client: %q", v)
		}
		for name, sent := range droppedOnAccel {
			for _, v := range h.Values(name) {
				if v == sent {
					t.Errorf("%s: %s reached the client", name, sent)
				}
			}
		}
		if h.Get("ETag") == "" || h.Get("Last-Modified") == "" {
			t.Errorf("ETag %q, Last-Modified %q: want the file's", h.Get("ETag"), h.Get("Last-Modified"))
		}

		reqs := app.requests(private)
		if len(reqs) == 0 {
			t.Fatal("the app saw no request")
		}
		in := reqs[len(reqs)-1].Header
		wantHeader(t, in, "X-Sendfile-Type", "X-Accel-Redirect")
		wantHeader(t, in, config.FrontHeader, config.FrontNginx)
		wantHeader(t, in, "X-Forwarded-For", "203.0.113.9, 127.0.0.1")
		wantHeader(t, in, "X-Real-IP", "127.0.0.1")
		wantHeader(t, in, "X-Forwarded-Proto", "http")
		if got := reqs[len(reqs)-1].Host; got != addr {
			t.Errorf("app saw Host %q, want %q", got, addr)
		}
	})

	t.Run("no Content-Type from the app", func(t *testing.T) {
		// Blob names have no extension, so nginx falls back to default_type.
		resp, body := get(t, "GET", private+"?notype=1")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, secret) {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
		wantHeader(t, resp.Header, "Content-Type", "application/octet-stream")
	})

	t.Run("HEAD", func(t *testing.T) {
		resp, body := get(t, "HEAD", private)
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Fatalf("status %d, %d body bytes", resp.StatusCode, len(body))
		}
		wantHeader(t, resp.Header, "Content-Length", strconv.Itoa(size))
		wantHeader(t, resp.Header, "Content-Type", "video/mp4")
		wantHeader(t, resp.Header, "X-Content-Type-Options", "nosniff")
		reqs := app.requests(private)
		if m := reqs[len(reqs)-1].Method; m != "HEAD" {
			t.Errorf("app saw %s, want HEAD", m)
		}
	})

	t.Run("ranges", func(t *testing.T) {
		many := make([]string, 17) // one more than max_ranges
		for i := range many {
			many[i] = fmt.Sprintf("%d-%d", i*10, i*10+1)
		}
		tests := []struct {
			rng          string
			status       int
			contentRange string
			body         []byte
			parts        []string // Content-Range of each part of a multipart answer
		}{
			{"bytes=10-19", 206, fmt.Sprintf("bytes 10-19/%d", size), secret[10:20], nil},
			{"bytes=-5", 206, fmt.Sprintf("bytes %d-%d/%d", size-5, size-1, size), secret[size-5:], nil},
			{fmt.Sprintf("bytes=%d-", size-3), 206, fmt.Sprintf("bytes %d-%d/%d", size-3, size-1, size), secret[size-3:], nil},
			{"bytes=0-0,5-9", 206, "", nil, []string{fmt.Sprintf("bytes 0-0/%d", size), fmt.Sprintf("bytes 5-9/%d", size)}},
			{fmt.Sprintf("bytes=%d-", size), 416, fmt.Sprintf("bytes */%d", size), nil, nil},
			{"bytes=-0", 416, fmt.Sprintf("bytes */%d", size), nil, nil}, // the app streaming alone answers the same
			{"bytes=" + strings.Join(many, ","), 200, "", secret, nil},
		}
		for _, tt := range tests {
			name := tt.rng
			if len(name) > 30 {
				name = name[:30]
			}
			t.Run(name, func(t *testing.T) {
				resp, body := get(t, "GET", private, "Range", tt.rng)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				want := wantHeader
				if tt.status == http.StatusRequestedRangeNotSatisfiable {
					want = wantHeaderRepeated
				}
				want(t, resp.Header, "X-Content-Type-Options", "nosniff")
				// The file's policy, whatever the answer (nginx reads the
				// type before its range filter makes a multipart or 416
				// answer of it; the app does the same).
				want(t, resp.Header, "Content-Security-Policy", config.PlayerCSP)
				if tt.contentRange != "" {
					wantHeader(t, resp.Header, "Content-Range", tt.contentRange)
				}
				if tt.body != nil && !bytes.Equal(body, tt.body) {
					t.Errorf("got %d bytes, want %d", len(body), len(tt.body))
				}
				if tt.parts == nil {
					return
				}
				mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
				if err != nil || mt != "multipart/byteranges" {
					t.Fatalf("Content-Type %q (%v)", resp.Header.Get("Content-Type"), err)
				}
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				for i, want := range tt.parts {
					p, err := mr.NextPart()
					if err != nil {
						t.Fatalf("part %d: %v", i, err)
					}
					var from, to int
					if _, err := fmt.Sscanf(want, "bytes %d-%d/", &from, &to); err != nil {
						t.Fatal(err)
					}
					got, _ := io.ReadAll(p)
					if p.Header.Get("Content-Range") != want || p.Header.Get("Content-Type") != "video/mp4" || !bytes.Equal(got, secret[from:to+1]) {
						t.Errorf("part %d: %q, %d bytes; want %q, video/mp4", i, p.Header, len(got), want)
					}
				}
				if _, err := mr.NextPart(); err != io.EOF {
					t.Errorf("more parts than %d: %v", len(tt.parts), err)
				}
			})
		}
	})

	t.Run("missing blob", func(t *testing.T) {
		resp, _ := get(t, "GET", private+"?missing=1")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})

	// A share link's download is sent from a copy of the private location
	// whose errors, which quote the request line, are not written.
	t.Run("share download, its errors not in the error log", func(t *testing.T) {
		share := config.SharePrefix + config.ShareTokenPrefix + "SECRET-download/download"
		resp, body := get(t, "GET", share, "Range", "bytes=1-4")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, secret[1:5]) {
			t.Errorf("share download: %d %q, want 206 %q", resp.StatusCode, body, secret[1:5])
		}
		wantHeader(t, resp.Header, "Content-Type", "video/mp4")
		wantHeader(t, resp.Header, "X-Content-Type-Options", "nosniff")
		wantHeader(t, resp.Header, "Vary", config.CallerVary)
		for _, p := range []string{share + "?missing=1", "/" + share + "?missing=1", private + "?missing=after-the-share"} {
			if resp, _ := get(t, "GET", p); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
			}
		}
		errorLogUntil(t, prefix, "SECRET-download", "?missing=after-the-share")
	})

	t.Run("public", func(t *testing.T) {
		tests := []struct {
			path, contentType string
			status            int
			body              []byte
			csp               string
		}{
			{"pub.txt", "text/plain", 200, public, mediaCSP},
			{"evil.html", "application/octet-stream", 200, nil, mediaCSP},
			{"sub/pic.png", "image/png", 200, nil, config.ImageCSP},
			{"", "", 403, nil, mediaCSP},
			{"sub/", "", 403, nil, mediaCSP},
			{"nothing.mp4", "", 404, nil, mediaCSP},
		}
		for _, tt := range tests {
			t.Run(tt.path, func(t *testing.T) {
				resp, body := get(t, "GET", config.PublicPrefix+tt.path)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
				wantHeader(t, resp.Header, "X-Content-Type-Options", "nosniff")
				wantHeader(t, resp.Header, "Content-Security-Policy", tt.csp)
				if tt.status != 200 {
					return
				}
				wantHeader(t, resp.Header, "Content-Type", tt.contentType)
				wantHeader(t, resp.Header, "Cache-Control", "public, max-age=300")
				if tt.body != nil && !bytes.Equal(body, tt.body) {
					t.Errorf("body %q, want %q", body, tt.body)
				}
			})
		}
		if n := len(app.requests(config.PublicPrefix + "pub.txt")); n != 0 {
			t.Errorf("the app saw %d requests for a public file", n)
		}
	})

	t.Run("private stays private", func(t *testing.T) {
		pub := strings.TrimSuffix(config.PublicPrefix, "/")
		accel := strings.TrimSuffix(config.AccelPrefix, "/")
		for _, target := range []string{
			config.AccelPrefix + rel,
			"/" + config.AccelPrefix + rel,
			config.AccelPrefix + "../" + accel[1:] + "/" + rel,
			config.PublicPrefix + rel,
			config.PublicPrefix + "private/" + rel,
			config.PublicPrefix + "data/private/" + rel,
			config.PublicPrefix + "../private/" + rel,
			config.PublicPrefix + "..%2fprivate/" + rel,
			config.PublicPrefix + "..%2Fprivate%2F" + strings.ReplaceAll(rel, "/", "%2F"),
			config.PublicPrefix + "%2e%2e/private/" + rel,
			config.PublicPrefix + "%2e%2e%2fprivate/" + rel,
			config.PublicPrefix + "..%5cprivate/" + rel,
			config.PublicPrefix + "../../data/private/" + rel,
			pub + "../private/" + rel,
			pub + "..%2fprivate/" + rel,
			config.PublicPrefix + "../" + accel[1:] + "/" + rel,
			private + "/../../" + accel[1:] + "/" + rel,
			"/private/" + rel,
		} {
			t.Run(target, func(t *testing.T) {
				resp, body := rawRequest(t, addr, "GET", target)
				if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent || bytes.Contains(body, []byte("SECRET-PRIVATE-MEDIA")) {
					t.Errorf("status %d, %d bytes: private file reachable", resp.StatusCode, len(body))
				}
			})
		}
	})

	t.Run("keepalive to the app", func(t *testing.T) {
		app.mu.Lock()
		before := app.newConns
		app.mu.Unlock()
		const n = 10
		for i := 0; i < n; i++ {
			get(t, "GET", "/elsewhere")
		}
		app.mu.Lock()
		opened := app.newConns - before
		app.mu.Unlock()
		if opened >= n {
			t.Errorf("%d requests opened %d connections to the app", n, opened)
		}
	})

	t.Run("uploads stream", func(t *testing.T) {
		tests := []struct {
			name    string
			size    int
			chunked bool
		}{
			{"4MiB", 4 << 20, false},
			{"4MiB chunked", 4 << 20, true},
			{"exactly the largest upload body", int(cfg.MaxUploadBody()), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				data := randomBytes(t, tt.size)
				first := app.expectUpload(tt.name)
				pr, pw := io.Pipe()
				// Write the first bytes, wait until the app has them, then
				// the rest: a buffering proxy would never let this finish.
				go func() {
					if _, err := pw.Write(data[:firstChunk]); err != nil {
						return
					}
					select {
					case <-first:
						_, err := pw.Write(data[firstChunk:])
						pw.CloseWithError(err)
					case <-time.After(15 * time.Second):
						pw.CloseWithError(errors.New("the app did not get the first bytes while the upload was still being sent: nginx buffers uploads"))
					}
				}()
				req, err := http.NewRequest("POST", base+"/upload?id="+strings.ReplaceAll(tt.name, " ", "+"), pr)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.chunked {
					req.ContentLength = int64(tt.size)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got, _ := io.ReadAll(resp.Body)
				sum := sha256.Sum256(data)
				if want := fmt.Sprintf("%d %x", tt.size, sum); resp.StatusCode != 200 || string(got) != want {
					t.Errorf("status %d, app says %q, want %q", resp.StatusCode, got, want)
				}
			})
		}
	})

	t.Run("share tokens not logged", func(t *testing.T) {
		token := config.ShareTokenPrefix + "SECRET-token"
		for _, tc := range []struct{ target, logged string }{
			{"/s/" + token + "/download?x=1", "/s/<redacted>/download?x=1"},
			// nginx routes these as /s/, and sends them on as they came.
			{"//s/" + token + "/download", "//s/<redacted>/download"},
			{"///s/" + token, "///s/<redacted>"},
			{"/s//" + token + "/download", "/s//<redacted>/download"},
			// A token anywhere else, once, twice or more.
			{"/x/s/" + token, "/x/s/<redacted>"},
			{"/login?next=%2Fs%2F" + token + "%2Fdownload", "/login?next=%2Fs%2F<redacted>%2Fdownload"},
			{"/s/" + token + "?again=" + token + "&x", "/s/<redacted>?again=<redacted>&x"},
			{"/a/" + token + "/b/" + token + "/c", "/a/<redacted>"},
		} {
			rawRequest(t, addr, "GET", tc.target)
			want := []byte(`"GET ` + tc.logged + ` HTTP/1.1" `)
			deadline := time.Now().Add(5 * time.Second)
			for {
				b, _ := os.ReadFile(filepath.Join(prefix, "access.log"))
				if bytes.Contains(b, []byte("SECRET")) {
					t.Fatalf("the access log holds a share token:\n%s", b)
				}
				if bytes.Contains(b, want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET %s: no %s in the access log:\n%s", tc.target, want, b)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if seen := app.requests("//s/" + token + "/download"); len(seen) != 1 {
			t.Errorf("the app got //s/ as %d requests for it, want 1", len(seen))
		}
	})

	t.Run("request id", func(t *testing.T) {
		nginxID := regexp.MustCompile(`^[0-9a-f]{32}$`)
		// One id per answer, nginx's: the client's own is replaced, the
		// app's copy hidden; nginx's own answers carry it too.
		seen := map[string]bool{}
		for _, c := range []struct {
			name, method, path string
			status             int
			app                bool // the app saw it
		}{
			{"X-Accel-Redirect", "GET", private, 200, true},
			{"from the app", "GET", "/elsewhere", 404, true},
			{"public", "GET", config.PublicPrefix + "pub.txt", 200, false},
			{"missing blob", "GET", private + "?missing=1", 404, true},
			{"too large", "POST", "/upload?id=big", 413, false},
		} {
			var resp *http.Response
			if c.method == "POST" {
				resp, _ = rawRequest(t, addr, "POST", c.path, "X-Request-Id: from-the-client", fmt.Sprintf("Content-Length: %d", cfg.MaxUploadBody()+1))
			} else {
				resp, _ = get(t, c.method, c.path, "X-Request-Id", "from-the-client")
			}
			ids := resp.Header.Values("X-Request-Id")
			if resp.StatusCode != c.status || len(ids) != 1 || !nginxID.MatchString(ids[0]) || seen[ids[0]] {
				t.Errorf("%s: status %d, X-Request-Id %q; want %d and one new id of nginx's", c.name, resp.StatusCode, ids, c.status)
				continue
			}
			seen[ids[0]] = true
			if c.app {
				path, _, _ := strings.Cut(c.path, "?")
				reqs := app.requests(path)
				if got := reqs[len(reqs)-1].Header.Values("X-Request-Id"); len(got) != 1 || got[0] != ids[0] {
					t.Errorf("%s: the app got X-Request-Id %q, the client %q", c.name, got, ids[0])
				}
			}
			// The access log names it too, once nginx has written the line.
			deadline := time.Now().Add(5 * time.Second)
			for {
				b, _ := os.ReadFile(filepath.Join(prefix, "access.log"))
				if bytes.Contains(b, []byte(" "+ids[0]+"\n")) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: no line of the access log ends with %s:\n%s", c.name, ids[0], b)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})

	t.Run("upload too large", func(t *testing.T) {
		before := len(app.requests("/upload"))
		resp, _ := rawRequest(t, addr, "POST", "/upload?id=big", "Content-Type: application/octet-stream", fmt.Sprintf("Content-Length: %d", cfg.MaxUploadBody()+1))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
		if n := len(app.requests("/upload")) - before; n != 0 {
			t.Errorf("the app saw %d too large uploads", n)
		}
	})
}

// TestNginxAcceptsS3Config renders the S3 variant (http and https engines,
// path-style and not, several app instances) and has nginx check each.
func TestNginxAcceptsS3Config(t *testing.T) {
	t.Parallel()
	nginx := testenv.LookPath(t, "nginx")
	for _, tt := range []struct {
		name, endpoint string
		pathStyle      bool
		host, public   string
	}{
		{"path style", "http://127.0.0.1:8333", true, "127.0.0.1:8333", "/media/mg/public/"},
		{"host style over https", "https://localhost", false, "media.localhost", "/mg/public/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := config.Default()
			cfg.DataDir = filepath.Join(dir, "data")
			cfg.Storage, cfg.S3Endpoint, cfg.S3Bucket, cfg.S3AccessKey, cfg.S3SecretKey, cfg.S3Prefix, cfg.S3PathStyle =
				config.StorageS3, tt.endpoint, "media", "key", "secret-never-rendered", "mg", tt.pathStyle
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			prefix := filepath.Join(dir, "nginx")
			if err := os.MkdirAll(prefix, 0o755); err != nil {
				t.Fatal(err)
			}
			text := render(t, cfg, Options{Prefix: prefix, User: workerUser(t), Listen: testenv.FreeAddr(t),
				Upstreams: []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}})
			for _, want := range []string{
				"server 127.0.0.1:9001;", "server 127.0.0.1:9003;", "proxy_next_upstream error timeout http_502 http_504;",
				"upstream " + S3UpstreamName + " {", `proxy_set_header Host "` + tt.host + `";`,
				"proxy_pass " + strings.SplitN(tt.endpoint, ":", 2)[0] + "://" + S3UpstreamName + tt.public + ";",
				"proxy_pass_request_headers off;", "proxy_buffering off;", "proxy_max_temp_file_size 0;",
				"proxy_hide_header X-Amz-Request-Id;", "internal;",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("the S3 config lacks %q", want)
				}
			}
			for _, absent := range []string{"secret-never-rendered", "key;", cfg.PrivateDir(), cfg.PublicDir()} {
				if strings.Contains(text, absent) {
					t.Errorf("the S3 config holds %q", absent)
				}
			}
			conf := filepath.Join(prefix, "nginx.conf")
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			nginxTest(t, nginx, prefix, conf)
		})
	}
}

// TestNginxErrorPages has nginx answer with error pages whose bodies hold
// what its quoted strings escape (quotes, backslashes, line breaks, tabs):
// each arrives exactly as given, with its CSP and the page headers, for a
// missing published file (404), a body over the limit (413, JSON under
// /api/) and an app that is down (502, JSON under /api/).
func TestNginxErrorPages(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	var pages []ErrorPage
	for _, st := range ErrorStatuses {
		pages = append(pages, ErrorPage{Status: st, CSP: fmt.Sprintf("default-src 'none'; style-src 'sha256-%d'", st),
			Body: fmt.Sprintf("<!doctype html>\n<title>%d</title>\n<style>\tp { content: \"\\201C\" }\r\n</style>\n<p class='x'>%d \\ \"quoted\"</p>\n", st, st)})
	}
	app := newUpstream(t, "")
	addr, prefix := startNginxWith(t, cfg, app.srv.Listener.Addr().String(), pages)
	check := func(t *testing.T, resp *http.Response, body []byte, st int) {
		t.Helper()
		if resp.StatusCode != st {
			t.Fatalf("status %d, want %d", resp.StatusCode, st)
		}
		var want ErrorPage
		for _, p := range pages {
			if p.Status == st {
				want = p
			}
		}
		if string(body) != want.Body {
			t.Errorf("body %q, want %q", body, want.Body)
		}
		wantHeader(t, resp.Header, "Content-Type", "text/html; charset=utf-8")
		wantHeader(t, resp.Header, "Content-Security-Policy", want.CSP)
		wantHeader(t, resp.Header, "X-Content-Type-Options", "nosniff")
		wantHeader(t, resp.Header, "X-Frame-Options", "DENY")
		wantHeader(t, resp.Header, "Cache-Control", "no-store")
	}
	t.Run("404 unpublished", func(t *testing.T) {
		resp, body := rawRequest(t, addr, "GET", config.PublicPrefix+"nothing.mp4")
		check(t, resp, body, 404)
	})
	t.Run("413 form upload", func(t *testing.T) {
		resp, body := rawRequest(t, addr, "POST", "/upload", "Content-Type: application/octet-stream", fmt.Sprintf("Content-Length: %d", cfg.MaxUploadBody()+1))
		check(t, resp, body, 413)
	})
	t.Run("413 API upload", func(t *testing.T) {
		resp, body := rawRequest(t, addr, "POST", "/api/media", "Content-Type: application/octet-stream", fmt.Sprintf("Content-Length: %d", cfg.MaxUploadBody()+1))
		if want := `{"error":"too large: uploads are limited to ` + config.HumanSize(cfg.MaxUpload) + `","code":"too_large"}` + "\n"; resp.StatusCode != 413 || string(body) != want {
			t.Errorf("%d %q, want 413 %q", resp.StatusCode, body, want)
		}
	})
	app.srv.Close() // the app is down
	t.Run("502 page", func(t *testing.T) {
		resp, body := rawRequest(t, addr, "GET", "/")
		check(t, resp, body, 502)
	})
	// nginx's error for an upstream that failed quotes the request line:
	// for a share link, with its token. The /s/ location writes none, however
	// the path reaches it; other paths' errors are still written.
	t.Run("502 share link, not in the error log", func(t *testing.T) {
		token := config.ShareTokenPrefix + "SECRET-token"
		for _, target := range []string{"/s/" + token + "/download", "//s/" + token + "/download", "/s//" + token, "/x/../s/" + token} {
			resp, body := rawRequest(t, addr, "GET", target)
			check(t, resp, body, 502)
		}
		resp, body := rawRequest(t, addr, "GET", "/after-the-share-links")
		check(t, resp, body, 502)
		errorLogUntil(t, prefix, "SECRET", `request: "GET /after-the-share-links HTTP/1.1"`)
	})
	t.Run("502 API", func(t *testing.T) {
		resp, body := rawRequest(t, addr, "GET", "/api/me")
		if want := `{"error":"the service is temporarily unavailable, try again shortly","code":"unavailable"}` + "\n"; resp.StatusCode != 502 || string(body) != want {
			t.Errorf("%d %q, want 502 %q", resp.StatusCode, body, want)
		}
	})
}
