package e2e

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/testweed"
)

// TestStorageCopy moves a library from local disk into S3 as the README
// tells an operator to: items uploaded (one published, two with the same
// content), "storage copy --to s3", then the same server started on S3
// serves every item and the published URL with the same bytes; a second
// copy finds everything there already.
func TestStorageCopy(t *testing.T) {
	s := startSuite(t, suiteOptions{mode: modeDirect, maxUpload: "8MiB", serveArgs: []string{"serve"}})
	owner := s.addUser(t, "copy@e2e.test", "editor")
	contents := map[string][]byte{"a.bin": make([]byte, 3<<20), "b.txt": []byte("a small text\n"), "c.txt": []byte("a small text\n")}
	rand.Read(contents["a.bin"])
	items := map[string]mediaItem{}
	for name, data := range contents {
		items[name] = s.mustUpload(t, owner.token, name, data)
	}
	pub := s.do(t, call{method: http.MethodPost, path: "/api/media/" + string(items["a.bin"].ID) + "/publish", token: owner.token})
	mustStatus(t, "publish", pub, http.StatusOK)
	publicURL := decodeJSON[map[string]string](t, "publish", pub)["public_url"]

	b := testweed.New(t)
	s3env := []string{"MEDIAGATE_S3_ENDPOINT=" + b.Endpoint, "MEDIAGATE_S3_BUCKET=" + b.Name, "MEDIAGATE_S3_REGION=" + b.Region,
		"MEDIAGATE_S3_ACCESS_KEY=" + b.AccessKey, "MEDIAGATE_S3_SECRET_KEY=" + b.SecretKey, "MEDIAGATE_S3_PREFIX=" + s3Prefix}
	s.env = append(s.env, s3env...)
	out := s.cli(t, "", "storage", "copy", "--to", "s3")
	if want := "2 blobs: 2 copied, 0 already there"; strings.TrimSpace(out) != want {
		t.Errorf("storage copy printed %q, want %q", out, want)
	}
	if out := s.cli(t, "", "storage", "copy", "--to", "s3"); strings.TrimSpace(out) != "2 blobs: 0 copied, 2 already there" {
		t.Errorf("a second storage copy printed %q, want everything already there", out)
	}

	// The same installation, now on S3.
	s.server.shutdown(t, true)
	s.env = append(s.env, "MEDIAGATE_STORAGE=s3")
	s.bucket = &b
	s.startApp(t)
	if n := len(s.blobs(t)); n != 2 {
		t.Errorf("%d blobs in the bucket, want 2", n)
	}
	for name, it := range items {
		a := s.get(t, it.URL, owner.token)
		if mustStatus(t, "GET "+name+" from S3", a, http.StatusOK); !bytes.Equal(a.Body, contents[name]) {
			t.Errorf("GET %s from S3: %d bytes, not what was uploaded", name, len(a.Body))
		}
	}
	if a := s.get(t, publicURL, ""); a.Status != http.StatusOK || !bytes.Equal(a.Body, contents["a.bin"]) {
		t.Errorf("GET %s from S3: %s", publicURL, a)
	}

	// A bad setting is one line at start, not a failure later.
	_, stderr, err := s.runCLI("", "storage", "copy", "--to", "tape")
	if err == nil || !strings.Contains(stderr, "--to must be s3 or local") {
		t.Errorf("storage copy --to tape: %v, %q", err, stderr)
	}
}

// TestJobsCLI watches an upload's pipeline job with "mediagate jobs" until
// it completes, retries it with "jobs retry", and sees it complete again.
func TestJobsCLI(t *testing.T) {
	s := startSuite(t, suiteOptions{mode: modeDirect, maxUpload: "8MiB", serveArgs: []string{"serve"}})
	owner := s.addUser(t, "jobs@e2e.test", "editor")
	it := s.mustUpload(t, owner.token, "clip.mp4", sampleMP4(t))
	var id string
	done := func() bool {
		out := s.cli(t, "", "jobs", "--limit", "5")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 5 && f[4] == it.SHA256 {
				id = f[0]
				return f[1] == "completed"
			}
		}
		return false
	}
	if !eventually(60*time.Second, done) {
		t.Fatalf("the upload's job never completed:\n%s", s.cli(t, "", "jobs"))
	}
	_, stderr, err := s.runCLI("", "jobs", "retry", id)
	if err != nil || !strings.Contains(stderr, "job "+id+": ") {
		t.Fatalf("jobs retry %s: %v, %q", id, err, stderr)
	}
	if !eventually(60*time.Second, done) {
		t.Errorf("the retried job never completed:\n%s", s.cli(t, "", "jobs"))
	}
	a := s.get(t, "/api/media/"+string(it.ID), owner.token)
	if !strings.Contains(string(a.Body), `"state":"ready"`) || !strings.Contains(string(a.Body), `"poster_url"`) {
		t.Errorf("the item after its jobs: %s", a.Body)
	}
}
