package config

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want int64
	}{
		{"1048576", 1048576},
		{"1", 1},
		{"  42  ", 42},
		{"512b", 512},
		{"1k", 1 << 10},
		{"1KiB", 1 << 10},
		{"500MB", 500 << 20}, // binary units, as documented
		{"500MiB", 500 << 20},
		{"500 MiB", 500 << 20},
		{"500mib", 500 << 20},
		{"4G", 4 << 30},
		{"4GB", 4 << 30},
		{"4GiB", 4 << 30},
		{"1.5GiB", 3 << 29},
		{"0.5k", 512},
		{"2T", 2 << 40},
		{"1TiB", 1 << 40},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSize(tc.in)
			if err != nil {
				t.Fatalf("ParseSize(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	bad := []string{"", " ", "abc", "-1", "-1MiB", "10XB", "0", "0MiB", "0.0", "MiB", "1.2.3", ".", "1e3", "1 0", "NaN", "Inf", "+Inf", "1PiB"}
	for _, in := range bad {
		t.Run("bad/"+in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSize(in)
			if err == nil {
				t.Fatalf("ParseSize(%q) = %d, want an error", in, got)
			}
			if got != 0 {
				t.Errorf("ParseSize(%q) returned %d alongside its error, want 0", in, got)
			}
			if !strings.Contains(err.Error(), "500MiB") || !strings.Contains(err.Error(), strconvQuote(in)) {
				t.Errorf("ParseSize(%q) error %q should give an example and quote the input", in, err)
			}
		})
	}
}

// TestParseSizeNeverNonPositive checks that a successful parse is a usable
// size: a value that rounds down to zero bytes, or one too large for an int64,
// must be an error rather than 0 or a negative number.
func TestParseSizeNeverNonPositive(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"0.1", "0.5b", "9999999999TiB", "100000000000000000000"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSize(in)
			if err == nil && got <= 0 {
				t.Errorf("ParseSize(%q) = %d with no error; want an error or a positive size", in, got)
			}
		})
	}
}

