package jobs

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"

	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/video"
)

// Sizes of the derived images.
const (
	posterW, posterH = 1280, 720
	thumbW, thumbH   = 320, 180
	posterAt         = 0.1 // of the duration: past a fade-in, early enough to say what it is
)

// badMedia is a file the pipeline cannot read: the content is the problem,
// so no retry helps. Reason is for editors.
type badMedia struct {
	Reason string
	err    error
}

func (b *badMedia) Error() string { return b.Reason + ": " + b.err.Error() }
func (b *badMedia) Unwrap() error { return b.err }

// slowMedia is a run that went past its wall-clock cap: a busy machine
// does that as well as a hostile file, so it is tried again a few times
// (timeoutAttempts) before it counts as final. Reason is for editors.
type slowMedia struct {
	Reason string
	err    error
}

func (s *slowMedia) Error() string { return s.Reason + ": " + s.err.Error() }
func (s *slowMedia) Unwrap() error { return s.err }

// classify turns package video's refusals into badMedia and its timeouts
// into slowMedia; everything else (storage away, a cancelled job) passes
// and is retried up to the job's MaxAttempts.
func classify(err error) error {
	var ve *video.Error
	switch {
	case errors.As(err, &ve) && errors.Is(err, video.ErrBadInput):
		return &badMedia{Reason: ve.Reason, err: err}
	case errors.As(err, &ve) && errors.Is(err, video.ErrTimeout):
		return &slowMedia{Reason: ve.Reason, err: err}
	}
	return err
}

// process is one blob's pipeline: probe it, then make what its kind gets.
func (j *Jobs) process(ctx context.Context, b media.Blob) error {
	path, cleanup, err := j.store.LocalCopy(ctx, b.SHA256, b.Size)
	if err != nil {
		return fmt.Errorf("read the blob: %w", err)
	}
	defer cleanup()
	info, err := j.video.Probe(ctx, path, b.ContentType)
	if err != nil {
		return classify(err)
	}
	if err := j.store.SetInfo(ctx, b.SHA256, media.Info{Kind: info.Kind, Duration: info.Duration, Width: info.Width,
		Height: info.Height, Rotation: info.Rotation, VideoCodec: info.VideoCodec, AudioCodec: info.AudioCodec,
		Bitrate: info.Bitrate}); err != nil {
		return err
	}
	switch info.Kind {
	case "video":
		at := info.Duration * posterAt
		if err := j.frame(ctx, b, path, at, media.DerivedPoster, posterW, posterH); err != nil {
			return err
		}
		if err := j.frame(ctx, b, path, at, media.DerivedThumb, thumbW, thumbH); err != nil {
			return err
		}
		return j.faststart(ctx, b, path)
	case "image":
		return j.frame(ctx, b, path, 0, media.DerivedThumb, thumbW, thumbH)
	}
	return nil
}

// out names a new file in this process's temp dir, where the store adopts
// it from.
func (j *Jobs) out(kind, ext string) string {
	return filepath.Join(j.store.Spool().Dir(), fmt.Sprintf("%s-%s%s", kind, randomHex(8), ext))
}

func (j *Jobs) frame(ctx context.Context, b media.Blob, path string, at float64, kind string, w, h int) error {
	out := j.out(kind, ".jpg")
	defer os.Remove(out)
	if err := j.video.Frame(ctx, path, b.ContentType, at, w, h, out); err != nil {
		return classify(err)
	}
	return j.store.PutDerived(ctx, b.SHA256, kind, out)
}

// faststart makes a rendition with its moov first when an MP4's comes
// after its media data, so that a player can start without fetching the
// end of the file first.
func (j *Jobs) faststart(ctx context.Context, b media.Blob, path string) error {
	mt, _, _ := mime.ParseMediaType(b.ContentType)
	if mt != "video/mp4" && mt != "video/quicktime" && mt != "video/x-m4v" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	need, err := video.NeedsFaststart(f, b.Size)
	f.Close()
	if err != nil {
		return classify(err)
	}
	if !need {
		return nil
	}
	out := j.out(media.DerivedStream, ".mp4")
	defer os.Remove(out)
	if err := j.video.Faststart(ctx, path, out); err != nil {
		return classify(err)
	}
	return j.store.PutDerived(ctx, b.SHA256, media.DerivedStream, out)
}
