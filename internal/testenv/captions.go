package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Caption is a CEA-608 pop-on caption: Text (uppercase ASCII, up to 32
// characters) shown from frame On to frame Off.
type Caption struct {
	Text    string
	On, Off int
}

// CaptionedH264 writes an H.264 master of frames frames at 30 fps (no
// B-frames, so decode order is presentation order) whose pictures carry
// CEA-608 captions (CC1) in ATSC A/53 SEI messages, as broadcast and
// many mezzanine files do, muxed into out (its extension names the
// container). Each caption is loaded a few frames before On and shown
// (end of caption) at On, then erased at Off.
func CaptionedH264(t testing.TB, out string, frames int, caps []Caption) string {
	t.Helper()
	dir := t.TempDir()
	raw := Generate(t, filepath.Join(dir, "raw.h264"), "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-frames:v", strconv.Itoa(frames), "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "30", "-pix_fmt", "yuv420p", "-f", "h264")
	data, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	pairs := make([][2]byte, frames) // the CC1 byte pair each frame carries
	for i := range pairs {
		pairs[i] = [2]byte{0x80, 0x80} // null, with odd parity
	}
	put := func(f int, b ...byte) int {
		for i := 0; i+1 < len(b); i += 2 {
			if f >= 0 && f < frames {
				pairs[f] = [2]byte{parity(b[i]), parity(b[i+1])}
			}
			f++
		}
		return f
	}
	for _, c := range caps {
		text := []byte(c.Text)
		if len(text)%2 == 1 {
			text = append(text, 0)
		}
		// Resume caption loading, a row 15 column 0 preamble, the text.
		load := append([]byte{0x14, 0x20, 0x14, 0x70}, text...)
		put(c.On-len(load)/2-1, load...)
		put(c.On, 0x14, 0x2f)  // end of caption: shown from here
		put(c.Off, 0x14, 0x2c) // erase displayed memory
	}
	var b bytes.Buffer
	nals := bytes.Split(data, []byte{0, 0, 0, 1})
	frame := 0
	// x264 starts every NAL unit with a four-byte start code.
	for _, n := range nals {
		if len(n) == 0 {
			continue
		}
		if typ := n[0] & 0x1f; (typ == 1 || typ == 5) && frame < frames {
			b.Write([]byte{0, 0, 0, 1})
			b.Write(a53SEI(pairs[frame]))
			frame++
		}
		b.Write([]byte{0, 0, 0, 1})
		b.Write(n)
	}
	withSEI := filepath.Join(dir, "cc.h264")
	if err := os.WriteFile(withSEI, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Generate(t, out, "-f", "h264", "-r", "30", "-i", withSEI, "-c", "copy")
}

// a53SEI is an SEI NAL unit with one ATSC A/53 cc_data triplet: a CC1
// (NTSC field 1) byte pair.
func a53SEI(pair [2]byte) []byte {
	payload := []byte{0xb5, 0x00, 0x31, 'G', 'A', '9', '4', 0x03,
		0x40 | 1,               // process_cc_data_flag, cc_count 1
		0xff,                   // em_data
		0xfc, pair[0], pair[1], // marker bits, cc_valid, cc_type 0
		0xff} // marker bits
	nal := []byte{0x06, 0x04, byte(len(payload))}
	nal = append(nal, payload...)
	return append(nal, 0x80) // rbsp trailing bits
}

// parity sets the odd-parity bit CEA-608 bytes carry.
func parity(b byte) byte {
	b &= 0x7f
	n := 0
	for v := b; v != 0; v >>= 1 {
		n += int(v & 1)
	}
	if n%2 == 0 {
		b |= 0x80
	}
	return b
}