func strconvQuote(s string) string { return `"` + s + `"` }

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		name string
		in   string
		want []netip.Prefix
	}{
		{"one cidr", "10.0.0.0/8", pp("10.0.0.0/8")},
		{"cidrs", "10.0.0.0/8,192.168.0.0/16", pp("10.0.0.0/8", "192.168.0.0/16")},
		{"masked", "10.1.2.3/8", pp("10.0.0.0/8")},
		{"bare v4", "192.0.2.7", pp("192.0.2.7/32")},
		{"bare v6", "2001:db8::1", pp("2001:db8::1/128")},
		{"v6 cidr", "2001:db8::/32", pp("2001:db8::/32")},
		{"loopback v6", "::1", pp("::1/128")},
		{"spaces", "  10.0.0.0/8 ,  ::1 ", pp("10.0.0.0/8", "::1/128")},
		{"empty entries skipped", ",10.0.0.0/8,,", pp("10.0.0.0/8")},
		{"mixed", "127.0.0.0/8, ::1/128, 203.0.113.9", pp("127.0.0.0/8", "::1/128", "203.0.113.9/32")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePrefixes(tc.in)
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePrefixes(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	for _, in := range []string{"nope", "10.0.0.0/8,bogus", "10.0.0.0/33", "300.1.1.1", "10.0.0.0/8;192.168.0.0/16", "example.com"} {
		t.Run("bad/"+in, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePrefixes(in)
			if err == nil {
				t.Fatalf("ParsePrefixes(%q) = %v, want an error", in, got)
			}
			if got != nil {
				t.Errorf("ParsePrefixes(%q) returned %v alongside its error", in, got)
			}
		})
	}
}

// envMap returns a getenv over m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	got, err := Load(newFlagSet(), nil, envMap(nil))
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	want := Default()
	abs, err := filepath.Abs(want.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	want.DataDir = abs
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load with nothing set =\n%+v\nwant\n%+v", got, want)
	}
	// Spot-check the defaults themselves, so a change to Default is deliberate.
	if got.Accel != AccelAuto || got.MaxUpload != 4<<30 || got.CookieSecure ||
		got.SessionIdle != 12*time.Hour || got.SessionLifetime != 7*24*time.Hour || got.UploadExpiry != 24*time.Hour || got.TrashRetention != 720*time.Hour ||
		got.AdminEmail != "admin@localhost" || got.AdminPassword != "" || got.Addr != "127.0.0.1:8080" ||
		got.BodyIdleTimeout != 60*time.Second || got.PasswordHashes != runtime.NumCPU() ||
		got.MetricsAddr != "" || got.LogLevel != slog.LevelInfo || got.LogFormat != LogText {
		t.Errorf("unexpected defaults: %+v", got)
	}
	if !filepath.IsAbs(got.DataDir) {
		t.Errorf("DataDir %q is not absolute", got.DataDir)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !reflect.DeepEqual(got.TrustedProxies, wantProxies) {
		t.Errorf("default TrustedProxies = %v, want %v", got.TrustedProxies, wantProxies)
	}
}

func TestFromEnvValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{
		"DATABASE_URL":                "postgres://u@db:5432/x",
		"MEDIAGATE_ADDR":              ":9090",
		"MEDIAGATE_DATA_DIR":          dir,
		"MEDIAGATE_ACCEL":             "NGINX",
		"MEDIAGATE_MAX_UPLOAD":        "500MiB",
		"MEDIAGATE_COOKIE_SECURE":     "true",
		"MEDIAGATE_TRUSTED_PROXIES":   "10.0.0.0/8, 2001:db8::1",
		"MEDIAGATE_ADMIN_EMAIL":       "root@example.com",
		"MEDIAGATE_ADMIN_PASSWORD":    "s3cret-pass",
		"MEDIAGATE_SESSION_IDLE":      "30m",
		"MEDIAGATE_SESSION_LIFETIME":  "48h",
		"MEDIAGATE_UPLOAD_EXPIRY":     "90m",
		"MEDIAGATE_TRASH_RETENTION":   "36h",
		"MEDIAGATE_BODY_IDLE_TIMEOUT": "1500ms",
		"MEDIAGATE_PASSWORD_HASHES":   "3",
		"MEDIAGATE_JOB_WORKERS":       "2",
		"MEDIAGATE_METRICS_ADDR":      "127.0.0.1:9464",
		"MEDIAGATE_LOG_LEVEL":         "WARN",
		"MEDIAGATE_LOG_FORMAT":        "Json",
		"MEDIAGATE_FFMPEG_TIMEOUT":    "45s",
		"MEDIAGATE_STORAGE":           "S3",
		"MEDIAGATE_S3_ENDPOINT":       "http://127.0.0.1:8333/",
		"MEDIAGATE_S3_BUCKET":         "media",
		"MEDIAGATE_S3_REGION":         "eu-west-3",
		"MEDIAGATE_S3_ACCESS_KEY":     "AKIDEXAMPLE",
		"MEDIAGATE_S3_SECRET_KEY":     "secret-example",
		"MEDIAGATE_S3_PREFIX":         "mg",
		"MEDIAGATE_S3_PATH_STYLE":     "false",
	}
	got, err := FromEnv(envMap(env))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := Config{
		DatabaseURL:     "postgres://u@db:5432/x",
		Addr:            ":9090",
		DataDir:         dir,
		Accel:           AccelNginx,
		MaxUpload:       500 << 20,
		CookieSecure:    true,
		TrustedProxies:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")},
		AdminEmail:      "root@example.com",
		AdminPassword:   "s3cret-pass",
		SessionIdle:     30 * time.Minute,
		SessionLifetime: 48 * time.Hour,
		UploadExpiry:    90 * time.Minute,
		TrashRetention:  36 * time.Hour,
		BodyIdleTimeout: 1500 * time.Millisecond,
		PasswordHashes:  3,
		JobWorkers:      2,
		MetricsAddr:     "127.0.0.1:9464",
		LogLevel:        slog.LevelWarn,
		LogFormat:       LogJSON,
		FFmpegTimeout:   45 * time.Second,
		Storage:         StorageS3,
		S3Endpoint:      "http://127.0.0.1:8333",
		S3Bucket:        "media",
		S3Region:        "eu-west-3",
		S3AccessKey:     "AKIDEXAMPLE",
		S3SecretKey:     "secret-example",
		S3Prefix:        "mg/",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromEnv =\n%+v\nwant\n%+v", got, want)
	}
}

