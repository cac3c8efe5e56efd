package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/testenv"
)

// fixtures is a directory of clips generated once per test binary and
// shared by the tests, which only read them.
var fixtures string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "video-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtures = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needFFmpeg skips t (fails it in CI) without ffmpeg and ffprobe.
func needFFmpeg(t testing.TB) {
	t.Helper()
	testenv.LookPath(t, "ffmpeg")
	testenv.LookPath(t, "ffprobe")
}

type generated struct {
	once sync.Once
	err  error
}

var clips sync.Map // name -> *generated

// clip returns the path of fixture name, made the first time by running
// ffmpeg with args and the path appended.
func clip(t testing.TB, name string, args ...string) string {
	t.Helper()
	needFFmpeg(t)
	path := filepath.Join(fixtures, name)
	v, _ := clips.LoadOrStore(name, new(generated))
	g := v.(*generated)
	g.once.Do(func() { g.err = ffmpeg(append(args, path)...) })
	if g.err != nil {
		t.Fatalf("making %s: %v", name, g.err)
	}
	return path
}

// ffmpeg runs the real ffmpeg, for making fixtures and for looking at
// results, with none of the package's defences.
func ffmpeg(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func ffmpegOutput(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-hide_banner", "-loglevel", "error"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

var (
	h264Once sync.Once
	h264     bool
)

// videoCodec is libx264 when Debian's ffmpeg has it, else mpeg4.
func videoCodec(t testing.TB) []string {
	needFFmpeg(t)
	h264Once.Do(func() {
		out, _ := exec.Command("ffmpeg", "-hide_banner", "-encoders").Output()
		h264 = bytes.Contains(out, []byte(" libx264 "))
	})
	if h264 {
		return []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	}
	return []string{"-c:v", "mpeg4", "-q:v", "5"}
}

func wantCodec(t testing.TB) string {
	if videoCodec(t)[1] == "libx264" {
		return "h264"
	}
	return "mpeg4"
}

// av is 3 s of 1280x720 test pattern at 25 fps with a 440 Hz tone.
func av(t testing.TB) []string {
	args := []string{"-f", "lavfi", "-i", "testsrc=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3"}
	args = append(args, videoCodec(t)...)
	return append(args, "-c:a", "aac", "-b:a", "64k")
}

// moovAtEnd is an MP4 as ffmpeg writes it by default: mdat, then moov.
func moovAtEnd(t testing.TB) string { return clip(t, "end.mp4", av(t)...) }

// moovFirst is the same clip with -movflags +faststart.
func moovFirst(t testing.TB) string {
	return clip(t, "first.mp4", "-i", moovAtEnd(t), "-c", "copy", "-movflags", "+faststart")
}

// fragmented is the clip as a fragmented MP4.
func fragmented(t testing.TB) string {
	return clip(t, "frag.mp4", "-i", moovAtEnd(t), "-c", "copy", "-movflags", "frag_keyframe+empty_moov")
}

// rotated has a display matrix that turns it upright: ffmpeg 5.1 writes
// "rotate=90" as 90 degrees counterclockwise, which is 270 clockwise.
func rotated(t testing.TB) string {
	return clip(t, "rotated.mp4", "-i", moovAtEnd(t), "-c", "copy", "-metadata:s:v", "rotate=90")
}

func pngImage(t testing.TB) string {
	return clip(t, "image.png", "-f", "lavfi", "-i", "testsrc=size=640x480", "-frames:v", "1")
}

func jpegImage(t testing.TB) string {
	return clip(t, "image.jpg", "-f", "lavfi", "-i", "testsrc=size=1024x768", "-frames:v", "1", "-pix_fmt", "yuvj420p")
}

func mp3Audio(t testing.TB) string {
	return clip(t, "audio.mp3", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libmp3lame", "-b:a", "64k")
}

// tester is what testing.T and rapid.T share.
type tester interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// reasonOf is err's Reason, failing t unless err is a bad input.
func reasonOf(t tester, err error) string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("error %v does not match ErrBadInput", err)
	}
	if strings.Contains(e.Reason, os.TempDir()) || strings.Contains(e.Reason, "file:/") {
		t.Errorf("reason %q holds a path", e.Reason)
	}
	return e.Reason
}

// decodeJPEG reads a JPEG and reports its size and how much its luma
// varies (the standard deviation of Y): a black or flat frame has ~0.
func decodeJPEG(t testing.TB, path string) (w, h int, stddev float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a JPEG: %v", path, err)
	}
	b := img.Bounds()
	var sum, sq float64
	var n float64
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			var v float64
			switch c := img.(type) {
			case *image.YCbCr:
				v = float64(c.Y[c.YOffset(x, y)])
			default:
				r, g, bl, _ := img.At(x, y).RGBA()
				v = float64(r+g+bl) / 3 / 257
			}
			sum += v
			sq += v * v
			n++
		}
	}
	mean := sum / n
	return b.Dx(), b.Dy(), math.Sqrt(max(0, sq/n-mean*mean))
}

// meanLuma is the mean Y of a JPEG's pixels.
func meanLuma(t testing.TB, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a JPEG: %v", path, err)
	}
	c, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("%s decodes to %T, want YCbCr", path, img)
	}
	b := c.Bounds()
	var sum float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			sum += float64(c.Y[c.YOffset(x, y)])
		}
	}
	return sum / float64(b.Dx()*b.Dy())
}

// entries lists dir's files.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}
