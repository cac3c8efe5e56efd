package frontconf

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/testenv"
)

// checkTimeout bounds one run of "apache2 -t" or "caddy validate".
const checkTimeout = time.Minute

// renderer is RenderApache or RenderCaddy.
type renderer struct {
	name   string
	render func(*strings.Builder, config.Config, Options) error
}

var renderers = []renderer{
	{"apache", func(b *strings.Builder, cfg config.Config, opt Options) error { return RenderApache(b, cfg, opt) }},
	{"caddy", func(b *strings.Builder, cfg config.Config, opt Options) error { return RenderCaddy(b, cfg, opt) }},
}

// testConfig returns a valid config whose data dir is a fresh temp dir.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.MaxUpload = 8 << 20
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRenderRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*config.Config, *Options)
		only string // "" for both renderers
	}{
		{"s3 storage", func(c *config.Config, _ *Options) { c.Storage = config.StorageS3 }, ""},
		{"quote in data dir", func(c *config.Config, _ *Options) { c.DataDir += `"x` }, ""},
		{"backslash in data dir", func(c *config.Config, _ *Options) { c.DataDir += `\x` }, ""},
		{"placeholder in data dir", func(c *config.Config, _ *Options) { c.DataDir += "/{env.HOME}" }, ""},
		{"variable in data dir", func(c *config.Config, _ *Options) { c.DataDir += "/${HOME}" }, ""},
		{"wildcard in data dir", func(c *config.Config, _ *Options) { c.DataDir += "/*" }, ""},
		{"newline in data dir", func(c *config.Config, _ *Options) { c.DataDir += "/x\nXSendFilePath /" }, ""},
		{"empty data dir", func(c *config.Config, _ *Options) { c.DataDir = "" }, ""},
		{"no max upload", func(c *config.Config, _ *Options) { c.MaxUpload = 0 }, ""},
		{"no body timeout", func(c *config.Config, _ *Options) { c.BodyIdleTimeout = 0 }, ""},
		{"listen without port", func(_ *config.Config, o *Options) { o.Listen = "127.0.0.1" }, ""},
		{"listen with a space", func(_ *config.Config, o *Options) { o.Listen = "127.0.0.1:80 x" }, ""},
		{"upstream with a path", func(_ *config.Config, o *Options) { o.Upstream = "127.0.0.1:8080/x" }, ""},
		{"upstream with a brace", func(_ *config.Config, o *Options) { o.Upstream = "{x}:8080" }, ""},
		{"app on a unix socket", func(c *config.Config, _ *Options) { c.Addr = "unix:/run/mediagate/app.sock" }, ""},
		{"unix socket upstream", func(_ *config.Config, o *Options) { o.Upstream = "unix:/run/mediagate/app.sock" }, ""},
		{"prefix with a quote", func(_ *config.Config, o *Options) { o.Prefix = `/tmp/a"b` }, ""},
		{"root workers", func(_ *config.Config, o *Options) { o.User, o.Group = "root", "root" }, "apache"},
		{"user without group", func(_ *config.Config, o *Options) { o.User = "www-data" }, "apache"},
		{"user with a space", func(_ *config.Config, o *Options) { o.User, o.Group = "www data", "x" }, "apache"},
		{"modules with a quote", func(_ *config.Config, o *Options) { o.Modules = `/usr/lib/"` }, "apache"},
		{"caddy with a user", func(_ *config.Config, o *Options) { o.User, o.Group = "www-data", "www-data" }, "caddy"},
	} {
		for _, r := range renderers {
			if tc.only != "" && tc.only != r.name {
				continue
			}
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				cfg := testConfig(t)
				opt := Options{Prefix: t.TempDir()}
				tc.edit(&cfg, &opt)
				var b strings.Builder
				if err := r.render(&b, cfg, opt); err == nil {
					t.Errorf("rendered:\n%s", b.String())
				} else if b.Len() != 0 {
					t.Errorf("wrote %d bytes along with the error %v", b.Len(), err)
				}
			})
		}
	}
}

