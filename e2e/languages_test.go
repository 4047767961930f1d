package e2e

import (
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
)

// A master with three audio languages (French, English 5.1 and marked
// default, a German commentary): every one becomes a stereo AAC track,
// the 5.1 one also a 5.1 E-AC-3 track, and hls.js and dash.js start in
// English and switch to French mid-title, then play to the end. A job
// that lists streams carries those only, in its order and with its
// labels; one that lists a stream the master lacks fails saying so.
func TestAudioLanguages(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	tone := func(f int) string { return fmt.Sprintf("0.2*sin(2*PI*%d*t)", f) }
	six := tone(440)
	for _, f := range []int{550, 660, 60, 770, 880} {
		six += "|" + tone(f)
	}
	master := testenv.Generate(t, filepath.Join(dir, "languages.mkv"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=12",
		"-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=12",
		"-f", "lavfi", "-i", "aevalsrc="+six+":channel_layout=5.1:sample_rate=48000:duration=12",
		"-f", "lavfi", "-i", "sine=frequency=990:sample_rate=48000:duration=12",
		"-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
		"-metadata:s:a:0", "language=fre", "-metadata:s:a:1", "language=eng", "-metadata:s:a:2", "language=ger",
		"-disposition:a:0", "0", "-disposition:a:1", "default", "-disposition:a:2", "comment")
	v := s.complete(t, master, `{"rungs":[{"height":240,"bitrate":400000},{"height":120,"bitrate":150000}],"segment_seconds":2,"chunk_segments":2,"loudness":{"target":-16}}`)
	verify(t, v, master, true, 2)
	var got []string
	for _, a := range v.AudioTracks {
		got = append(got, fmt.Sprintf("%s:%s:%s:%d:%s:%v", a.Name, a.Language, a.Codec, a.Channels, a.Role, a.Default))
	}
	if want := "audio_0:fr:aac:2::false audio_1:en:aac:2::true audio_1_51:en:eac3:6::true audio_2:de:aac:2:commentary:false"; strings.Join(got, " ") != want {
		t.Errorf("audio tracks %q, want %q", got, want)
	}
	// Each track, the 5.1 one and its stereo downmix measured apart, is
	// normalized to -16 LUFS.
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	for _, a := range v.AudioTracks {
		if a.Loudness == nil || a.Loudness.Silent() || a.Normalized == nil {
			t.Errorf("%s: loudness %+v, normalized %+v; want it measured and normalized", a.Name, a.Loudness, a.Normalized)
			continue
		}
		got := testenv.Loudness(t, base+a.Name+"/index.m3u8")
		t.Logf("%s: before %+v, gain %+.2f dB, published %+v", a.Name, *a.Loudness, a.Normalized.Gain, got)
		if math.Abs(got.Integrated+16) > 0.5 || got.TruePeak > -1 {
			t.Errorf("%s: published %.1f LUFS, %.1f dBTP; want -16 within 0.5 LU under -1 dBTP", a.Name, got.Integrated, got.TruePeak)
		}
	}
	listed := s.submit(t, master, `{"rungs":[{"height":120,"bitrate":150000}],"segment_seconds":2,"chunk_segments":3,`+
		`"audio":[{"stream":3,"language":"it","name":"Italiano"},{"stream":1,"default":true}]}`)
	if code, out := s.watch(t, listed); code != 0 {
		t.Fatalf("reel watch exit %d:\n%s", code, out)
	}
	lv := s.job(t, listed)
	got = nil
	for _, a := range lv.AudioTracks {
		got = append(got, fmt.Sprintf("%s:%s:%s:%v", a.Name, a.Language, a.Label, a.Default))
	}
	if want := "audio_0:it:Italiano:false audio_1:fr::true"; strings.Join(got, " ") != want || !hasNote(lv, "audio stream 2: left out") {
		t.Errorf("listed audio tracks %q, want %q; notes %q", got, want, lv.Source.Notes)
	}
	bad := s.submit(t, master, `{"rungs":[{"height":120,"bitrate":150000}],"audio":[{"stream":7}]}`)
	s.watch(t, bad)
	if bv := s.job(t, bad); bv.Error == nil || bv.Error.Code != "invalid_media" || !strings.Contains(bv.Error.Message, "audio streams are 1, 2, 3") {
		t.Errorf("a job listing a missing stream: %+v", bv.Error)
	}

	ctx, page := browser(t)
	for _, p := range []struct{ player, src string }{{"hls", v.Outputs.HLS}, {"dash", v.Outputs.DASH}} {
		res := playURL(t, ctx, page, url.Values{"player": {p.player}, "src": {p.src}, "rate": {"2"}, "audio": {"fr"}})
		t.Logf("%s: %+v", p.player, res)
		checkPlayback(t, res, v)
		for _, lang := range []string{"fr", "en", "de"} {
			if !slices.Contains(res.AudioLangs, lang) {
				t.Errorf("%s: audio languages %q lack %s", p.player, res.AudioLangs, lang)
			}
		}
		if res.AudioFrom != "en" {
			t.Errorf("%s: played %q before the switch, want the default, en", p.player, res.AudioFrom)
		}
		if !slices.ContainsFunc(res.AudioSwitches, func(s trackSwitch) bool { return s.Lang == "fr" && s.At > 0 }) {
			t.Errorf("%s: audio switches %+v, want one to fr mid-title", p.player, res.AudioSwitches)
		}
	}
}
