package video

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestPictureLimits makes pictures of what Probe never saw, as choosing a
// poster in the API does: an image or a video of more than maxPixels (a few
// hundred KiB that decode to 120 megapixels) is refused as too large
// without being decoded, and a 6K video (which Probe takes) gets its
// picked poster within RLIMIT_AS: its 50 candidate frames are held fitted
// to the box, not at 6K (64 MB each, 3.2 GB in all).
func TestPictureLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name, file, contentType string
		args                    []string
	}{
		{"image", "huge.png", "image/png", []string{"-f", "lavfi", "-i", "color=black:s=12000x10000", "-frames:v", "1", "-pix_fmt", "gray"}},
		{"video", "huge.mp4", "video/mp4", []string{"-f", "lavfi", "-i", "color=black:s=12000x10000:d=2:r=1", "-c:v", "png", "-pix_fmt", "gray", "-f", "mp4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := clip(t, tc.file, tc.args...)
			out := filepath.Join(t.TempDir(), "poster.jpg")
			err := Runner{}.FrameAt(ctx, path, tc.contentType, 1, 1280, 720, out)
			var e *Error
			if !errors.Is(err, ErrBadInput) || !errors.As(err, &e) || !strings.Contains(e.Reason, "too large") {
				t.Errorf("a frame of a 12000x10000 %s = %v, want ErrBadInput: the picture is too large", tc.name, err)
			}
		})
	}
	t.Run("6K video", func(t *testing.T) {
		t.Parallel()
		path := clip(t, "6k.mp4", "-f", "lavfi", "-i", "color=gray:s=6144x3456:d=2.5:r=20", "-c:v", "mjpeg", "-pix_fmt", "yuvj444p", "-q:v", "20", "-f", "mp4")
		if _, err := Probe(ctx, path, "video/mp4"); err != nil {
			t.Fatalf("Probe of the 6K video: %v", err)
		}
		out := filepath.Join(t.TempDir(), "poster.jpg")
		if err := (Runner{}).Frame(ctx, path, "video/mp4", 0, 1280, 720, out); err != nil {
			t.Errorf("the poster of a 6K video: %v", err)
		}
	})
}