func TestVarsCoverEverySetting(t *testing.T) {
	t.Parallel()
	// Every Var must be applied: setting each one alone to a distinctive valid
	// value must change the resulting Config.
	values := map[string]string{
		"DATABASE_URL":                "postgres://other@h/db",
		"MEDIAGATE_ADDR":              ":1",
		"MEDIAGATE_DATA_DIR":          "/tmp/mediagate-config-test",
		"MEDIAGATE_ACCEL":             "off",
		"MEDIAGATE_MAX_UPLOAD":        "1k",
		"MEDIAGATE_COOKIE_SECURE":     "1",
		"MEDIAGATE_TRUSTED_PROXIES":   "10.0.0.1",
		"MEDIAGATE_ADMIN_EMAIL":       "x@y.z",
		"MEDIAGATE_ADMIN_PASSWORD":    "pw-pw-pw-pw",
		"MEDIAGATE_SESSION_IDLE":      "1m",
		"MEDIAGATE_SESSION_LIFETIME":  "2m",
		"MEDIAGATE_UPLOAD_EXPIRY":     "3m",
		"MEDIAGATE_TRASH_RETENTION":   "5h",
		"MEDIAGATE_BODY_IDLE_TIMEOUT": "4s",
		"MEDIAGATE_PASSWORD_HASHES":   "1000",
		"MEDIAGATE_JOB_WORKERS":       "0",
		"MEDIAGATE_METRICS_ADDR":      "127.0.0.1:9464",
		"MEDIAGATE_LOG_LEVEL":         "debug",
		"MEDIAGATE_LOG_FORMAT":        "json",
		"MEDIAGATE_FFMPEG_TIMEOUT":    "10m",
		"MEDIAGATE_STORAGE":           "s3",
		"MEDIAGATE_S3_ENDPOINT":       "http://s3.example:9000",
		"MEDIAGATE_S3_BUCKET":         "media-bucket",
		"MEDIAGATE_S3_REGION":         "eu-west-3",
		"MEDIAGATE_S3_ACCESS_KEY":     "AKIDEXAMPLE",
		"MEDIAGATE_S3_SECRET_KEY":     "secret-example",
		"MEDIAGATE_S3_PREFIX":         "mg/",
		"MEDIAGATE_S3_PATH_STYLE":     "false",
	}
	if len(values) != len(Vars) {
		t.Fatalf("test covers %d settings, Vars has %d", len(values), len(Vars))
	}
	base, err := FromEnv(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	seenFlags := map[string]bool{}
	for _, v := range Vars {
		if seenFlags[v.Flag] {
			t.Errorf("flag %s listed twice", v.Flag)
		}
		seenFlags[v.Flag] = true
		val, ok := values[v.Env]
		if !ok {
			t.Errorf("no test value for %s", v.Env)
			continue
		}
		env := map[string]string{v.Env: val}
		want := base
		if v.Env == "MEDIAGATE_STORAGE" {
			// s3 needs its settings; compared with them on local storage.
			s3 := map[string]string{"MEDIAGATE_S3_ENDPOINT": "http://h:1", "MEDIAGATE_S3_BUCKET": "bkt",
				"MEDIAGATE_S3_ACCESS_KEY": "a", "MEDIAGATE_S3_SECRET_KEY": "s"}
			if want, err = FromEnv(envMap(s3)); err != nil {
				t.Fatal(err)
			}
			maps.Copy(env, s3)
		}
		got, err := FromEnv(envMap(env))
		if err != nil {
			t.Errorf("%s=%s: %v", v.Env, val, err)
			continue
		}
		if reflect.DeepEqual(got, want) {
			t.Errorf("%s=%s changed nothing", v.Env, val)
		}
	}
}

// s3Env is a complete S3 setting with key set to value ("" unsets it).
func s3Env(key, value string) map[string]string {
	env := map[string]string{"MEDIAGATE_STORAGE": "s3", "MEDIAGATE_S3_ENDPOINT": "http://127.0.0.1:8333",
		"MEDIAGATE_S3_BUCKET": "media", "MEDIAGATE_S3_ACCESS_KEY": "a", "MEDIAGATE_S3_SECRET_KEY": "s"}
	env[key] = value
	return env
}

func TestS3Settings(t *testing.T) {
	t.Parallel()
	env := s3Env("MEDIAGATE_S3_PREFIX", "site/media")
	env["MEDIAGATE_S3_ENDPOINT"] = "https://s3.example/"
	c, err := FromEnv(envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.S3Prefix != "site/media/" || c.S3Endpoint != "https://s3.example" || !c.S3PathStyle || c.S3Region != "us-east-1" {
		t.Errorf("S3 settings = prefix %q, endpoint %q, path style %v, region %q", c.S3Prefix, c.S3Endpoint, c.S3PathStyle, c.S3Region)
	}
	for _, tt := range []struct {
		pathStyle              bool
		scheme, host, basePath string
	}{
		{true, "https", "s3.example", "/media/site/media/"},
		{false, "https", "media.s3.example", "/site/media/"},
	} {
		c.S3PathStyle = tt.pathStyle
		if scheme, host, base := c.S3Target(); scheme != tt.scheme || host != tt.host || base != tt.basePath {
			t.Errorf("path style %v: S3Target = %q %q %q, want %q %q %q", tt.pathStyle, scheme, host, base, tt.scheme, tt.host, tt.basePath)
		}
	}
}

func TestLoadFlagsOverrideEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"MEDIAGATE_ADDR":          ":1111",
		"MEDIAGATE_ACCEL":         "nginx",
		"MEDIAGATE_MAX_UPLOAD":    "1G",
		"MEDIAGATE_COOKIE_SECURE": "false",
		"MEDIAGATE_SESSION_IDLE":  "1h",
		"MEDIAGATE_ADMIN_EMAIL":   "env@example.com",
	}
	args := []string{"-addr", ":2222", "-accel=off", "-max-upload", "2MiB", "-cookie-secure=true", "-session-idle", "5m"}
	got, err := Load(newFlagSet(), args, envMap(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Addr != ":2222" || got.Accel != AccelOff || got.MaxUpload != 2<<20 || !got.CookieSecure || got.SessionIdle != 5*time.Minute {
		t.Errorf("flags did not override env: %+v", got)
	}
	if got.AdminEmail != "env@example.com" {
		t.Errorf("env value without a flag was lost: AdminEmail = %q", got.AdminEmail)
	}
}

func TestLoadExtraFlagsAndArgs(t *testing.T) {
	t.Parallel()
	fs := newFlagSet()
	extra := fs.Bool("extra", false, "a caller's own flag")
	_, err := Load(fs, []string{"-extra", "positional"}, envMap(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !*extra {
		t.Error("caller's flag was not parsed")
	}
	if got := fs.Args(); !reflect.DeepEqual(got, []string{"positional"}) {
		t.Errorf("fs.Args() = %q", got)
	}
	if _, err := Load(newFlagSet(), []string{"-no-such-flag"}, envMap(nil)); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		setting string // must be named in the error
		value   string // must be quoted in the error, when set
	}{
		{"accel env", map[string]string{"MEDIAGATE_ACCEL": "sometimes"}, nil, "accel", "sometimes"},
		{"accel flag", nil, []string{"-accel", "x"}, "accel", "x"},
		{"size", map[string]string{"MEDIAGATE_MAX_UPLOAD": "lots"}, nil, "max-upload", "lots"},
		{"size zero", map[string]string{"MEDIAGATE_MAX_UPLOAD": "0"}, nil, "max-upload", "0"},
		{"size negative", nil, []string{"-max-upload=-5"}, "max-upload", "-5"},
		{"size unit", nil, []string{"-max-upload", "10XB"}, "max-upload", "10XB"},
		{"bool", map[string]string{"MEDIAGATE_COOKIE_SECURE": "yes please"}, nil, "cookie-secure", "yes please"},
		{"bool flag", nil, []string{"-cookie-secure", "maybe"}, "cookie-secure", "maybe"},
		{"duration", map[string]string{"MEDIAGATE_SESSION_IDLE": "12"}, nil, "session-idle", "12"},
		{"duration unit", map[string]string{"MEDIAGATE_SESSION_LIFETIME": "7d"}, nil, "session-lifetime", "7d"},
		{"duration negative", nil, []string{"-session-idle", "-1h"}, "session-idle", "-1h"},
		{"duration zero", nil, []string{"-session-lifetime", "0s"}, "session-lifetime", "0s"},
		{"upload expiry", map[string]string{"MEDIAGATE_UPLOAD_EXPIRY": "1 day"}, nil, "upload-expiry", "1 day"},
		{"upload expiry zero", nil, []string{"-upload-expiry", "0"}, "upload-expiry", "0"},
		{"trash retention", map[string]string{"MEDIAGATE_TRASH_RETENTION": "30 days"}, nil, "trash-retention", "30 days"},
		{"body idle timeout", map[string]string{"MEDIAGATE_BODY_IDLE_TIMEOUT": "60"}, nil, "body-idle-timeout", "60"},
		{"body idle timeout negative", nil, []string{"-body-idle-timeout", "-1s"}, "body-idle-timeout", "-1s"},
		{"password hashes", map[string]string{"MEDIAGATE_PASSWORD_HASHES": "many"}, nil, "password-hashes", "many"},
		{"password hashes zero", nil, []string{"-password-hashes", "0"}, "password-hashes", "0"},
		{"password hashes too many", nil, []string{"-password-hashes", "5000"}, "password-hashes", "5000"},
		{"proxies", map[string]string{"MEDIAGATE_TRUSTED_PROXIES": "10.0.0.0/8,nope"}, nil, "trusted-proxies", "nope"},
		{"storage", map[string]string{"MEDIAGATE_STORAGE": "tape"}, nil, "storage", "tape"},
		{"job workers", map[string]string{"MEDIAGATE_JOB_WORKERS": "-1"}, nil, "job-workers", "-1"},
		{"log level", map[string]string{"MEDIAGATE_LOG_LEVEL": "verbose"}, nil, "log-level", "verbose"},
		{"log level offset", nil, []string{"-log-level", "INFO+2"}, "log-level", "INFO+2"},
		{"log format", map[string]string{"MEDIAGATE_LOG_FORMAT": "logfmt"}, nil, "log-format", "logfmt"},
		{"metrics addr", map[string]string{"MEDIAGATE_METRICS_ADDR": "9464"}, nil, "metrics-addr", "9464"},
		{"metrics addr is the app's", map[string]string{"MEDIAGATE_ADDR": "127.0.0.1:8080", "MEDIAGATE_METRICS_ADDR": "127.0.0.1:8080"}, nil, "metrics-addr", "127.0.0.1:8080"},
		{"ffmpeg timeout zero", map[string]string{"MEDIAGATE_FFMPEG_TIMEOUT": "0s"}, nil, "ffmpeg-timeout", "0s"},
		{"ffmpeg timeout too long", nil, []string{"-ffmpeg-timeout", "15m"}, "ffmpeg-timeout", "15m"},
		{"s3 without endpoint", map[string]string{"MEDIAGATE_STORAGE": "s3"}, nil, "s3-endpoint", ""},
		{"s3 endpoint not a URL", s3Env("MEDIAGATE_S3_ENDPOINT", "127.0.0.1:8333"), nil, "s3-endpoint", "127.0.0.1:8333"},
		{"s3 endpoint with a path", s3Env("MEDIAGATE_S3_ENDPOINT", "http://h:1/bucket"), nil, "s3-endpoint", "http://h:1/bucket"},
		{"s3 without bucket", s3Env("MEDIAGATE_S3_BUCKET", ""), nil, "s3-bucket", ""},
		{"s3 bad bucket", s3Env("MEDIAGATE_S3_BUCKET", "Bad_Bucket"), nil, "s3-bucket", "Bad_Bucket"},
		{"s3 without secret", s3Env("MEDIAGATE_S3_SECRET_KEY", ""), nil, "s3-access-key and s3-secret-key", ""},
		{"s3 prefix escapes", s3Env("MEDIAGATE_S3_PREFIX", "../x/"), nil, "s3-prefix", "../x/"},
		{"s3 prefix with a space", s3Env("MEDIAGATE_S3_PREFIX", "a b/"), nil, "s3-prefix", "a b/"},
		{"s3 path style", s3Env("MEDIAGATE_S3_PATH_STYLE", "sometimes"), nil, "s3-path-style", "sometimes"},
		{"s3 behind apache", s3Env("MEDIAGATE_ACCEL", "apache"), nil, "accel", ""},
		{"s3 behind caddy", s3Env("MEDIAGATE_ACCEL", "Caddy"), nil, "accel", ""},
		{"admin email", map[string]string{"MEDIAGATE_ADMIN_EMAIL": "admin"}, nil, "admin-email", "admin"},
		// Sizes that ParseSize turns into 0 or an overflowed negative number
		// are still refused, by Validate.
		{"size rounds to zero", nil, []string{"-max-upload", "0.1"}, "max-upload", ""},
		{"size overflows", nil, []string{"-max-upload", "9999999999TiB"}, "max-upload", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(newFlagSet(), tc.args, envMap(tc.env))
			if err == nil {
				t.Fatal("Load accepted an invalid setting")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.setting+":") {
				t.Errorf("error %q does not start with the setting name %q", msg, tc.setting)
			}
			if tc.value != "" && !strings.Contains(msg, strconvQuote(tc.value)) {
				t.Errorf("error %q does not quote the bad value %q", msg, tc.value)
			}
		})
	}
}

func TestLoadReportsEveryBadSetting(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"MEDIAGATE_MAX_UPLOAD":    "lots",
		"MEDIAGATE_COOKIE_SECURE": "perhaps",
		"MEDIAGATE_SESSION_IDLE":  "soon",
	}
	_, err := FromEnv(envMap(env))
	if err == nil {
		t.Fatal("FromEnv accepted three bad settings")
	}
	for _, name := range []string{"max-upload", "cookie-secure", "session-idle"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error %q does not mention %s", err, name)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DataDir = "rel/data"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "rel", "data"); c.DataDir != want {
		t.Errorf("DataDir = %q, want %q", c.DataDir, want)
	}
	if c.PrivateDir() != filepath.Join(wd, "rel", "data", "private") ||
		c.PublicDir() != filepath.Join(wd, "rel", "data", "public") ||
		c.TmpDir() != filepath.Join(wd, "rel", "data", "tmp") ||
		c.TrashDir() != filepath.Join(wd, "rel", "data", "trash") {
		t.Errorf("derived dirs wrong: %s %s %s %s", c.PrivateDir(), c.PublicDir(), c.TmpDir(), c.TrashDir())
	}

	for name, mutate := range map[string]func(*Config){
		"empty data dir":  func(c *Config) { c.DataDir = "" },
		"zero max upload": func(c *Config) { c.MaxUpload = 0 },
		"bad accel":       func(c *Config) { c.Accel = "NGINX" }, // Validate itself does not lower-case
		"bad admin email": func(c *Config) { c.AdminEmail = "root" },
		"zero expiry":     func(c *Config) { c.UploadExpiry = 0 },
		"zero body idle":  func(c *Config) { c.BodyIdleTimeout = 0 },
	} {
		c := Default()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

func TestAccelModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  AccelMode
	}{
		{"auto", AccelAuto}, {"nginx", AccelNginx}, {"Caddy", AccelCaddy}, {"APACHE", AccelApache}, {"off", AccelOff},
	} {
		got, err := FromEnv(envMap(map[string]string{"MEDIAGATE_ACCEL": tc.value}))
		if err != nil || got.Accel != tc.want {
			t.Errorf("MEDIAGATE_ACCEL=%s: accel %q, error %v; want %q", tc.value, got.Accel, err, tc.want)
		}
	}
}

func TestLoadRelativeDataDir(t *testing.T) {
	t.Parallel()
	got, err := Load(newFlagSet(), []string{"-data-dir", "./some/where"}, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "some", "where"); got.DataDir != want {
		t.Errorf("DataDir = %q, want %q", got.DataDir, want)
	}
}

// TestUsageHidesSecrets checks that a mistyped flag, which makes the flag
// package print the usage, does not print the values of the secret settings
// taken from the environment (the admin password, credentials in the
// database URL) to the output, i.e. to the service's logs.
func TestUsageHidesSecrets(t *testing.T) {
	t.Parallel()
	const pw, dbpw = "admin-pw-3f9a1c", "db-pw-77e0b2"
	env := map[string]string{
		"MEDIAGATE_ADMIN_PASSWORD": pw,
		"DATABASE_URL":             "postgres://app:" + dbpw + "@db:5432/mediagate",
	}
	var out bytes.Buffer
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(&out)
	if _, err := Load(fs, []string{"-adrr", ":80"}, envMap(env)); err == nil {
		t.Fatal("a mistyped flag was accepted")
	}
	if !strings.Contains(out.String(), "admin-password") {
		t.Fatalf("usage was not printed; output: %q", out.String())
	}
	for _, secret := range []string{pw, dbpw} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("usage output reveals the secret %q from the environment:\n%s", secret, out.String())
		}
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table true:
// every setting has its row, with its variable and its flag.
func TestREADMEListsEverySetting(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
		}
	}
	for _, v := range Vars {
		flag, ok := rows[v.Env]
		if !ok {
			t.Errorf("README's configuration table has no row for %s", v.Env)
			continue
		}
		if flag != "`--"+v.Flag+"`" {
			t.Errorf("README gives %s the flag %s, want `--%s`", v.Env, flag, v.Flag)
		}
	}
}

