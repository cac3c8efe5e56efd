package testweed

import (
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mediagate/mediagate/internal/testenv"
)

// TestKillRestart checks what fault tests rely on: a killed server refuses
// requests, and restarted on the same ports and data it serves the bucket
// and its objects again, and takes new ones.
func TestKillRestart(t *testing.T) {
	t.Parallel()
	bin, err := Binary()
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	s, err := Start(bin, Config{Restartable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	b := s.NewBucket(t)
	put(t, b, "kept", content)

	s.Kill()
	if s.Err() == nil {
		t.Fatal("killed, the server still runs")
	}
	if _, err := b.Client().HeadBucket(bg, &s3.HeadBucketInput{Bucket: &b.Name}); err == nil {
		t.Fatal("a killed server answered")
	}
	start := time.Now()
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("restarted in %v", time.Since(start).Round(time.Millisecond))
	key := "kept"
	out, err := b.Client().GetObject(bg, &s3.GetObjectInput{Bucket: &b.Name, Key: &key})
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(got) != content {
		t.Errorf("after the restart the object holds %q, %v", got, err)
	}
	put(t, b, "new", content)
}
