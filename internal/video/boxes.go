package video

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The ways an MP4 or QuickTime file's boxes can be wrong. NeedsFaststart
// returns them wrapped in an *Error.
var (
	errNotMP4    = errors.New("not an MP4 or QuickTime file")
	errTruncated = errors.New("a box runs past the end of the file")
	errNoMoov    = errors.New("no moov box")
	errExternal  = errors.New("a track's media is in another file")
)

const maxBoxes = 1 << 20 // top-level boxes; a fragmented 10-hour film has some 40 000

// box is one box: where it starts, how long its header is, its total size.
type box struct {
	typ         string
	start, hdr  int64
	size        int64
	invalidType bool // not four printable ASCII characters
}

func (b box) end() int64  { return b.start + b.size }
func (b box) body() int64 { return b.start + b.hdr }

// readBox reads the header of the box at off, which must end by end.
// Sizes are never trusted: one that runs past end is errTruncated. The box
// comes back with its type even with an error.
func readBox(r io.ReaderAt, off, end int64) (box, error) {
	if end-off < 8 {
		return box{}, errTruncated
	}
	var h [16]byte
	if _, err := r.ReadAt(h[:8], off); err != nil {
		return box{}, readErr(err)
	}
	b := box{typ: string(h[4:8]), start: off, hdr: 8}
	for _, c := range h[4:8] {
		if c < 0x20 || c > 0x7e {
			b.invalidType = true
		}
	}
	switch size := binary.BigEndian.Uint32(h[:4]); size {
	case 0: // to the end of the file
		b.size = end - off
	case 1: // a 64-bit largesize follows the type
		if end-off < 16 {
			return b, fmt.Errorf("%w (%q)", errTruncated, b.typ)
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			return b, readErr(err)
		}
		large := binary.BigEndian.Uint64(h[8:16])
		if large < 16 {
			return b, fmt.Errorf("%w: box %q has a largesize of %d", errNotMP4, b.typ, large)
		}
		if large > uint64(end-off) {
			return b, fmt.Errorf("%w (%q)", errTruncated, b.typ)
		}
		b.size, b.hdr = int64(large), 16
	default:
		if size < 8 {
			return b, fmt.Errorf("%w: box %q has a size of %d", errNotMP4, b.typ, size)
		}
		if int64(size) > end-off {
			return b, fmt.Errorf("%w (%q)", errTruncated, b.typ)
		}
		b.size = int64(size)
	}
	return b, nil
}

// readErr is a ReadAt failure: EOF within the size we were told is a file
// shorter than it says.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

// firstBoxes are the types an MP4 or QuickTime file may start with.
var firstBoxes = map[string]bool{
	"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true,
	"wide": true, "pnot": true, "uuid": true, "styp": true, "sidx": true,
}

// layout is what the top level of a file holds.
type layout struct {
	moov, mdat box // the first of each; size 0 if none
	fragmented bool
}

// topLevel walks the top-level boxes of a file of size bytes.
func topLevel(r io.ReaderAt, size int64) (layout, error) {
	var l layout
	if size < 8 {
		return l, fmt.Errorf("%w: %d bytes", errNotMP4, size)
	}
	for off, n := int64(0), 0; off < size; n++ {
		if n == maxBoxes {
			return l, fmt.Errorf("%w: more than %d boxes", errNotMP4, maxBoxes)
		}
		b, err := readBox(r, off, size)
		if err != nil && isIOError(err) {
			return l, err
		}
		complete := l.moov.size > 0 && l.mdat.size > 0
		if complete && (b.invalidType || size-off < 8 || errors.Is(err, errNotMP4)) {
			// Junk after a complete file, such as zero padding, is what
			// some writers leave; ffmpeg ignores it and so do we. A real
			// box that is cut short is not junk.
			break
		}
		if n == 0 && (b.invalidType || !firstBoxes[b.typ]) {
			return l, fmt.Errorf("%w: it starts with %q", errNotMP4, b.typ)
		}
		if b.invalidType {
			return l, fmt.Errorf("%w: a box of type %q", errNotMP4, b.typ)
		}
		if err != nil {
			return l, err
		}
		switch b.typ {
		case "moov":
			if l.moov.size == 0 {
				l.moov = b
			}
		case "mdat":
			if l.mdat.size == 0 {
				l.mdat = b
			}
		case "moof":
			l.fragmented = true
		}
		off = b.end()
	}
	if l.moov.size == 0 {
		return l, errNoMoov
	}
	return l, nil
}