func TestAddr(t *testing.T) {
	t.Parallel()
	long := "unix:/" + strings.Repeat("s", maxSocketPath)
	for _, c := range []struct {
		addr   string
		ok     bool
		socket string
	}{
		{"127.0.0.1:8080", true, ""},
		{":8080", true, ""},
		{"[::1]:8080", true, ""},
		{"unix:/run/mediagate/app.sock", true, "/run/mediagate/app.sock"},
		{"unix:" + "/" + strings.Repeat("s", maxSocketPath-1), true, "/" + strings.Repeat("s", maxSocketPath-1)},
		{long, false, ""},
		{"unix:run/app.sock", false, ""},
		{"unix:", false, ""},
		{"unix:/run/../etc/app.sock", false, ""},
		{"unix:/run/app.sock/", false, ""},
		{"unix:/run/app\n.sock", false, ""},
		{"127.0.0.1", false, ""},
		{"localhost:", false, ""},
		{"/run/app.sock", false, ""},
	} {
		t.Run(c.addr, func(t *testing.T) {
			t.Parallel()
			cfg, err := FromEnv(func(k string) string { return map[string]string{"MEDIAGATE_ADDR": c.addr}[k] })
			if c.ok != (err == nil) {
				t.Fatalf("MEDIAGATE_ADDR=%q: error %v, want ok=%v", c.addr, err, c.ok)
			}
			if !c.ok {
				return
			}
			path, isUnix := cfg.UnixSocket()
			if path != c.socket || isUnix != (c.socket != "") {
				t.Errorf("MEDIAGATE_ADDR=%q: UnixSocket() = %q, %v, want %q", c.addr, path, isUnix, c.socket)
			}
		})
	}
}

func TestMediaCSPFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		contentType, want string
	}{
		{"video/mp4", PlayerCSP},
		{"VIDEO/WebM", PlayerCSP},
		{"audio/ogg; codecs=opus", PlayerCSP},
		{"image/png", ImageCSP},
		{"image/jpeg", ImageCSP},
		{"Image/GIF", ImageCSP},
		{"image/webp; q=1", ImageCSP},
		{"image/avif", ImageCSP},
		{"image/pngx", MediaCSP},
		{"image/svg+xml", MediaCSP},
		{"image/svg+xml; charset=utf-8", MediaCSP},
		{"text/html", MediaCSP},
		{"text/html; x=video/mp4", MediaCSP},
		{"application/xhtml+xml", MediaCSP},
		{"text/xml", MediaCSP},
		{"application/javascript", MediaCSP},
		{"application/pdf", MediaCSP},
		{"text/plain", MediaCSP},
		{"text/vtt", MediaCSP},
		{"application/octet-stream", MediaCSP},
		{"", MediaCSP},
	} {
		// Twice: the remembered answer is the computed one.
		for range 2 {
			if got := MediaCSPFor(c.contentType); got != c.want {
				t.Errorf("MediaCSPFor(%q) = %q, want %q", c.contentType, got, c.want)
			}
		}
	}
	// Past the memo's bound, answers are computed, still right.
	for i := range mediaCSPMemoMax + 10 {
		if got := MediaCSPFor(fmt.Sprintf("video/x-%d", i)); got != PlayerCSP {
			t.Fatalf("MediaCSPFor(video/x-%d) = %q", i, got)
		}
	}
	mediaCSPMemo.RLock()
	n := len(mediaCSPMemo.m)
	mediaCSPMemo.RUnlock()
	if n > mediaCSPMemoMax {
		t.Errorf("the memo holds %d types, more than its %d", n, mediaCSPMemoMax)
	}
	// Every policy keeps scripts off: a viewer's policy only adds what the
	// viewer loads or styles.
	for _, p := range MediaPolicies {
		if !strings.HasPrefix(p.CSP, "default-src 'none';") || !strings.Contains(p.CSP, "sandbox") || strings.Contains(p.CSP, "allow-scripts") || strings.Contains(p.CSP, "script-src") {
			t.Errorf("policy for %s lets more than a viewer through: %q", p.Pattern, p.CSP)
		}
	}
}

func TestHumanSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"},
		{1, "1 byte"},
		{1023, "1023 bytes"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{5 << 20, "5 MiB"},
		{5<<20 + 1, "5 MiB"},
		{1000000, "976.6 KiB"},
		{4 << 30, "4 GiB"},
		{3 << 40, "3 TiB"},
		{1 << 60, "1 EiB"},
		{math.MaxInt64, "8 EiB"},
	} {
		if got := HumanSize(c.n); got != c.want {
			t.Errorf("HumanSize(%d) = %q, want %q", c.n, got, c.want)
		}
		// A whole number of units reads back as the same size.
		if c.n >= 1024 && c.n <= 1<<40 && c.n&(c.n-1) == 0 {
			if back, err := ParseSize(strings.ReplaceAll(HumanSize(c.n), " ", "")); err != nil || back != c.n {
				t.Errorf("ParseSize(HumanSize(%d)) = %d, %v", c.n, back, err)
			}
		}
	}
}

func TestDialAddr(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{":8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "127.0.0.1:8080"},
		{"[::]:8080", "[::1]:8080"},
		{"10.0.0.5:9000", "10.0.0.5:9000"},
		{"unix:/run/mediagate/app.sock", "unix:/run/mediagate/app.sock"},
		{"unix:relative.sock", ""},
		{"8080", ""},
	} {
		got, err := DialAddr(tc.addr)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("DialAddr(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}