// The configs take every path, limit and header from the app's config.
func TestRenderFollowsTheApp(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Addr = "0.0.0.0:9191"
	cfg.BodyIdleTimeout = 1500 * time.Millisecond
	for _, r := range renderers {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			if err := r.render(&b, cfg, Options{Prefix: t.TempDir()}); err != nil {
				t.Fatal(err)
			}
			conf := b.String()
			want := []string{
				`"` + cfg.PrivateDir() + `"`, `"` + cfg.PublicDir(), config.MediaCSP, config.MediaReferrerPolicy,
				config.PublicCacheControl, fmt.Sprint(cfg.MaxUploadBody()), "127.0.0.1:9191",
			}
			for ext, typ := range config.PublicTypes {
				want = append(want, `\`+ext+`$`, typ)
			}
			if r.name == "apache" {
				want = append(want, "Timeout 2\n", "XSendFilePath \""+cfg.PrivateDir()+"\"\n", "Alias /media/ \""+cfg.PublicDir()+"/\"",
					"RequestHeader set X-Sendfile-Type X-Sendfile", "RequestHeader unset "+config.FrontHeader+"\n")
			} else {
				want = append(want, "header_up X-Sendfile-Type X-Accel-Redirect", "header_up -"+config.FrontHeader+"\n", "uri strip_prefix /pmedia\n", "exclude X-Accel-Redirect Content-Length")
			}
			for _, w := range want {
				if !strings.Contains(conf, w) {
					t.Errorf("the %s config does not hold %q:\n%s", r.name, w, conf)
				}
			}
			if strings.Contains(conf, cfg.DataDir+"\"") || strings.Contains(conf, cfg.DataDir+"/\"") {
				t.Errorf("the %s config serves the whole data dir:\n%s", r.name, conf)
			}
		})
	}

	// Apache counts a body limit only up to 2 GiB; above, the app does.
	big := cfg
	big.MaxUpload = 4 << 30
	var b strings.Builder
	if err := RenderApache(&b, big, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\nLimitRequestBody 0\n") {
		t.Errorf("a 4 GiB limit is not LimitRequestBody 0:\n%s", b.String())
	}
}

// apacheUser is who Apache's workers run as in these tests when the tests
// run as root, which Apache refuses.
func apacheUser(t *testing.T) (name, group string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return "", ""
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, g.Name
}

func TestApacheAcceptsConfig(t *testing.T) {
	t.Parallel()
	apache := testenv.LookPath(t, "apache2")
	if _, err := os.Stat(filepath.Join(DefaultModules, "mod_xsendfile.so")); err != nil {
		testenv.Missing(t, "mod_xsendfile is not installed (Debian: libapache2-mod-xsendfile)")
	}
	cfg := testConfig(t)
	prefix := t.TempDir()
	opt := Options{Prefix: prefix, Listen: "127.0.0.1:1"}
	opt.User, opt.Group = apacheUser(t)
	var b strings.Builder
	if err := RenderApache(&b, cfg, opt); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(prefix, "apache2.conf")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, apache, "-t", "-f", file).CombinedOutput(); err != nil {
		t.Errorf("apache2 -t: %v\n%s\nconfig:\n%s", err, out, b.String())
	}
}

func TestCaddyAcceptsConfig(t *testing.T) {
	t.Parallel()
	caddy := testenv.LookPath(t, "caddy")
	cfg := testConfig(t)
	prefix := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	cmd, text := caddyCommand(ctx, t, caddy, "validate", cfg, Options{Prefix: prefix, Listen: "[::1]:1"})
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("caddy validate: %v\n%s\nconfig:\n%s", err, out, text)
	}
}

// caddyCommand writes the Caddyfile RenderCaddy makes of cfg and opt into
// opt.Prefix and returns caddy's command sub (validate, run) on it, with
// Caddy's own files kept under the prefix too, and the Caddyfile's text.
func caddyCommand(ctx context.Context, t *testing.T, caddy, sub string, cfg config.Config, opt Options) (*exec.Cmd, string) {
	t.Helper()
	var b strings.Builder
	if err := RenderCaddy(&b, cfg, opt); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(opt.Prefix, "Caddyfile")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, caddy, sub, "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+opt.Prefix, "XDG_CONFIG_HOME="+opt.Prefix, "XDG_DATA_HOME="+opt.Prefix)
	return cmd, b.String()
}

// TestCaddyRedactsShareTokens runs the access log's filter of the rendered
// Caddyfile (Caddy's regexp filter is Go's ReplaceAllString) on URIs with
// share tokens in them, as sent.
func TestCaddyRedactsShareTokens(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := RenderCaddy(&b, testConfig(t), Options{Prefix: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	// Caddy's own log's and the access log's.
	all := regexp.MustCompile(`\n\s*request>uri regexp "([^"]*)" "([^"]*)"\n`).FindAllStringSubmatch(b.String(), -1)
	if len(all) != 2 || all[0][0] != all[1][0] {
		t.Fatalf("not the one filter of request>uri in both logs:\n%s", b.String())
	}
	re, repl := regexp.MustCompile(all[0][1]), all[0][2]
	token := config.ShareTokenPrefix + "SECRET-tok_en"
	for _, tc := range []struct{ uri, want string }{
		{"/", "/"},
		{"/s/", "/s/"},
		{"/smedia/x", "/smedia/x"},
		{"/s/" + token, "/s/<redacted>"},
		{"/s/" + token + "/download?x=1", "/s/<redacted>/download?x=1"},
		{"//s/" + token + "/download", "//s/<redacted>/download"},
		{"///s/" + token, "///s/<redacted>"},
		{"/s//" + token + "/download", "/s//<redacted>/download"},
		{"/x/../s/" + token, "/x/../s/<redacted>"},
		{"/api/me?next=/s/" + token + "&again=" + token, "/api/me?next=/s/<redacted>&again=<redacted>"},
	} {
		if got := re.ReplaceAllString(tc.uri, repl); got != tc.want {
			t.Errorf("%s is logged as %s, want %s", tc.uri, got, tc.want)
		}
	}
}

// TestCaddyLogsWithTheAppDown runs Caddy with the rendered Caddyfile in
// front of an app that is down: its own log (stderr) says why each request
// failed, quoting its URI, and shows no share token either.
func TestCaddyLogsWithTheAppDown(t *testing.T) {
	t.Parallel()
	caddy := testenv.LookPath(t, "caddy")
	prefix := t.TempDir()
	listen, app := testenv.FreeAddr(t), testenv.FreeAddr(t) // nothing listens on app
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	cmd, _ := caddyCommand(ctx, t, caddy, "run", testConfig(t), Options{Prefix: prefix, Listen: listen, Upstream: app})
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	token := config.ShareTokenPrefix + "SECRET-app-down"
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range []string{"/s/" + token + "/download", "//s/" + token, "/after-the-share-links"} {
		for {
			resp, err := client.Get("http://" + listen + p)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadGateway {
					t.Errorf("GET %s: %d, want 502", p, resp.StatusCode)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Caddy does not answer: %v\n%s", err, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for !strings.Contains(out.String(), `"uri":"/after-the-share-links"`) {
		if time.Now().After(deadline) {
			t.Fatalf("Caddy logged no failed request:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	access, _ := os.ReadFile(filepath.Join(prefix, "access.log"))
	for what, text := range map[string]string{"Caddy's own log": out.String(), "the access log": string(access)} {
		if strings.Contains(text, "SECRET") {
			t.Errorf("%s holds a share token:\n%s", what, text)
		}
	}
	if !strings.Contains(out.String(), `"uri":"//s/<redacted>"`) {
		t.Errorf("Caddy's own log has no redacted line for //s/:\n%s", out.String())
	}
}
