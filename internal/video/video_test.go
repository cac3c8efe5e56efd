package video

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gabriel-vasile/mimetype"

	"github.com/mediagate/mediagate/internal/errs"
)

var notReadable = regexp.MustCompile(`^not (a video, audio or image|a video or audio|an image) file we can read`)

func sniff(t testing.TB, path string) string {
	t.Helper()
	mt, err := mimetype.DetectFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mt.String()
}

func TestProbe(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	codec := wantCodec(t)
	webm := clip(t, "clip.webm", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
		"-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k", "-c:a", "libopus")
	anamorphic := clip(t, "anamorphic.mp4", append([]string{"-f", "lavfi", "-i", "testsrc=size=720x576:rate=25", "-t", "1", "-vf", "setsar=16/15"}, videoCodec(t)...)...)
	m4a := clip(t, "audio.m4a", "-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac")
	flac := clip(t, "audio.flac", "-f", "lavfi", "-i", "sine=duration=1")
	wav := clip(t, "audio.wav", "-f", "lavfi", "-i", "sine=duration=1")
	ogg := clip(t, "audio.ogg", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libvorbis")
	gif := clip(t, "image.gif", "-f", "lavfi", "-i", "testsrc=size=200x100", "-frames:v", "1")
	for _, tc := range []struct {
		name string
		path string
		want Info
	}{
		{"mp4, moov at the end", moovAtEnd(t), Info{Kind: "video", Duration: 3, Width: 1280, Height: 720, VideoCodec: codec, AudioCodec: "aac", Format: "mov"}},
		{"mp4, faststart", moovFirst(t), Info{Kind: "video", Duration: 3, Width: 1280, Height: 720, VideoCodec: codec, AudioCodec: "aac", Format: "mov"}},
		{"mp4, fragmented", fragmented(t), Info{Kind: "video", Duration: 3, Width: 1280, Height: 720, VideoCodec: codec, AudioCodec: "aac", Format: "mov"}},
		{"rotated", rotated(t), Info{Kind: "video", Duration: 3, Width: 720, Height: 1280, Rotation: 270, VideoCodec: codec, AudioCodec: "aac", Format: "mov"}},
		{"anamorphic PAL widescreen", anamorphic, Info{Kind: "video", Duration: 1, Width: 768, Height: 576, VideoCodec: codec, Format: "mov"}},
		{"webm", webm, Info{Kind: "video", Duration: 1, Width: 320, Height: 240, VideoCodec: "vp8", AudioCodec: "opus", Format: "matroska"}},
		{"mp3", mp3Audio(t), Info{Kind: "audio", Duration: 2, AudioCodec: "mp3", Format: "mp3"}},
		{"m4a", m4a, Info{Kind: "audio", Duration: 2, AudioCodec: "aac", Format: "mov"}},
		{"flac", flac, Info{Kind: "audio", Duration: 1, AudioCodec: "flac", Format: "flac"}},
		{"wav", wav, Info{Kind: "audio", Duration: 1, AudioCodec: "pcm_s16le", Format: "wav"}},
		{"ogg", ogg, Info{Kind: "audio", Duration: 1, AudioCodec: "vorbis", Format: "ogg"}},
		{"png", pngImage(t), Info{Kind: "image", Width: 640, Height: 480, VideoCodec: "png", Format: "png_pipe"}},
		{"jpeg", jpegImage(t), Info{Kind: "image", Width: 1024, Height: 768, VideoCodec: "mjpeg", Format: "jpeg_pipe"}},
		{"gif", gif, Info{Kind: "image", Width: 200, Height: 100, VideoCodec: "gif", Format: "gif"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct := sniff(t, tc.path)
			got, err := Probe(context.Background(), tc.path, ct)
			if err != nil {
				t.Fatalf("Probe(%s): %v", ct, err)
			}
			if math.Abs(got.Duration-tc.want.Duration) > 0.1 {
				t.Errorf("duration %v, want %v", got.Duration, tc.want.Duration)
			}
			if got.Kind != "image" && got.Bitrate <= 0 {
				t.Errorf("bitrate %d", got.Bitrate)
			}
			got.Duration, got.Bitrate, tc.want.Duration = 0, 0, 0
			if got != tc.want {
				t.Errorf("Probe(%s)\n = %+v\nwant %+v", ct, got, tc.want)
			}
		})
	}
}

func TestFrame(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct {
		name         string
		path         string
		at           float64
		maxW, maxH   int
		wantW, wantH int
	}{
		{"poster", moovAtEnd(t), 0.3, 1280, 720, 1280, 720},
		{"grid thumbnail", moovAtEnd(t), 0.3, 320, 180, 320, 180},
		{"from a faststart file", moovFirst(t), 1, 320, 180, 320, 180},
		{"from a fragmented file", fragmented(t), 1, 320, 180, 320, 180},
		{"past the end starts from 0", moovAtEnd(t), 60, 320, 180, 320, 180},
		{"rotated stands upright", rotated(t), 0.3, 320, 180, 101, 180},
		{"never enlarged", pngImage(t), 0, 1280, 720, 640, 480},
		{"image", jpegImage(t), 0, 320, 180, 240, 180},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "poster.jpg")
			if err := Frame(context.Background(), tc.path, sniff(t, tc.path), tc.at, tc.maxW, tc.maxH, out); err != nil {
				t.Fatalf("Frame: %v", err)
			}
			w, h, stddev := decodeJPEG(t, out)
			if w != tc.wantW || h != tc.wantH {
				t.Errorf("frame is %dx%d, want %dx%d", w, h, tc.wantW, tc.wantH)
			}
			if stddev < 20 {
				t.Errorf("frame is flat: luma varies by %.1f", stddev)
			}
			if names := entries(t, dir); len(names) != 1 {
				t.Errorf("dir holds %v, want only poster.jpg", names)
			}
		})
	}

	t.Run("an audio file without a cover has no picture", func(t *testing.T) {
		dir := t.TempDir()
		err := Frame(context.Background(), mp3Audio(t), "audio/mpeg", 0, 320, 180, filepath.Join(dir, "x.jpg"))
		if err == nil {
			t.Fatal("Frame succeeded")
		}
		if r := reasonOf(t, err); r != "there is no picture in this file" {
			t.Errorf("reason %q", r)
		}
		if names := entries(t, dir); len(names) != 0 {
			t.Errorf("left %v", names)
		}
	})
}

