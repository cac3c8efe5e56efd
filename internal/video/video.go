// Package video inspects and transforms uploaded media with ffprobe and
// ffmpeg, treating every input as hostile.
//
// An upload is attacker-controlled input to ffmpeg, which picks a demuxer
// by what a file contains, not by its name: an HLS playlist or an ffconcat
// script saved as upload.mp4 is read as a playlist, and opens the files it
// names, such as another user's blob on the same disk, into our poster.
// So every run here
//
//   - names ONE demuxer for the sniffed content type with -f, and allows
//     only that one with -format_whitelist, so no playlist, concat script
//     or image pattern is ever parsed and no demuxer can open another
//     (-safe and -allowed_extensions, the hls and concat demuxers' own
//     guards, are never in play);
//   - allows only the file protocol (-protocol_whitelist file) and reads
//     only the blob path it is given, as "file:<absolute path>";
//   - keeps the mov demuxer's external data references off
//     (-enable_drefs 0, -use_absolute_path 0, the defaults said out loud),
//     and before any run refuses in Go an MP4 or QuickTime file whose
//     tracks say their samples live in another file, or that is cut short;
//   - reads images with their pipe demuxers (jpeg_pipe, png_pipe, ...),
//     which take no file name pattern;
//   - runs under exec.CommandContext with a wall-clock cap, in its own
//     process group that is killed whole on cancel, with RLIMIT_AS,
//     RLIMIT_CPU and RLIMIT_FSIZE (prlimit, or sh's ulimit), no core
//     dumps, niceness 10, -nostdin (ffprobe has no such flag; both get
//     /dev/null), an environment of our own and a fresh empty working
//     directory;
//   - writes to a temp file beside the output, fsynced and renamed into
//     place only when the run succeeded and the result checks out.
//
// A file we cannot or will not read fails with an *Error whose Reason can be
// shown to the uploader and which matches ErrBadInput: retrying it will not
// help. A run that goes past its wall-clock cap (Runner.Timeout) matches
// ErrTimeout instead: the machine may just have been busy, so a later try
// may succeed. One that uses up its CPU-time limit is ErrBadInput: CPU time
// hardly depends on the load, so that file needs more work than any file
// gets.
package video

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mediagate/mediagate/internal/errs"
)

// ErrBadInput is what every error caused by the file itself matches: not
// media we read, damaged, hostile, or too big to process. It wraps
// errs.ErrInvalid.
var ErrBadInput = fmt.Errorf("%w: unreadable media", errs.ErrInvalid)

// ErrTimeout is what a run matches that went past its wall-clock cap, which
// a busy machine can cause as well as a hostile file: trying again later is
// sound, a few times. It wraps errs.ErrUnavailable.
var ErrTimeout = fmt.Errorf("%w: media processing took too long", errs.ErrUnavailable)

// DefaultTimeout is the wall-clock cap of one ffprobe or ffmpeg run when
// Runner.Timeout is zero.
const DefaultTimeout = 2 * time.Minute

// Runner runs Probe, Frame and Faststart under its limits. The zero Runner
// has the defaults; the package's functions of the same names use it.
type Runner struct {
	// Timeout is the wall-clock cap of one run (a faststart remux gets a
	// second more per 4 MiB of input); zero means DefaultTimeout. The
	// CPU-time limits grow with it when it is raised above their defaults.
	Timeout time.Duration
}

