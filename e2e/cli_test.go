package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediagate/mediagate/internal/testenv"
)

// TestCLI checks the command-line contract: migrate can run twice, user add
// prints the new user's id, token create prints only the token, bad input
// fails, nginx-config prints a file nginx accepts, and the users and tokens
// the commands made work once the server runs. (Users exist before the first
// start here, so the server is not expected to create admin@localhost.)
func TestCLI(t *testing.T) {
	s := newSuite(t, suiteOptions{mode: modeDirect, maxUpload: "1MiB", serveArgs: []string{"serve"}})
	createDatabase(t, s.dbName)
	for range 2 {
		s.cli(t, "", "migrate")
	}

	const editor = "cli-editor@e2e.test"
	password := "correct horse battery staple"
	id := onlyLine(t, "user add", s.cli(t, password+"\n", "user", "add", "--email", editor, "--role", "editor", "--password-stdin"))
	onlyLine(t, "user add without --password-stdin", s.cli(t, "", "user", "add", "--email", "cli-viewer@e2e.test", "--role", "viewer"))
	for _, bad := range [][]string{
		{"user", "add", "--email", editor, "--role", "editor", "--password-stdin"}, // taken
		{"user", "add", "--email", "cli-other@e2e.test", "--role", "superuser", "--password-stdin"},
		{"token", "create", "--email", "nobody@e2e.test"},
	} {
		if out, _, err := s.runCLI("another password\n", bad...); err == nil {
			t.Errorf("mediagate %s succeeded (stdout %q); want a failure", strings.Join(bad, " "), out)
		}
	}
	const cliAdmin = "cli-admin@e2e.test"
	adminID := onlyLine(t, "user add", s.cli(t, "admin password\n", "user", "add", "--email", cliAdmin, "--role", "admin", "--password-stdin"))
	adminToken := s.createToken(t, cliAdmin)
	token := s.createToken(t, editor)
	if len(token) < 20 {
		t.Errorf("token create printed %q: too short to be unguessable", token)
	}
	if other := s.createToken(t, editor); other == token {
		t.Errorf("two token create runs printed the same token %q", token)
	}

	t.Run("nginx-config", func(t *testing.T) {
		nginx := testenv.LookPath(t, "nginx")
		prefix := filepath.Join(s.root, "nginx-check")
		if err := os.Mkdir(prefix, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := s.cli(t, "", "nginx-config", "--listen", testenv.FreeAddr(t), "--upstream", s.appAddr, "--prefix", prefix)
		file := filepath.Join(prefix, "nginx.conf")
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, nginx, "-t", "-p", prefix, "-c", file, "-e", filepath.Join(prefix, "error.log"), "-g", "daemon off;").CombinedOutput()
		if err != nil {
			t.Errorf("nginx -t rejects the output of nginx-config: %v\n%s\nconfig:\n%s", err, out, conf)
		}
	})

	s.startApp(t)
	a := s.get(t, "/api/me", token)
	mustStatus(t, "GET /api/me with the CLI's token", a, http.StatusOK)
	if m := decodeJSON[me](t, "GET /api/me", a); string(m.ID) != id || m.Email != editor || m.Role != "editor" {
		t.Errorf("GET /api/me with the CLI's token: %+v, want id %q (from user add), %s, editor", m, id, editor)
	}
	a = s.get(t, "/api/me", adminToken)
	mustStatus(t, "GET /api/me as the CLI's admin", a, http.StatusOK)
	if m := decodeJSON[me](t, "GET /api/me", a); string(m.ID) != adminID || m.Email != cliAdmin || m.Role != "admin" {
		t.Errorf("GET /api/me as the CLI's admin: %+v, want id %q, %s, admin", m, adminID, cliAdmin)
	}
}
