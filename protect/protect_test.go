package protect_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/protect"
)

// cmaf makes a one-track fragmented MP4 with ffmpeg and splits it into
// its init segment and its media segment (all fragments).
func cmaf(t *testing.T, args ...string) (init, seg []byte) {
	t.Helper()
	testenv.Need(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "track.mp4")
	cmd := exec.Command("ffmpeg", append(append([]string{"-v", "error"}, args...),
		"-f", "mp4", "-movflags", "cmaf+frag_keyframe+empty_moov+default_base_moof", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil || f.Init == nil || len(f.Segments) == 0 {
		t.Fatalf("not fragmented: %v", err)
	}
	var ib, sb bytes.Buffer
	if err := f.Init.Encode(&ib); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Segments {
		for _, fr := range s.Fragments {
			if err := fr.Encode(&sb); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ib.Bytes(), sb.Bytes()
}

// frames decodes a track with ffmpeg (with the key, if given) and
// returns the frames it decoded and whether it reported errors.
func frames(t *testing.T, init, seg []byte, key string) (int, string) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.mp4")
	if err := os.WriteFile(in, append(append([]byte{}, init...), seg...), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v", "error"}
	if key != "" {
		args = append(args, "-decryption_key", key)
	}
	args = append(args, "-i", in, "-f", "framemd5", "-")
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && strings.Count(l, ",") >= 5 {
			n++
		}
	}
	errs := ""
	if err != nil {
		errs = err.Error()
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "rror") || strings.Contains(l, "invalid") {
			errs += " " + l
		}
	}
	return n, errs
}

func TestWrap(t *testing.T) {
	m, err := protect.ParseMaster(strings.Repeat("0f", 32))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := protect.NewKey()
	w, err := m.Wrap("job-1", k)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.Unwrap("job-1", w); err != nil || got != k {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := m.Unwrap("job-2", w); err == nil {
		t.Error("a key wrapped for one title opened for another")
	}
	other, _ := protect.ParseMaster(strings.Repeat("f0", 32))
	if _, err := other.Unwrap("job-1", w); err == nil {
		t.Error("a key opened with another master key")
	}
	if _, err := protect.ParseMaster("abcd"); err == nil {
		t.Error("a short master key parsed")
	}
}

// TestCENC encrypts an H.264 and an AAC track with cenc and cbcs: mp4ff
// decrypts them back to samples ffmpeg decodes as it does the clear
// track, and without the key the video does not decode cleanly. (Debian's
// ffmpeg 5.1 refuses mp4ff's subsample layout with -decryption_key, as it
// does mp4ff-encrypt's output; browsers' EME are the players that count.)
func TestCENC(t *testing.T) {
	video := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24", "-t", "2", "-c:v", "libx264", "-g", "24", "-pix_fmt", "yuv420p"}
	audio := []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:a", "aac"}
	for _, tr := range []struct {
		name string
		args []string
	}{{"h264", video}, {"aac", audio}} {
		init, seg := cmaf(t, tr.args...)
		clearFrames, _ := frames(t, init, seg, "")
		for _, scheme := range []string{protect.CENC, protect.CBCS} {
			k, _ := protect.NewKey()
			pinit, track, err := protect.ProtectInit(init, scheme, k)
			if err != nil {
				t.Fatal(err)
			}
			pseg, err := track.Segment(seg)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(pseg, seg) || len(pseg) <= len(seg) {
				t.Fatalf("%s %s: the segment did not change (%d -> %d bytes)", tr.name, scheme, len(seg), len(pseg))
			}
			// Decrypted with mp4ff: the clear samples again.
			f, err := mp4.DecodeFile(bytes.NewReader(append(append([]byte{}, pinit...), pseg...)))
			if err != nil {
				t.Fatal(err)
			}
			di, err := mp4.DecryptInit(f.Init)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range f.Segments {
				if err := mp4.DecryptSegment(s, di, k.Key[:]); err != nil {
					t.Fatalf("%s %s: decrypt: %v", tr.name, scheme, err)
				}
			}
			var dec bytes.Buffer
			for _, s := range f.Segments {
				for _, fr := range s.Fragments {
					_ = fr.Encode(&dec)
				}
			}
			if n, errs := frames(t, init, dec.Bytes(), ""); n != clearFrames || errs != "" {
				t.Errorf("%s %s: decrypted by mp4ff, %d frames of %d (%s)", tr.name, scheme, n, clearFrames, errs)
			}
			if tr.name == "h264" {
				n, errs := frames(t, pinit, pseg, "")
				if errs == "" && n == clearFrames {
					t.Errorf("%s %s without the key decoded cleanly", tr.name, scheme)
				}
				t.Logf("%s %s without the key: %d frames, errors: %.120s", tr.name, scheme, n, errs)
			}
		}
	}
}
