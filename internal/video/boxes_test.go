package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// bx is a box with a 32-bit size.
func bx(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	h := binary.BigEndian.AppendUint32(nil, uint32(8+len(b)))
	return append(append(h, typ...), b...)
}

// large is a box with size 1 and a 64-bit largesize.
func large(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	h := append(binary.BigEndian.AppendUint32(nil, 1), typ...)
	h = binary.BigEndian.AppendUint64(h, uint64(16+len(b)))
	return append(h, b...)
}

// toEnd is a box with size 0: it runs to the end of the file.
func toEnd(typ string, body ...[]byte) []byte {
	return append(append([]byte{0, 0, 0, 0}, typ...), bytes.Join(body, nil)...)
}

// sized is a box header claiming size bytes, with body after it.
func sized(typ string, size uint32, body []byte) []byte {
	return append(append(binary.BigEndian.AppendUint32(nil, size), typ...), body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	ftyp    = bx("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41"))
	payload = bytes.Repeat([]byte{0xAB}, 100)
	// A moov with a trak whose data reference is its own file.
	selfRef = bx("url ", []byte{0, 0, 0, 1})
	moov    = bx("moov", bx("mvhd", make([]byte, 100)), trak(selfRef))
)

func trak(entries ...[]byte) []byte {
	dref := bx("dref", []byte{0, 0, 0, 0}, binary.BigEndian.AppendUint32(nil, uint32(len(entries))), bytes.Join(entries, nil))
	return bx("trak", bx("tkhd", make([]byte, 84)), bx("mdia", bx("mdhd", make([]byte, 24)), bx("minf", bx("dinf", dref), bx("stbl"))))
}

// strictReader fails the test on any read outside the file.
type strictReader struct {
	t *testing.T
	b []byte
}

func (r strictReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r.b)) {
		r.t.Errorf("ReadAt(%d bytes at %d) past the end of %d", len(p), off, len(r.b))
	}
	return bytes.NewReader(r.b).ReadAt(p, off)
}

func TestNeedsFaststartCrafted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		needs bool
		err   error // errTruncated, errNotMP4 or errNoMoov
	}{
		{"moov first", cat(ftyp, moov, bx("mdat", payload)), false, nil},
		{"moov last", cat(ftyp, bx("mdat", payload), moov), true, nil},
		{"free boxes around", cat(ftyp, bx("free"), bx("mdat", payload), bx("skip", payload), moov, bx("free")), true, nil},
		{"largesize mdat before moov", cat(ftyp, large("mdat", payload), moov), true, nil},
		{"largesize moov first", cat(ftyp, large("moov", moov[8:]), large("mdat", payload)), false, nil},
		{"mdat to the end after moov", cat(ftyp, moov, toEnd("mdat", payload)), false, nil},
		{"mdat to the end swallows a moov after it", cat(ftyp, toEnd("mdat", payload, moov)), false, errNoMoov},
		{"fragmented", cat(ftyp, moov, bx("moof", payload), bx("mdat", payload), bx("moof", payload), bx("mdat", payload), bx("mfra", payload)), false, nil},
		{"old QuickTime, no ftyp", cat(bx("wide"), bx("mdat", payload), moov), true, nil},
		{"moov without media data", cat(ftyp, moov), false, nil},
		{"zero padding after a complete file", cat(ftyp, bx("mdat", payload), moov, make([]byte, 40)), true, nil},
		{"a few stray bytes after a complete file", cat(ftyp, moov, bx("mdat", payload), []byte{1, 2, 3}), false, nil},

		{"empty", nil, false, errNotMP4},
		{"no moov", cat(ftyp, bx("mdat", payload)), false, errNoMoov},
		{"ftyp only", ftyp, false, errNoMoov},
		{"truncated header", cat(ftyp, []byte{0, 0, 1}), false, errTruncated},
		{"truncated largesize header", cat(ftyp, []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0}), false, errTruncated},
		{"size past the end", cat(ftyp, moov, sized("mdat", 1000, payload)), false, errTruncated},
		{"size past the end before moov", cat(ftyp, sized("mdat", 1<<31, payload), moov), false, errTruncated},
		{"largesize past the end", cat(ftyp, moov, []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0x7f, 0, 0, 0, 0, 0, 0, 0}, payload), false, errTruncated},
		{"largesize past int64", cat(ftyp, moov, []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0, 0, 0, 0, 0, 0, 0}, payload), false, errTruncated},
		{"largesize below its header", cat(ftyp, []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 8}, payload), false, errNotMP4},
		{"size below its header", cat(ftyp, sized("mdat", 4, payload)), false, errNotMP4},
		{"a cut box after a complete file", cat(ftyp, moov, bx("mdat", payload), sized("free", 500, payload)), false, errTruncated},
		{"a cut fragment", cat(ftyp, moov, bx("moof", payload), bx("mdat", payload), bx("moof", payload), sized("mdat", 500, payload)), false, errTruncated},
		{"not a box type", cat([]byte{0, 0, 0, 16, 0xde, 0xad, 0xbe, 0xef}, make([]byte, 8), moov), false, errNotMP4},
		{"unknown first box", cat(bx("abcd", payload), moov), false, errNotMP4},
		{"a playlist", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\n/blobs/secret\n"), false, errNotMP4},
		{"a PDF", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), false, errNotMP4},
		{"garbage inside a box", cat(ftyp, bx("mdat", payload), bx("moov", []byte("\xff\xff\xff\xff garbage that is no box"))), true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needs, err := NeedsFaststart(strictReader{t, tc.file}, int64(len(tc.file)))
			if tc.err == nil {
				if err != nil {
					t.Fatalf("NeedsFaststart: %v", err)
				}
				if needs != tc.needs {
					t.Errorf("NeedsFaststart = %v, want %v", needs, tc.needs)
				}
				return
			}
			if err == nil {
				t.Fatalf("NeedsFaststart = %v, want an error", needs)
			}
			reasonOf(t, err)
			if _, werr := topLevel(strictReader{t, tc.file}, int64(len(tc.file))); !errors.Is(werr, tc.err) {
				t.Errorf("topLevel: %v, want %v", werr, tc.err)
			}
		})
	}
}