func (r Runner) wall() time.Duration {
	if r.Timeout <= 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

// cpu is the CPU-time limit of a run whose default is def.
func (r Runner) cpu(def time.Duration) time.Duration { return max(def, r.Timeout) }

// Probe is Runner{}.Probe.
func Probe(ctx context.Context, path, contentType string) (Info, error) {
	return Runner{}.Probe(ctx, path, contentType)
}

// Frame is Runner{}.Frame.
func Frame(ctx context.Context, path, contentType string, at float64, maxW, maxH int, out string) error {
	return Runner{}.Frame(ctx, path, contentType, at, maxW, maxH, out)
}

// Faststart is Runner{}.Faststart.
func Faststart(ctx context.Context, in, out string) error {
	return Runner{}.Faststart(ctx, in, out)
}

// Error is a failed Probe, Frame or Faststart. Reason is for the user who
// uploaded the file and never holds a path; Error() adds Detail, with the
// command and everything it printed, for logs.
type Error struct {
	Op     string // "probe", "frame" or "faststart"
	Reason string // such as "the file is cut short or damaged: moov atom not found"
	Detail string
	Err    error // ErrBadInput, a ctx error, or what failed on our side
}

func (e *Error) Error() string {
	s := "video: " + e.Op + ": " + e.Reason
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func badInput(op, reason, detail string) *Error {
	return &Error{Op: op, Reason: reason, Detail: detail, Err: ErrBadInput}
}

// Info is what a probe found.
type Info struct {
	Kind          string  // "video", "audio" or "image"; a failed Probe returns the zero Info, Kind ""
	Duration      float64 // seconds; 0 for images and for files that do not say
	Width, Height int     // display size, after sample aspect ratio and rotation
	Rotation      int     // clockwise degrees to turn the stored picture for display: 0, 90, 180 or 270
	VideoCodec    string  // such as "h264"; for images "mjpeg", "png"...
	AudioCodec    string  // such as "aac"
	Bitrate       int64   // bits/s, 0 if unknown
	Format        string  // the one demuxer we allowed, such as "mov", "matroska", "mp3", "jpeg_pipe"
}

// format is how we read one content type.
type format struct {
	kind    string   // what the content type says: "video", "audio" or "image"
	demuxer string   // the one demuxer allowed
	opts    []string // its options that matter for safety
}

var movOpts = []string{"-enable_drefs", "0", "-use_absolute_path", "0"}

// formats maps the types mimetype sniffs to their demuxer. Anything else is
// not read at all.
var formats = map[string]format{
	"video/mp4":        {"video", "mov", movOpts},
	"video/quicktime":  {"video", "mov", movOpts},
	"video/x-m4v":      {"video", "mov", movOpts},
	"video/3gpp":       {"video", "mov", movOpts},
	"video/3gpp2":      {"video", "mov", movOpts},
	"audio/mp4":        {"audio", "mov", movOpts},
	"audio/x-m4a":      {"audio", "mov", movOpts},
	"audio/x-mp4a":     {"audio", "mov", movOpts},
	"video/webm":       {"video", "matroska", nil},
	"video/matroska":   {"video", "matroska", nil},
	"video/x-matroska": {"video", "matroska", nil},
	"audio/webm":       {"audio", "matroska", nil},
	"audio/x-matroska": {"audio", "matroska", nil},
	"video/ogg":        {"video", "ogg", nil},
	"audio/ogg":        {"audio", "ogg", nil},
	"audio/mpeg":       {"audio", "mp3", nil},
	"audio/mp3":        {"audio", "mp3", nil},
	"audio/wav":        {"audio", "wav", nil},
	"audio/x-wav":      {"audio", "wav", nil},
	"audio/wave":       {"audio", "wav", nil},
	"audio/flac":       {"audio", "flac", nil},
	"audio/aac":        {"audio", "aac", nil},
	"image/jpeg":       {"image", "jpeg_pipe", nil},
	"image/png":        {"image", "png_pipe", nil},
	"image/gif":        {"image", "gif", nil},
	"image/webp":       {"image", "webp_pipe", nil},
}

var movFormat = formats["video/mp4"]

func lookup(contentType string) (format, bool) {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return format{}, false
	}
	f, ok := formats[t]
	return f, ok
}

// input is the argv that opens path with f and nothing else.
func (f format) input(path string) []string {
	args := []string{"-f", f.demuxer, "-format_whitelist", f.demuxer, "-protocol_whitelist", "file"}
	args = append(args, f.opts...)
	return append(args, "-i", "file:"+path)
}

func (f format) unreadable() string {
	if f.kind == "image" {
		return "not an image file we can read"
	}
	return "not a video or audio file we can read"
}

const (
	probeCPU  = time.Minute
	frameCPU  = 2 * time.Minute
	maxPixels = 100_000_000 // a bigger picture is a decompression bomb more often than a photo
)

// Probe reads what path holds, trusting contentType (what mimetype sniffed)
// only to choose the one demuxer that may read it. A content type we do not
// read, or a file its demuxer rejects, is an *Error matching ErrBadInput.
func (r Runner) Probe(ctx context.Context, path, contentType string) (Info, error) {
	f, ok := lookup(contentType)
	if !ok {
		return Info{}, badInput("probe", "not a video, audio or image file we can read", "content type "+contentType)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return Info{}, &Error{Op: "probe", Reason: "the file could not be processed", Detail: err.Error(), Err: err}
	}
	if f.demuxer == "mov" {
		if _, err := checkMov("probe", path); err != nil {
			return Info{}, err
		}
	}
	p, err := r.probe(ctx, f, path)
	if err != nil {
		return Info{}, toError(ctx, "probe", err, f.unreadable())
	}
	// A stream counts when it has a size or a sample rate: a demuxer
	// handed garbage may still report a stream, with nothing in it.
	info := Info{Format: f.demuxer}
	video, audio := -1, -1
	for i, s := range p.Streams {
		switch {
		case s.CodecType == "video" && s.Width > 0 && s.Height > 0 && (s.Disposition.AttachedPic == 0 || f.kind == "image"):
			if video < 0 {
				video = i
			}
		case s.CodecType == "audio" && s.SampleRate != "" && s.SampleRate != "0" && s.Channels > 0 && f.kind != "image":
			if audio < 0 {
				audio = i
			}
		}
	}
	switch {
	case video >= 0 && f.kind == "image":
		info.Kind = "image"
	case video >= 0:
		info.Kind = "video"
	case audio >= 0:
		info.Kind = "audio"
	default:
		return Info{}, badInput("probe", f.unreadable(), "streams: "+p.describe())
	}
	if audio >= 0 {
		info.AudioCodec = p.Streams[audio].CodecName
	}
	if video >= 0 {
		s := p.Streams[video]
		info.VideoCodec = s.CodecName
		if int64(s.Width)*int64(s.Height) > maxPixels {
			return Info{}, badInput("probe", fmt.Sprintf("the picture is too large (%dx%d)", s.Width, s.Height), "")
		}
		info.Width, info.Height = s.Width, s.Height
		if n, d, ok := ratio(s.SampleAspectRatio); ok && n != d {
			info.Width = int(math.Round(float64(s.Width) * float64(n) / float64(d)))
		}
		info.Rotation = s.rotation()
		if info.Rotation == 90 || info.Rotation == 270 {
			info.Width, info.Height = info.Height, info.Width
		}
	}
	if info.Kind != "image" {
		if d, err := strconv.ParseFloat(p.Format.Duration, 64); err == nil && d > 0 && !math.IsInf(d, 0) {
			info.Duration = d
		}
	}
	if b, err := strconv.ParseInt(p.Format.BitRate, 10, 64); err == nil && b > 0 {
		info.Bitrate = b
	}
	return info, nil
}

// probed is the part of ffprobe's JSON we read; -show_entries keeps the
// rest (tags, which the uploader wrote) out of it.
type probed struct {
	Streams []probedStream `json:"streams"`
	Format  struct {
		Duration string `json:"duration"`
		BitRate  string `json:"bit_rate"`
	} `json:"format"`
}

type probedStream struct {
	Index             int    `json:"index"`
	CodecType         string `json:"codec_type"`
	CodecName         string `json:"codec_name"`
	Width             int    `json:"width"`
	Height            int    `json:"height"`
	SampleAspectRatio string `json:"sample_aspect_ratio"`
	SampleRate        string `json:"sample_rate"`
	Channels          int    `json:"channels"`
	Disposition       struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
	SideData []struct {
		Type     string  `json:"side_data_type"`
		Rotation float64 `json:"rotation"`
	} `json:"side_data_list"`
}

func (r Runner) probe(ctx context.Context, f format, path string) (*probed, error) {
	args := []string{"-hide_banner", "-loglevel", "error"}
	args = append(args, f.input(path)...)
	args = append(args,
		"-show_entries", "format=duration,bit_rate"+
			":stream=index,codec_type,codec_name,width,height,sample_aspect_ratio,sample_rate,channels"+
			":stream_disposition=attached_pic:stream_side_data=side_data_type,rotation",
		"-of", "json")
	out, err := tool{
		prog:  "ffprobe",
		args:  args,
		lim:   limits{wall: r.wall(), cpu: r.cpu(probeCPU), fsize: 1 << 20},
		names: map[string]string{path: "the file"},
	}.run(ctx)
	if err != nil {
		return nil, err
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("video: ffprobe's output: %w", err)
	}
	return &p, nil
}

func (p *probed) describe() string {
	var b strings.Builder
	for _, s := range p.Streams {
		fmt.Fprintf(&b, "#%d %s %s %dx%d %sHz %dch; ", s.Index, s.CodecType, s.CodecName, s.Width, s.Height, s.SampleRate, s.Channels)
	}
	return b.String()
}

// rotation is the display matrix's rotation as ffmpeg's autorotate applies
// it: ffprobe reports counterclockwise degrees, we say clockwise, and an
// angle that is not a multiple of 90 (which ffmpeg leaves alone) is 0.
func (s probedStream) rotation() int {
	for _, sd := range s.SideData {
		if sd.Type != "Display Matrix" {
			continue
		}
		cw := math.Mod(-sd.Rotation, 360)
		if cw < 0 {
			cw += 360
		}
		q := math.Round(cw / 90)
		if math.Abs(cw-q*90) > 2 {
			return 0
		}
		return int(q*90) % 360
	}
	return 0
}

func ratio(s string) (n, d int, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	return n, d, err1 == nil && err2 == nil && n > 0 && d > 0
}

// Frame writes to out a JPEG that fits within maxW x maxH, keeping the
// display aspect ratio and never enlarging: for a video the most
// representative frame (ffmpeg's thumbnail filter) of the 50 from at
// seconds on (10% of the duration makes a good poster; from the start if at
// is past the end), for an audio file its cover picture, for an image the
// image. Posters are 1280x720, grid thumbnails 320x180.
func (r Runner) Frame(ctx context.Context, path, contentType string, at float64, maxW, maxH int, out string) error {
	return r.picture(ctx, path, contentType, at, maxW, maxH, out, true)
}

// FrameAt is Frame with, for a video, the first frame that starts at or
// after at seconds (the video's first when at is past the end): a frame's
// own timestamp, as a player reports the frame it shows, names it exactly.
func (r Runner) FrameAt(ctx context.Context, path, contentType string, at float64, maxW, maxH int, out string) error {
	return r.picture(ctx, path, contentType, at, maxW, maxH, out, false)
}

// picture is Frame (pick true: the most representative of 50 frames) and
// FrameAt.
func (r Runner) picture(ctx context.Context, path, contentType string, at float64, maxW, maxH int, out string, pick bool) error {
	f, ok := lookup(contentType)
	if !ok {
		return badInput("frame", "not a video, audio or image file we can read", "content type "+contentType)
	}
	if maxW < 1 || maxH < 1 || maxW > 8192 || maxH > 8192 {
		return &Error{Op: "frame", Reason: "the file could not be processed", Detail: fmt.Sprintf("bad size %dx%d", maxW, maxH), Err: errors.New("video: bad frame size")}
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return &Error{Op: "frame", Reason: "the file could not be processed", Detail: err.Error(), Err: err}
	}
	if f.demuxer == "mov" {
		if _, err := checkMov("frame", path); err != nil {
			return err
		}
	}
	if math.IsNaN(at) || at < 0 || f.kind != "video" {
		at = 0
	}
	o, err := newOutput(out)
	if err != nil {
		return &Error{Op: "frame", Reason: "the picture could not be saved", Detail: err.Error(), Err: err}
	}
	for {
		err = r.frame(ctx, f, path, at, maxW, maxH, o.tmp, pick)
		var re *runError
		if errors.As(err, &re) && strings.Contains(re.stderr, "matches no streams") && ctx.Err() == nil {
			o.abort()
			return badInput("frame", "there is no picture in this file", re.Error())
		}
		if errors.As(err, &re) && strings.Contains(re.stderr, "max pixel count") && ctx.Err() == nil {
			o.abort()
			return badInput("frame", "the picture is too large", re.Error())
		}
		if err != nil {
			o.abort()
			return toError(ctx, "frame", err, "the file is cut short or damaged")
		}
		n, err := o.size()
		if err != nil {
			o.abort()
			return &Error{Op: "frame", Reason: "the picture could not be saved", Detail: err.Error(), Err: err}
		}
		if n > 0 {
			break
		}
		if at == 0 {
			o.abort()
			return badInput("frame", "there is no picture in this file", "")
		}
		at = 0 // past the end: seeking found nothing
	}
	if err := checkJPEG(o.tmp, maxW, maxH); err != nil {
		o.abort()
		return &Error{Op: "frame", Reason: "the picture could not be made", Detail: err.Error(), Err: err}
	}
	if err := o.commit(); err != nil {
		return &Error{Op: "frame", Reason: "the picture could not be saved", Detail: err.Error(), Err: err}
	}
	return nil
}

func (r Runner) frame(ctx context.Context, f format, path string, at float64, maxW, maxH int, tmp string, pick bool) error {
	// Four decoder threads whatever the machine, so that RLIMIT_AS means
	// the same on 2 cores and on 64.
	// No frame of more than maxPixels is decoded (a picture is made of
	// images and of video that Probe never saw: a poster chosen in the API).
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "4", "-max_pixels", strconv.Itoa(maxPixels)}
	if at > 0 {
		args = append(args, "-ss", strconv.FormatFloat(at, 'f', 3, 64))
	}
	args = append(args, f.input(path)...)
	// The stored picture in its display shape (ffmpeg applies the rotation
	// itself), then fit into the box. The thumbnail filter holds the 50
	// frames it picks from: fitted first, 50 frames of 8K video take some
	// 200 MB instead of 5 GB (over RLIMIT_AS).
	fit := fmt.Sprintf("scale=w='iw*sar':h=ih,setsar=1,scale=w='min(%d,iw)':h='min(%d,ih)':force_original_aspect_ratio=decrease", maxW, maxH)
	stream := "0:v:0" // an image, or an audio file's cover
	if f.kind == "video" {
		stream = "0:V:0" // not a cover picture
		if pick {
			fit += ",thumbnail=n=50"
		}
	}
	args = append(args,
		"-map", stream, "-map_metadata", "-1",
		"-vf", fit, "-frames:v", "1",
		"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "3",
		"-f", "mjpeg", "-y", "file:"+tmp)
	_, err := tool{
		prog:  "ffmpeg",
		args:  args,
		lim:   limits{wall: r.wall(), cpu: r.cpu(frameCPU), fsize: 32 << 20},
		names: map[string]string{path: "the file", tmp: "the picture"},
	}.run(ctx)
	return err
}