// TestFrameAt takes single frames of a clip whose frame N is grey level
// 8N (10 frames a second): FrameAt gives the first frame that starts at or
// after the time asked (a frame's own timestamp names it exactly), where
// Frame would look for a representative one further on.
func TestFrameAt(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	ramp := clip(t, "ramp.mp4", append([]string{"-f", "lavfi", "-i", "color=c=black:s=160x120:r=10:d=3",
		"-vf", "geq=lum='N*8':cb=128:cr=128"}, videoCodec(t)...)...)
	for _, tc := range []struct {
		at    float64
		frame int
	}{{0.5, 5}, {1.5, 15}, {1.54, 16}, {2.9, 29}, {60, 0}} {
		t.Run(strconv.FormatFloat(tc.at, 'f', -1, 64), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "poster.jpg")
			if err := (Runner{}).FrameAt(context.Background(), ramp, "video/mp4", tc.at, 320, 180, out); err != nil {
				t.Fatalf("FrameAt: %v", err)
			}
			// The clip's levels are video range (16-235), the JPEG's full range.
			want := max(0, float64(tc.frame*8-16)*255/219)
			if got := meanLuma(t, out); math.Abs(got-want) > 4 {
				t.Errorf("the frame at %v s has mean luma %.1f, want %.1f (frame %d; its neighbours are 9 apart)", tc.at, got, want, tc.frame)
			}
		})
	}
}

func TestFaststart(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	in := moovAtEnd(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "fast.mp4")
	start := time.Now()
	if err := Faststart(context.Background(), in, out); err != nil {
		t.Fatalf("Faststart: %v", err)
	}
	t.Logf("Faststart took %v", time.Since(start))
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if needs, err := NeedsFaststart(f, fi.Size()); err != nil || needs {
		t.Fatalf("NeedsFaststart(result) = %v, %v", needs, err)
	}
	l, _ := topLevel(f, fi.Size())
	if l.moov.start > l.mdat.start {
		t.Errorf("moov at %d, mdat at %d", l.moov.start, l.mdat.start)
	}
	before, err := Probe(context.Background(), in, "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	after, err := Probe(context.Background(), out, sniff(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(before.Duration-after.Duration) > 0.05 {
		t.Errorf("duration %v became %v", before.Duration, after.Duration)
	}
	before.Duration, after.Duration, before.Bitrate, after.Bitrate = 0, 0, 0, 0
	if before != after {
		t.Errorf("Probe: %+v became %+v", before, after)
	}
	// Lossless: every packet of every stream is the same.
	hashes := func(path string) []byte {
		return ffmpegOutput(t, "-i", path, "-map", "0", "-c", "copy", "-f", "framemd5", "-")
	}
	a, b := hashes(in), hashes(out)
	if !bytes.Equal(a, b) || bytes.Count(a, []byte("\n")) < 150 {
		t.Errorf("packets differ:\n%s\nvs\n%s", a, b)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("dir holds %v", names)
	}

	t.Run("keeps what mp4 holds and drops what it cannot", func(t *testing.T) {
		mov := clip(t, "pcm.mov", append(append([]string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine", "-t", "1"},
			videoCodec(t)...), "-map", "0", "-map", "1", "-map", "1", "-c:a:0", "aac", "-c:a:1", "pcm_s16le")...)
		out := filepath.Join(t.TempDir(), "fast.mp4")
		if err := Faststart(context.Background(), mov, out); err != nil {
			t.Fatalf("Faststart: %v", err)
		}
		p, err := Runner{}.probe(context.Background(), movFormat, out)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.describe(); !strings.Contains(got, "video") || !strings.Contains(got, "audio aac") || strings.Contains(got, "pcm") {
			t.Errorf("streams %s, want video and aac, no pcm", got)
		}
	})
}

