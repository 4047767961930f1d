package workers

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/protect"
)

// cutTrack has ffmpeg cut a short H.264 track into CMAF segments in a
// new folder, as the encode stage does, with its keyframe ranges.
func cutTrack(t *testing.T) (string, packager.Track) {
	t.Helper()
	testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24", "-t", "4", "-c:v", "libx264", "-g", "24",
		"-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_fmp4_init_filename", initName,
		"-hls_segment_filename", filepath.Join(dir, segPattern), filepath.Join(dir, ffmpegPlaylist))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	tr, err := readTrack(dir)
	if err != nil || len(tr.Segments) < 3 {
		t.Fatalf("track: %+v %v", tr, err)
	}
	for _, s := range tr.Segments {
		data, _ := os.ReadFile(filepath.Join(dir, s.URI))
		off, n, err := packager.IFrameRange(data)
		if err != nil {
			t.Fatal(err)
		}
		tr.IFrames = append(tr.IFrames, packager.Range{Offset: off, Length: n})
	}
	return dir, tr
}

// TestEncryptTrack: with cbcs, the init segment gains its protection
// boxes and every segment's size and keyframe range are those of the
// encrypted file; with aes-128, each segment decrypts back to the clear
// one and the track has no I-frame ranges.
func TestEncryptTrack(t *testing.T) {
	k, err := protect.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir, tr := cutTrack(t)
	clearInit, _ := os.ReadFile(filepath.Join(dir, initName))
	if err := (&titleKey{scheme: "cbcs", key: k}).encryptTrack(dir, &tr); err != nil {
		t.Fatal(err)
	}
	init, _ := os.ReadFile(filepath.Join(dir, initName))
	if bytes.Equal(init, clearInit) || !bytes.Contains(init, []byte("encv")) || !bytes.Contains(init, []byte("tenc")) || !bytes.Contains(init, []byte("pssh")) {
		t.Fatal("the init segment has no protection boxes")
	}
	for i, s := range tr.Segments {
		data, _ := os.ReadFile(filepath.Join(dir, s.URI))
		off, n, err := packager.IFrameRange(data)
		if int64(len(data)) != s.Size || err != nil || tr.IFrames[i] != (packager.Range{Offset: off, Length: n}) || !bytes.Contains(data, []byte("senc")) {
			t.Errorf("%s: size %d (recorded %d), keyframe %d+%d (recorded %+v): %v", s.URI, len(data), s.Size, off, n, tr.IFrames[i], err)
		}
	}

	dir, tr = cutTrack(t)
	clear := map[string][]byte{}
	for _, s := range tr.Segments {
		clear[s.URI], _ = os.ReadFile(filepath.Join(dir, s.URI))
	}
	if err := (&titleKey{scheme: "aes-128", key: k}).encryptTrack(dir, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.IFrames != nil {
		t.Error("an AES-128 track keeps I-frame ranges, which do not decrypt alone")
	}
	block, _ := aes.NewCipher(k.Key[:])
	for _, s := range tr.Segments {
		data, _ := os.ReadFile(filepath.Join(dir, s.URI))
		if int64(len(data)) != s.Size || len(data)%16 != 0 {
			t.Fatalf("%s: %d bytes, recorded %d", s.URI, len(data), s.Size)
		}
		cipher.NewCBCDecrypter(block, k.IV[:]).CryptBlocks(data, data)
		data = data[:len(data)-int(data[len(data)-1])]
		if !bytes.Equal(data, clear[s.URI]) {
			t.Errorf("%s does not decrypt back to the clear segment", s.URI)
		}
	}
}