func checkJPEG(path string, maxW, maxH int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := jpeg.DecodeConfig(f)
	if err != nil {
		return fmt.Errorf("ffmpeg's JPEG: %w", err)
	}
	if c.Width < 1 || c.Height < 1 || c.Width > maxW || c.Height > maxH {
		return fmt.Errorf("ffmpeg's JPEG is %dx%d, not within %dx%d", c.Width, c.Height, maxW, maxH)
	}
	return nil
}

// mp4Codecs are the codecs that Faststart copies: those the mp4 muxer holds
// (movenc's codec_mp4_tags) that anyone plays.
var mp4Codecs = map[string]bool{
	"h264": true, "hevc": true, "av1": true, "vp9": true, "mpeg4": true,
	"mpeg2video": true, "mpeg1video": true, "mjpeg": true, "png": true,
	"aac": true, "mp3": true, "mp2": true, "ac3": true, "eac3": true,
	"opus": true, "flac": true, "alac": true,
	"mov_text": true,
}

// Faststart writes to out an MP4 remux of the MP4 or QuickTime file in,
// lossless (-c copy) and with the moov box first, so that a player starts
// before it has the whole file. It keeps every video, audio and timed-text
// stream the mp4 muxer holds (see mp4Codecs) and drops the rest, such as
// timecode and data tracks or PCM audio from a .mov.
func (r Runner) Faststart(ctx context.Context, in, out string) error {
	in, err := filepath.Abs(in)
	if err != nil {
		return &Error{Op: "faststart", Reason: "the file could not be processed", Detail: err.Error(), Err: err}
	}
	size, err := checkMov("faststart", in)
	if err != nil {
		return err
	}
	p, err := r.probe(ctx, movFormat, in)
	if err != nil {
		return toError(ctx, "faststart", err, movFormat.unreadable())
	}
	var maps []string
	for _, s := range p.Streams {
		if mp4Codecs[s.CodecName] && (s.CodecType == "video" || s.CodecType == "audio" || s.CodecType == "subtitle") {
			maps = append(maps, "-map", "0:"+strconv.Itoa(s.Index))
		}
	}
	if maps == nil {
		return badInput("faststart", "nothing in this file can be kept in an MP4", "streams: "+p.describe())
	}
	o, err := newOutput(out)
	if err != nil {
		return &Error{Op: "faststart", Reason: "the result could not be saved", Detail: err.Error(), Err: err}
	}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error"}
	args = append(args, movFormat.input(in)...)
	args = append(args, maps...)
	args = append(args, "-c", "copy", "-map_metadata", "0", "-movflags", "+faststart", "-f", "mp4", "-y", "file:"+o.tmp)
	// A remux is bound by the disk: the cap (2 minutes by default) and a
	// second per 4 MiB (remuxRate) is generous. The output is the input and
	// a new moov box.
	extra := time.Duration(size/remuxRate) * time.Second
	_, err = tool{
		prog:  "ffmpeg",
		args:  args,
		lim:   limits{wall: r.wall() + extra, cpu: r.cpu(DefaultTimeout) + extra, fsize: size + size/8 + 64<<20},
		names: map[string]string{in: "the file", o.tmp: "the result"},
	}.run(ctx)
	if err != nil {
		o.abort()
		return toError(ctx, "faststart", err, "the file is cut short or damaged")
	}
	if err := checkFaststart(o.tmp); err != nil {
		o.abort()
		return &Error{Op: "faststart", Reason: "the result could not be made", Detail: err.Error(), Err: err}
	}
	if err := o.commit(); err != nil {
		return &Error{Op: "faststart", Reason: "the result could not be saved", Detail: err.Error(), Err: err}
	}
	return nil
}

func checkFaststart(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	needs, err := NeedsFaststart(f, fi.Size())
	if err != nil {
		return fmt.Errorf("ffmpeg's MP4: %w", err)
	}
	if needs {
		return errors.New("ffmpeg's MP4 still has its moov box after mdat")
	}
	if l, _ := topLevel(f, fi.Size()); l.mdat.size <= l.mdat.hdr {
		return errors.New("ffmpeg's MP4 has no media data")
	}
	return nil
}
