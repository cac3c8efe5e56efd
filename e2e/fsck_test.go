package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fsck runs "mediagate fsck" with args and returns its report (stdout) and
// exit status; a status fsck never gives fails t.
func (s *suite) fsck(t testing.TB, args ...string) (string, int) {
	t.Helper()
	out, stderr, err := s.runCLI("", append([]string{"fsck"}, args...)...)
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("mediagate fsck: %v", err)
	}
	if code == 1 || code > 3 {
		t.Fatalf("mediagate fsck %s: exit status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr)
	}
	return out, code
}

// mustFsckClean runs fsck --verify and fails t unless it is clean.
func (s *suite) mustFsckClean(t testing.TB) {
	t.Helper()
	out, code := s.fsck(t, "--verify")
	if code != 0 || !strings.Contains(out, "clean: no problems found") {
		t.Errorf("fsck --verify: exit status %d, want a clean store:\n%s", code, out)
	}
}

// reportLine returns the report's line about kind and name, "" if none.
func reportLine(report, kind, name string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kind) + ` +` + regexp.QuoteMeta(name) + ` .*$`)
	return re.FindString(report)
}

// writeBlob puts data under key into the suite's storage behind the app's
// back, as damage would.
func (s *suite) writeBlob(t testing.TB, key string, data []byte) {
	t.Helper()
	if s.bucket == nil {
		p := filepath.Join(s.privateDir(), key[0:2], key[2:4], key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	k := s3Prefix + "blobs/" + key
	if _, err := s.bucket.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &s.bucket.Name, Key: &k, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
}

// removeBlob deletes key's blob behind the app's back.
func (s *suite) removeBlob(t testing.TB, key string) {
	t.Helper()
	if s.bucket == nil {
		if err := os.Remove(filepath.Join(s.privateDir(), key[0:2], key[2:4], key)); err != nil {
			t.Fatal(err)
		}
		return
	}
	k := s3Prefix + "blobs/" + key
	if _, err := s.bucket.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &s.bucket.Name, Key: &k}); err != nil {
		t.Fatal(err)
	}
}

// deadSpool leaves in the temp dir what a killed instance would: its dir
// with half an upload, and its lock file, locked by nobody.
func (s *suite) deadSpool(t testing.TB) string {
	t.Helper()
	name := randomHex(8)
	if err := os.MkdirAll(filepath.Join(s.tmpDir(), name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.tmpDir(), name, "upload-1"), []byte("half an upload"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.tmpDir(), name+".lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestFsckCLI runs "mediagate fsck" beside a running server, on local disk
// and on SeaweedFS: a clean store is clean with status 0; damage made for
// real (a blob gone, a blob without a row, a dead instance's temp dir) is
// reported with what it belongs to and status 2, and is left alone; --repair
// moves the orphan to the trash and removes the temp dir, leaving the
// missing blob (status 2); uploading the file again makes it clean; damage
// --repair fixes all of is status 3.
func TestFsckCLI(t *testing.T) {
	for _, storage := range []string{storageLocal, storageS3} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			s := startSuite(t, suiteOptions{mode: modeDirect, maxUpload: "1MiB", storage: storage})
			owner := s.addUser(t, "owner@fsck.test", "editor")
			dataA, dataB, dataC := []byte(rand.Text()+" a"), []byte(rand.Text()+" b"), []byte(rand.Text()+" orphan")
			a := s.mustUpload(t, owner.token, "a.txt", dataA)
			s.mustUpload(t, owner.token, "b.txt", dataB)

			out, code := s.fsck(t)
			if code != 0 || !strings.Contains(out, "clean: no problems found") || !strings.Contains(out, "blobs: 2 in the database") {
				t.Fatalf("a clean store: exit status %d\n%s", code, out)
			}
			s.mustFsckClean(t)

			s.removeBlob(t, a.SHA256)
			orphan := sha256Hex(dataC)
			s.writeBlob(t, orphan, dataC)
			dead := s.deadSpool(t)

			out, code = s.fsck(t)
			t.Logf("the report:\n%s", out)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if l := reportLine(out, "missing", a.SHA256); !strings.Contains(l, string(a.ID)) || !strings.Contains(l, `"a.txt"`) {
				t.Errorf("the missing blob's line %q does not name its item", l)
			}
			for _, k := range [][2]string{{"orphan", orphan}, {"spool", dead}} {
				if reportLine(out, k[0], k[1]) == "" {
					t.Errorf("no %s line for %s", k[0], k[1])
				}
			}
			if !strings.Contains(out, "3 problems") {
				t.Errorf("the summary does not count 3 problems")
			}
			if !slicesContain(s.blobs(t), orphan) || !exists(filepath.Join(s.tmpDir(), dead)) {
				t.Error("fsck without --repair changed the storage")
			}

			out, code = s.fsck(t, "--repair")
			if code != 2 || !strings.Contains(out, "2 repaired, 1 left") {
				t.Errorf("--repair: exit status %d, want 2 with the missing blob left:\n%s", code, out)
			}
			if slicesContain(s.blobs(t), orphan) || exists(filepath.Join(s.tmpDir(), dead)) {
				t.Error("--repair left the orphan or the temp dir")
			}
			if storage == storageLocal {
				trashed, _ := filepath.Glob(filepath.Join(s.dataDir, "fsck-trash", "*", "*", "*", orphan))
				if len(trashed) != 1 {
					t.Errorf("the orphan is not in fsck-trash: %v", listFiles(t, filepath.Join(s.dataDir, "fsck-trash")))
				}
			} else if objs := s.objects(t, s3Prefix+"fsck-trash/"); len(objs) != 1 || !strings.HasSuffix(objs[0], "/"+orphan) {
				t.Errorf("the bucket's fsck-trash holds %v, want the orphan", objs)
			}

			// Uploading the same file again brings the bytes back.
			s.mustUpload(t, owner.token, "a again.txt", dataA)
			s.mustFsckClean(t)
			if got := s.get(t, a.URL, owner.token); got.Status != 200 || !bytes.Equal(got.Body, dataA) {
				t.Errorf("the first item after the upload: %s", got)
			}

			s.writeBlob(t, orphan, dataC)
			if out, code := s.fsck(t, "--repair"); code != 3 {
				t.Errorf("--repair of what it can fix: exit status %d, want 3:\n%s", code, out)
			}
			s.mustFsckClean(t)
		})
	}
}

func slicesContain(list []string, want string) bool {
	for _, s := range list {
		if s == want || strings.HasSuffix(s, "/"+want) {
			return true
		}
	}
	return false
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