func TestNeedsFaststartTooManyBoxes(t *testing.T) {
	file := cat(ftyp, bytes.Repeat(bx("free"), maxBoxes), moov)
	if _, err := NeedsFaststart(bytes.NewReader(file), int64(len(file))); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("NeedsFaststart: %v, want too many boxes", err)
	}
}

// TestSelfContained is the dref check that stops an MP4 whose samples are
// in another file before ffmpeg sees it.
func TestSelfContained(t *testing.T) {
	alias := bx("alis", []byte{0, 0, 0, 0}, make([]byte, 160))
	for _, tc := range []struct {
		name string
		moov []byte
		err  error
	}{
		{"self-contained url", moov, nil},
		{"self-contained alias, two tracks", bx("moov", trak(selfRef), trak(bx("alis", []byte{0, 0, 0, 1}, make([]byte, 160)))), nil},
		{"no dref at all", bx("moov", bx("mvhd", make([]byte, 100)), bx("udta", []byte("\xa9nam"))), nil},
		{"external alias", bx("moov", trak(alias)), errExternal},
		{"external url", bx("moov", trak(bx("url ", []byte{0, 0, 0, 0}, []byte("file:///data/blob\x00")))), errExternal},
		{"external second entry", bx("moov", trak(selfRef, bx("urn ", []byte{0, 0, 0, 0}))), errExternal},
		{"external in the second track", bx("moov", trak(selfRef), trak(alias)), errExternal},
		{"more entries than there are", bx("moov", bx("trak", bx("mdia", bx("minf", bx("dinf", bx("dref", []byte{0, 0, 0, 0, 0, 0, 0, 2}, selfRef)))))), errNotMP4},
		{"entry without flags", bx("moov", trak(bx("url "))), errNotMP4},
		{"compressed moov", bx("moov", bx("cmov", bx("dcom", []byte("zlib")), bx("cmvd", payload))), errNotMP4},
		{"child past its parent", bx("moov", sized("trak", 4000, payload)), errNotMP4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := cat(ftyp, tc.moov, bx("mdat", payload))
			l, err := topLevel(strictReader{t, file}, int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			if err := selfContained(strictReader{t, file}, l.moov); !errors.Is(err, tc.err) {
				t.Errorf("selfContained: %v, want %v", err, tc.err)
			}
		})
	}
}

func FuzzNeedsFaststart(f *testing.F) {
	f.Add(cat(ftyp, moov, bx("mdat", payload)))
	f.Add(cat(ftyp, large("mdat", payload), moov))
	f.Add(cat(ftyp, moov, toEnd("mdat", payload)))
	f.Fuzz(func(t *testing.T, file []byte) {
		r := strictReader{t, file}
		needs, err := NeedsFaststart(r, int64(len(file)))
		if err != nil {
			reasonOf(t, err)
			return
		}
		l, _ := topLevel(r, int64(len(file)))
		if needs && (l.fragmented || l.mdat.start > l.moov.start) {
			t.Errorf("needs faststart with %+v", l)
		}
		_ = selfContained(r, l.moov)
	})
}

func TestNeedsFaststartFiles(t *testing.T) {
	needFFmpeg(t)
	t.Parallel()
	for _, tc := range []struct {
		name  string
		path  func(testing.TB) string
		needs bool
	}{
		{"moov at the end", moovAtEnd, true},
		{"faststart", moovFirst, false},
		{"fragmented", fragmented, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(tc.path(t))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			needs, err := NeedsFaststart(f, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			if needs != tc.needs {
				t.Errorf("NeedsFaststart = %v, want %v", needs, tc.needs)
			}
		})
	}
}