// isIOError is a failure to read, not something wrong with the boxes.
func isIOError(err error) bool {
	return !errors.Is(err, errTruncated) && !errors.Is(err, errNotMP4)
}

// NeedsFaststart reports whether the MP4 or QuickTime file in r, of size
// bytes, has its moov box after its media data, so that a player must fetch
// the end of the file before it can start. It reads only the top-level box
// headers: 32-bit sizes, 64-bit largesizes (size 1) and size 0 (to the end
// of the file), and never trusts a size that runs past the end. A
// fragmented file (with moof boxes) streams already. A file that is cut
// short, has no moov box or is not an MP4 at all is an *Error matching
// ErrBadInput.
func NeedsFaststart(r io.ReaderAt, size int64) (bool, error) {
	l, err := topLevel(r, size)
	if err != nil {
		return false, movError("faststart", err)
	}
	if l.fragmented || l.mdat.size == 0 {
		return false, nil
	}
	return l.moov.start > l.mdat.start, nil
}

// movError is an error from the box walk for the user.
func movError(op string, err error) error {
	switch {
	case errors.Is(err, errTruncated):
		return badInput(op, "the file is cut short or damaged: "+err.Error(), "")
	case errors.Is(err, errNoMoov):
		return badInput(op, "the file is cut short or damaged: it has no moov box", "")
	case errors.Is(err, errNotMP4):
		return badInput(op, "not a video or audio file we can read", err.Error())
	case errors.Is(err, errExternal):
		return badInput(op, "the file refers to media outside itself", err.Error())
	}
	return &Error{Op: op, Reason: "the file could not be read", Detail: err.Error(), Err: err}
}

// checkMov refuses, before ffmpeg sees it, an MP4 or QuickTime file that
// is not one, is cut short, or has a track whose samples are in another
// file (a data reference that is not "self-contained", which the mov
// demuxer would follow with -enable_drefs 1), or a compressed moov box,
// which could hide one. It returns the file's size.
func checkMov(op, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, &Error{Op: op, Reason: "the file could not be read", Detail: err.Error(), Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, &Error{Op: op, Reason: "the file could not be read", Detail: err.Error(), Err: err}
	}
	l, err := topLevel(f, fi.Size())
	if err == nil {
		err = selfContained(f, l.moov)
	}
	if err != nil {
		return 0, movError(op, err)
	}
	return fi.Size(), nil
}

// containers are the boxes between moov and a track's data references.
var containers = map[string]bool{"moov": true, "trak": true, "mdia": true, "minf": true, "dinf": true}

// selfContained checks every data reference under moov.
func selfContained(r io.ReaderAt, moov box) error {
	var walk func(parent box, depth int) error
	walk = func(parent box, depth int) error {
		for off := parent.body(); off < parent.end(); {
			b, err := readBox(r, off, parent.end())
			if err != nil {
				if errors.Is(err, errTruncated) {
					return fmt.Errorf("%w: inside %q", errNotMP4, parent.typ)
				}
				return err
			}
			switch {
			case b.typ == "cmov":
				return fmt.Errorf("%w: a compressed moov box", errNotMP4)
			case b.typ == "dref":
				if err := checkDref(r, b); err != nil {
					return err
				}
			case containers[b.typ] && depth < 8:
				if err := walk(b, depth+1); err != nil {
					return err
				}
			}
			off = b.end()
		}
		return nil
	}
	return walk(moov, 0)
}

// checkDref checks a dref box's entries: each is a full box whose flag 1
// says "the media data is in the same file".
func checkDref(r io.ReaderAt, dref box) error {
	var h [8]byte // version, flags, entry count
	if dref.size-dref.hdr < 8 {
		return fmt.Errorf("%w: a short dref box", errNotMP4)
	}
	if _, err := r.ReadAt(h[:], dref.body()); err != nil {
		return readErr(err)
	}
	count := binary.BigEndian.Uint32(h[4:8])
	off := dref.body() + 8
	for i := uint32(0); i < count; i++ {
		e, err := readBox(r, off, dref.end())
		if err != nil {
			return fmt.Errorf("%w: a dref box with %d entries has fewer", errNotMP4, count)
		}
		var flags [4]byte
		if e.size-e.hdr < 4 {
			return fmt.Errorf("%w: a short %q data reference", errNotMP4, e.typ)
		}
		if _, err := r.ReadAt(flags[:], e.body()); err != nil {
			return readErr(err)
		}
		if flags[3]&1 == 0 {
			return fmt.Errorf("%w: a %q data reference", errExternal, e.typ)
		}
		off = e.end()
	}
	return nil
}
