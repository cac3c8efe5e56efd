package video

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secret is another user's video, stored beside the upload: a solid
// colour that no test pattern has.
const secretRGB = 0x12ab34

// attack is an upload that names the secret, and the ffmpeg options that
// would make an undefended ffmpeg read it.
type attack struct {
	name    string
	upload  string
	naively []string // input options of the ffmpeg that falls for it
}

// attacks writes the secret blobs and the uploads that point at them into
// one directory, as in a data dir where every user's blobs are siblings.
// secret is the secret's media data, the bytes that must reach no derived
// file (its moov, like any MP4's, shares boilerplate with every file ffmpeg
// writes).
func attacks(t *testing.T) (dir string, secret []byte, list []attack) {
	t.Helper()
	needFFmpeg(t)
	dir = t.TempDir()
	color := append([]string{"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x%06x:size=320x240:rate=25", secretRGB), "-t", "2"}, videoCodec(t)...)
	ts := filepath.Join(dir, "secret.ts")
	mp4 := filepath.Join(dir, "secret.mp4")
	for from, to := range map[string]string{clip(t, "secret.ts", color...): ts, clip(t, "secret.mp4", color...): mp4} {
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(to, b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	secretMP4, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	l, err := topLevel(bytes.NewReader(secretMP4), int64(len(secretMP4)))
	if err != nil {
		t.Fatal(err)
	}
	secret = secretMP4[l.mdat.body():l.mdat.end()]

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	playlist := func(segment string) []byte {
		return []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n" + segment + "\n#EXT-X-ENDLIST\n")
	}
	list = []attack{
		{"hls playlist, absolute path", write("hls-abs.mp4", playlist(ts)), nil},
		{"hls playlist, relative path", write("hls-rel.mp4", playlist("secret.ts")), nil},
		{"hls playlist, file URL", write("hls-url.mp4", playlist("file://"+ts)), nil},
		{"concat script, relative path", write("concat-rel.mp4", []byte("ffconcat version 1.0\nfile secret.mp4\n")), nil},
		{"concat script, absolute path", write("concat-abs.mp4", []byte("ffconcat version 1.0\nfile "+mp4+"\n")), []string{"-safe", "0"}},
		{"mov with an external data reference", write("dref.mp4", drefUpload(t, secretMP4, "secret.mp4")), []string{"-enable_drefs", "1"}},
	}
	return dir, secret, list
}

// drefUpload is the secret MP4's ftyp and moov, without its media data:
// its tracks' "url " self-references are replaced by Macintosh alias
// records naming the secret's file, which ffmpeg's mov demuxer (with
// -enable_drefs 1) opens beside the upload and reads the samples from, at
// the offsets the moov gives.
func drefUpload(t *testing.T, secret []byte, name string) []byte {
	t.Helper()
	path := "/Macintosh HD/" + name
	if len(path)%2 == 1 {
		path += "\x00"
	}
	record := make([]byte, 150)
	binary.BigEndian.PutUint16(record[130:], 1)  // nlvl_from: the upload's directory
	binary.BigEndian.PutUint16(record[132:], 1)  // nlvl_to: the last element of the path
	tlv := binary.BigEndian.AppendUint16(nil, 2) // an absolute path
	tlv = binary.BigEndian.AppendUint16(tlv, uint16(len(path)))
	tlv = append(tlv, path...)
	tlv = append(tlv, 0xff, 0xff, 0, 0) // the end
	alias := bx("alis", []byte{0, 0, 0, 0}, record, tlv)

	replaced := 0
	var rewrite func(b []byte) []byte
	rewrite = func(b []byte) []byte {
		typ := string(b[4:8])
		prefix := map[string]int{"moov": 8, "trak": 8, "mdia": 8, "minf": 8, "dinf": 8, "dref": 16}[typ]
		if prefix == 0 {
			if typ == "url " {
				replaced++
				return alias
			}
			return b
		}
		out := append([]byte{}, b[:prefix]...)
		for off := prefix; off < len(b); {
			size := int(binary.BigEndian.Uint32(b[off:]))
			out = append(out, rewrite(b[off:off+size])...)
			off += size
		}
		binary.BigEndian.PutUint32(out, uint32(len(out)))
		return out
	}
	var file []byte
	for off := 0; off < len(secret); {
		size := int(binary.BigEndian.Uint32(secret[off:]))
		switch string(secret[off+4 : off+8]) {
		case "ftyp":
			file = append(file, secret[off:off+size]...)
		case "moov":
			file = append(file, rewrite(secret[off:off+size])...)
		}
		off += size
	}
	if replaced == 0 {
		t.Fatal("the secret MP4 has no url data reference to replace")
	}
	return file
}

// showsSecret reports whether a frame, as raw RGB, is the secret's colour.
func showsSecret(rgb []byte) bool {
	if len(rgb) < 3 {
		return false
	}
	want := []int{secretRGB >> 16, secretRGB >> 8 & 0xff, secretRGB & 0xff}
	var sum [3]int
	for i := 0; i+2 < len(rgb); i += 3 {
		for c := range 3 {
			sum[c] += int(rgb[i+c])
		}
	}
	n := len(rgb) / 3
	for c := range 3 {
		if d := sum[c]/n - want[c]; d < -8 || d > 8 {
			return false
		}
	}
	return true
}

// TestAttackFixturesAreReal proves that each upload of TestAttacks leaks:
// an ffmpeg without our defences, given the upload alone, makes a frame
// of the secret from it.
func TestAttackFixturesAreReal(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	_, _, list := attacks(t)
	for _, a := range list {
		t.Run(a.name, func(t *testing.T) {
			args := append(append([]string{}, a.naively...), "-i", a.upload, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
			if rgb := ffmpegOutput(t, args...); !showsSecret(rgb) {
				t.Errorf("ffmpeg %s did not show the secret (%d bytes)", strings.Join(args, " "), len(rgb))
			}
		})
	}
}

// TestAttacks gives Probe, Frame and Faststart uploads that name another
// stored blob (playlists and concat scripts saved as .mp4, an MP4 whose
// track lives in another file), sniffed as the upload handler sniffs them
// and with the lie "video/mp4" and its kin: every call fails, with a reason
// that names no path, and nothing is written, let alone a byte of the
// secret.
func TestAttacks(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	dir, secret, list := attacks(t)
	for _, a := range list {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			outDir := t.TempDir()
			sniffed := sniff(t, a.upload)
			t.Logf("sniffed as %s", sniffed)
			for _, ct := range []string{sniffed, "video/mp4", "video/quicktime", "audio/mp4", "video/webm", "application/vnd.apple.mpegurl"} {
				info, err := Probe(context.Background(), a.upload, ct)
				if err == nil {
					t.Errorf("Probe(%s) = %+v", ct, info)
				} else {
					checkAttackReason(t, err, dir)
				}
				poster := filepath.Join(outDir, "poster.jpg")
				if err := Frame(context.Background(), a.upload, ct, 0, 1280, 720, poster); err == nil {
					t.Errorf("Frame(%s) succeeded", ct)
				} else {
					checkAttackReason(t, err, dir)
				}
			}
			if err := Faststart(context.Background(), a.upload, filepath.Join(outDir, "fast.mp4")); err == nil {
				t.Error("Faststart succeeded")
			} else {
				checkAttackReason(t, err, dir)
			}
			// Nothing derived exists; were anything there, it would have to
			// hold no piece of a secret.
			names := entries(t, outDir)
			if len(names) != 0 {
				t.Errorf("derived files %v", names)
			}
			for _, name := range names {
				b, _ := os.ReadFile(filepath.Join(outDir, name))
				if sharesChunk(b, secret) {
					t.Errorf("%s holds bytes of the secret", name)
				}
				if img, err := jpeg.Decode(bytes.NewReader(b)); err == nil && showsSecret(toRGB(img)) {
					t.Errorf("%s shows the secret", name)
				}
			}
		})
	}
}

func checkAttackReason(t *testing.T, err error, dir string) {
	t.Helper()
	r := reasonOf(t, err)
	if strings.Contains(r, dir) || strings.Contains(r, "secret") {
		t.Errorf("reason %q names the secret", r)
	}
}

func toRGB(img image.Image) []byte {
	var rgb []byte
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			rgb = append(rgb, byte(r>>8), byte(g>>8), byte(bl>>8))
		}
	}
	return rgb
}

// sharesChunk reports whether a holds any 32-byte run of b.
func sharesChunk(a, b []byte) bool {
	for off := 0; off+32 <= len(b); off += 16 {
		if bytes.Contains(a, b[off:off+32]) {
			return true
		}
	}
	return false
}