// TestTruncated cuts files in half. Both layouts are refused before ffmpeg
// sees them: a video cut short would stop playing half way, and the box
// walk knows it is cut short for certain, even when its moov is whole and
// ffmpeg would still find a frame in the first half.
func TestTruncated(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		path string
	}{
		{"moov at the end", moovAtEnd(t)},
		{"faststart", moovFirst(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			in := filepath.Join(dir, "cut.mp4")
			if err := os.WriteFile(in, data[:len(data)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			outDir := t.TempDir()
			ct := sniff(t, in)
			if ct != "video/mp4" {
				t.Fatalf("half an MP4 sniffs as %s", ct)
			}
			_, perr := Probe(context.Background(), in, ct)
			ferr := Frame(context.Background(), in, ct, 0.3, 320, 180, filepath.Join(outDir, "poster.jpg"))
			serr := Faststart(context.Background(), in, filepath.Join(outDir, "fast.mp4"))
			for name, err := range map[string]error{"Probe": perr, "Frame": ferr, "Faststart": serr} {
				if err == nil {
					t.Errorf("%s succeeded", name)
					continue
				}
				if r := reasonOf(t, err); !strings.HasPrefix(r, "the file is cut short or damaged") {
					t.Errorf("%s: reason %q", name, r)
				}
			}
			if names := entries(t, outDir); len(names) != 0 {
				t.Errorf("left %v", names)
			}
			f, _ := os.Open(in)
			defer f.Close()
			if _, err := NeedsFaststart(f, int64(len(data)/2)); err == nil {
				t.Error("NeedsFaststart succeeded")
			}
		})
	}

	t.Run("damage ffmpeg finds", func(t *testing.T) {
		// A WebM is not walked in Go: cut, ffmpeg reads what is there or
		// says why not.
		webm := clip(t, "clip.webm", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k", "-c:a", "libopus")
		data, _ := os.ReadFile(webm)
		in := filepath.Join(t.TempDir(), "cut.webm")
		os.WriteFile(in, data[:200], 0o644)
		_, err := Probe(context.Background(), in, "video/webm")
		if err == nil {
			t.Fatal("Probe succeeded")
		}
		if r := reasonOf(t, err); !strings.HasPrefix(r, "not a video or audio file we can read: ") {
			t.Errorf("reason %q", r)
		}
		t.Logf("reason: %s", reasonOf(t, err))
	})
}

func TestNotMedia(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	dir := t.TempDir()
	random := make([]byte, 64<<10)
	rand.Read(random)
	files := map[string][]byte{
		"random": random,
		"pdf":    []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"),
		"empty":  nil,
	}
	for name, data := range files {
		in := filepath.Join(dir, name)
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ct := range []string{sniff(t, in), "video/mp4", "video/webm", "audio/mpeg", "audio/flac", "image/png", "image/gif"} {
			t.Run(name+" as "+ct, func(t *testing.T) {
				t.Parallel()
				outDir := t.TempDir()
				_, perr := Probe(context.Background(), in, ct)
				ferr := Frame(context.Background(), in, ct, 0, 320, 180, filepath.Join(outDir, "x.jpg"))
				for what, err := range map[string]error{"Probe": perr, "Frame": ferr} {
					if err == nil {
						t.Errorf("%s succeeded", what)
						continue
					}
					r := reasonOf(t, err)
					t.Logf("%s: %s", what, r)
					if what == "Probe" && !notReadable.MatchString(r) {
						t.Errorf("%s: reason %q", what, r)
					}
				}
				if names := entries(t, outDir); len(names) != 0 {
					t.Errorf("left %v", names)
				}
			})
		}
	}
}

// TestCancel stops a Faststart of a long file (800 000 packets, more than
// a second of remuxing) 100 ms after its ffmpeg started: the call returns ctx's
// error, ffmpeg's process group is gone and no file is left.
func TestCancel(t *testing.T) {
	needFFmpeg(t)
	tiny := clip(t, "tiny.mp4", append([]string{"-f", "lavfi", "-i", "testsrc=size=32x32:rate=100", "-t", "10"}, videoCodec(t)...)...)
	long := clip(t, "long.mp4", "-stream_loop", "800", "-i", tiny, "-c", "copy")
	pids := make(chan int, 2)
	started = func(pid int) { pids <- pid }
	defer func() { started = nil }()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alive := make(chan error, 1)
	var remux int
	go func() {
		<-pids // ffprobe
		remux = <-pids
		time.Sleep(100 * time.Millisecond)
		alive <- syscall.Kill(-remux, 0)
		cancel()
	}()
	start := time.Now()
	err := Faststart(ctx, long, filepath.Join(dir, "fast.mp4"))
	t.Logf("Faststart returned after %v: %.200v", time.Since(start), err)
	if aerr := <-alive; aerr != nil {
		t.Fatalf("ffmpeg was not running when ctx was cancelled: %v", aerr)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Faststart: %v, want context.Canceled", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != "processing was cancelled" {
		t.Errorf("error %#v", err)
	}
	if err := syscall.Kill(-remux, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d: %v, want ESRCH", remux, err)
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// TestTimeout runs a Faststart of the long file (more than a second of
// remuxing) under a Runner whose wall-clock cap is 300 ms: the run is
// stopped, the error matches ErrTimeout (worth trying again later) and not
// ErrBadInput (final), its process group is gone and no file is left.
func TestTimeout(t *testing.T) {
	needFFmpeg(t)
	tiny := clip(t, "tiny.mp4", append([]string{"-f", "lavfi", "-i", "testsrc=size=32x32:rate=100", "-t", "10"}, videoCodec(t)...)...)
	long := clip(t, "long.mp4", "-stream_loop", "800", "-i", tiny, "-c", "copy")
	var pids []int
	started = func(pid int) { pids = append(pids, pid) }
	defer func() { started = nil }()
	// The cap alone: on a quiet machine the remux would finish within the
	// second per 4 MiB it is given beyond it.
	remuxRate = math.MaxInt64
	defer func() { remuxRate = 4 << 20 }()
	dir := t.TempDir()
	const limit = 300 * time.Millisecond
	start := time.Now()
	err := Runner{Timeout: limit}.Faststart(context.Background(), long, filepath.Join(dir, "fast.mp4"))
	took := time.Since(start)
	t.Logf("Faststart returned after %v, %d runs started: %.300v", took, len(pids), err)
	if len(pids) == 0 {
		t.Fatal("no ffprobe or ffmpeg started")
	}
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrTimeout) || errors.Is(err, ErrBadInput) {
		t.Fatalf("Faststart: %v, want an *Error matching ErrTimeout and not ErrBadInput", err)
	}
	if !errors.Is(err, errs.ErrUnavailable) || !strings.HasPrefix(e.Reason, "processing took too long") {
		t.Errorf("error %v: reason %q; want it to match errs.ErrUnavailable and say it took too long", err, e.Reason)
	}
	// The cap per run, plus the second run's and the kill's slack.
	if took > 2*limit+5*time.Second {
		t.Errorf("took %v with a cap of %v per run", took, limit)
	}
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d: %v, want ESRCH", pid, err)
		}
	}
	if names := entries(t, dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// TestSandbox looks at a running ffmpeg from outside: its limits,
// niceness, environment and working directory, with prlimit and with the
// sh fallback, and sees each limit stop a run.
func TestSandbox(t *testing.T) {
	needFFmpeg(t)
	for _, fallback := range []bool{false, true} {
		name := "prlimit"
		if fallback {
			name = "sh"
		}
		t.Run(name, func(t *testing.T) {
			noPrlimit = fallback
			defer func() { noPrlimit = false }()

			type seen struct {
				limits, environ, cwd string
				nice                 int
			}
			got := make(chan seen, 1)
			started = func(pid int) {
				// Wait for prlimit or sh to set the limits and exec ffmpeg.
				p := "/proc/" + strconv.Itoa(pid)
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					// exec switches /proc/pid/exe a moment before it lays
					// out the new environment.
					exe, _ := os.Readlink(p + "/exe")
					env, _ := os.ReadFile(p + "/environ")
					if strings.HasSuffix(exe, "/ffmpeg") && len(env) > 0 {
						break
					}
				}
				var s seen
				b, _ := os.ReadFile(p + "/limits")
				s.limits = string(b)
				b, _ = os.ReadFile(p + "/environ")
				s.environ = string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
				s.cwd, _ = os.Readlink(p + "/cwd")
				b, _ = os.ReadFile(p + "/stat")
				if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 16 {
					s.nice, _ = strconv.Atoi(f[16])
				}
				got <- s
			}
			defer func() { started = nil }()
			out := filepath.Join(t.TempDir(), "x.nut")
			// -re: a second of test pattern takes a second.
			_, err := tool{prog: "ffmpeg", args: []string{"-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=duration=1", "-f", "nut", "-y", out},
				lim: limits{wall: time.Minute, cpu: 30 * time.Second, mem: 2 << 30, fsize: 200 << 20}}.run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			s := <-got
			for _, want := range []string{
				"Max cpu time              30                   30",
				"Max file size             209715200            209715200",
				"Max core file size        0                    0",
				"Max address space         2147483648           2147483648",
			} {
				if !strings.Contains(s.limits, want) {
					t.Errorf("limits lack %q:\n%s", want, s.limits)
				}
			}
			want := "PATH=/usr/bin:/bin LC_ALL=C MALLOC_ARENA_MAX=2 "
			if fallback {
				want += "PWD=" + s.cwd + " " // sh's own
			}
			if s.environ != want {
				t.Errorf("environment %q", s.environ)
			}
			if !strings.Contains(s.cwd, "mediagate-video-") {
				t.Errorf("working directory %q", s.cwd)
			}
			if _, err := os.Stat(s.cwd); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("working directory %s left: %v", s.cwd, err)
			}
			if s.nice != niceness {
				t.Errorf("nice %d, want %d", s.nice, niceness)
			}
			started = nil

			// Each limit is final (ErrBadInput) but the wall clock, which a
			// busy machine reaches too (ErrTimeout, retried by the jobs).
			for _, lc := range []struct {
				name   string
				lim    limits
				reason string
				want   error
			}{
				{"file size", limits{fsize: 100 << 10}, "the result would be too large", ErrBadInput},
				{"cpu time", limits{cpu: time.Second, fsize: 1 << 30}, "the file takes too long to process", ErrBadInput},
				{"wall clock", limits{wall: time.Second, fsize: 1 << 30}, "processing took too long", ErrTimeout},
				{"memory", limits{mem: 64 << 20, fsize: 1 << 30}, "the file is cut short or damaged", ErrBadInput},
			} {
				t.Run(lc.name, func(t *testing.T) {
					out := filepath.Join(t.TempDir(), "x.nut")
					start := time.Now()
					_, err := tool{prog: "ffmpeg", args: []string{"-nostdin", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:duration=30", "-c:v", "ffv1", "-f", "nut", "-y", out},
						lim: lc.lim}.run(context.Background())
					if err == nil {
						t.Fatal("ran to the end")
					}
					err = toError(context.Background(), "test", err, "the file is cut short or damaged")
					var e *Error
					if !errors.As(err, &e) || !errors.Is(err, lc.want) || !strings.HasPrefix(e.Reason, lc.reason) {
						t.Errorf("error %v, want an *Error matching %v with a reason starting %q", err, lc.want, lc.reason)
					}
					if other := map[error]error{ErrBadInput: ErrTimeout, ErrTimeout: ErrBadInput}[lc.want]; errors.Is(err, other) {
						t.Errorf("error %v matches %v too", err, other)
					}
					if d := time.Since(start); d > 10*time.Second {
						t.Errorf("took %v", d)
					}
				})
			}
		})
	}
}

func TestFirstLine(t *testing.T) {
	names := map[string]string{"/data/tmp/abc": "the file", "/data/out/.video-1.tmp": "the picture"}
	for in, want := range map[string]string{
		"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c0a8b280] moov atom not found\nfile:/data/tmp/abc: Invalid data": "moov atom not found",
		"file:/data/tmp/abc: Invalid data found when processing input":                                     "Invalid data found when processing input",
		"\n\n[h264 @ 0x1] error while decoding MB 3 4 in /elsewhere/x.mp4":                                 "error while decoding MB 3 4 in a file",
		"Could not open file:/data/out/.video-1.tmp é":                                                     "Could not open the picture",
		"": "",
	} {
		if got := firstLine(in, names); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", in, got, want)
		}
	}
}
