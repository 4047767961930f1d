package e2e

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/subtitles"
)

// srtCue is a cue of a SubRip file a test writes, times in seconds.
type srtCue struct {
	start, end float64
	text       string
}

func writeSRT(t *testing.T, path string, cues []srtCue) string {
	t.Helper()
	stamp := func(s float64) string {
		ms := int(math.Round(s * 1000))
		return fmt.Sprintf("%02d:%02d:%02d,%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
	}
	var b strings.Builder
	for i, c := range cues {
		fmt.Fprintf(&b, "%d\n%s --> %s\n%s\n\n", i+1, stamp(c.start), stamp(c.end), c.text)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A master with French SubRip subtitles and German SDH ones in ASS, sent
// with a Spanish SubRip file and a broken one, gets a WebVTT track of
// each but the broken file, which is refused with a warning while the
// title is made: HLS SUBTITLES renditions with segmented WebVTT and DASH
// text sets. hls.js and dash.js offer both, show French from
// the start, switch to German a third of the way in, and hold every cue
// at the master's time within one frame (25 fps).
func TestSubtitles(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	fr := []srtCue{{1, 2.5, "Bonjour"}, {3.5, 4.5, "À cheval sur deux segments"}, {8.04, 9, "Deuxième partie"}, {10, 11.5, "Fin"}}
	de := []srtCue{{2, 3, "[Musik]"}, {7.52, 8.8, "Hallo"}, {9.2, 10.4, "Ende"}}
	master := testenv.Generate(t, filepath.Join(dir, "subtitled.mkv"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=12",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=12",
		"-f", "srt", "-i", writeSRT(t, filepath.Join(dir, "fr.srt"), fr),
		"-f", "srt", "-i", writeSRT(t, filepath.Join(dir, "de.srt"), de),
		"-map", "0:v", "-map", "1:a", "-map", "2:s", "-map", "3:s",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-c:s:0", "srt", "-c:s:1", "ass",
		"-metadata:s:s:0", "language=fre", "-metadata:s:s:1", "language=ger", "-disposition:s:1", "hearing_impaired")
	// With it, a Spanish SubRip file and a broken one.
	es := "1\n00:00:05,000 --> 00:00:06,200\nHola\n\n2\n00:00:11,000 --> 00:00:13,000\nAdiós, más allá del vídeo\n"
	broken := "1\n00:00:05,000 --> 00:00:04,000\nbackwards\n"
	v := s.complete(t, master, `{"rungs":[{"height":240,"bitrate":400000},{"height":120,"bitrate":150000}],"segment_seconds":2,"chunk_segments":2,`+
		`"subtitles":[{"file":"es.srt","language":"es","name":"Español"},{"file":"broken.srt","language":"it"}]}`,
		client.File{Name: "es.srt", Data: []byte(es)}, client.File{Name: "broken.srt", Data: []byte(broken)})
	verify(t, v, master, true, 2)
	var got []string
	for _, x := range v.TextTracks {
		from := x.File
		if x.Stream != nil {
			from = fmt.Sprint(*x.Stream)
		}
		got = append(got, fmt.Sprintf("%s:%s:%s:%s:%v:%d", x.Name, from, x.Language, x.Label, x.SDH, x.Cues))
	}
	// The Spanish file's last cue runs past the 12 s video: it is cut.
	if want := "text_0:2:fr::false:4 text_1:3:de::true:3 text_2:es.srt:es:Español:false:2"; strings.Join(got, " ") != want {
		t.Errorf("text tracks %q, want %q", got, want)
	}
	if len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "subtitles broken.srt: cue 1 ends at 00:00:04.000, not after it starts at 00:00:05.000") {
		t.Errorf("warnings %q, want the broken file refused", v.Warnings)
	}
	if !hasNote(v, "subtitle stream 2 (subrip, fr): a WebVTT track, 4 cues") || !hasNote(v, "subtitle stream 3 (ass, de, SDH): a WebVTT track, 3 cues") ||
		!hasNote(v, `subtitle file "es.srt" (es): a WebVTT track, 2 cues`) ||
		slices.ContainsFunc(v.Source.Ignored, func(s string) bool { return strings.Contains(s, "subtitle") }) {
		t.Errorf("notes %q, ignored %q", v.Source.Notes, v.Source.Ignored)
	}
	_, hlsBody := get(t, v.Outputs.HLS)
	_, mpdBody := get(t, v.Outputs.DASH)
	hls, mpd := string(hlsBody), string(mpdBody)
	if !strings.Contains(hls, `TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="de",NAME="German (SDH)"`) || !strings.Contains(hls, `SUBTITLES="subs"`) ||
		strings.Count(mpd, `mimeType="text/vtt"`) != 3 {
		t.Errorf("manifests do not carry the subtitles:\n%s\n%s", hls, mpd)
	}
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	_, segBody := get(t, base+"text_0/seg_00000.vtt")
	seg := string(segBody)
	if !strings.HasPrefix(seg, "WEBVTT\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:") || !strings.Contains(seg, "Bonjour") {
		t.Errorf("first WebVTT segment:\n%s", seg)
	}

	ctx, page := browser(t)
	masterCues := map[string][]srtCue{"fr": fr, "de": de}
	const frame = 1.0 / 25
	for _, p := range []struct{ player, src string }{{"hls", v.Outputs.HLS}, {"dash", v.Outputs.DASH}} {
		res := playURL(t, ctx, page, url.Values{"player": {p.player}, "src": {p.src}, "rate": {"2"}, "text": {"fr,de"}})
		t.Logf("%s: text languages %q, switches %+v, cues %+v", p.player, res.TextLangs, res.TextSwitches, res.Cues)
		checkPlayback(t, res, v)
		if !slices.Contains(res.TextLangs, "fr") || !slices.Contains(res.TextLangs, "de") || !slices.Contains(res.TextLangs, "es") {
			t.Errorf("%s: subtitle languages %q, want fr, de and es", p.player, res.TextLangs)
		}
		if res.TextFrom != "fr" || !slices.ContainsFunc(res.TextSwitches, func(s trackSwitch) bool { return s.Lang == "de" && s.At > 0 }) {
			t.Errorf("%s: shown first %q, switches %+v; want fr, then de mid-title", p.player, res.TextFrom, res.TextSwitches)
		}
		off := 0.0
		if res.VideoStart != nil {
			off = *res.VideoStart
		}
		for lang, want := range map[string][]float64{"fr": {1, 3.5}, "de": {7.52, 9.2}} {
			for _, c := range res.Cues[lang] {
				if !slices.ContainsFunc(masterCues[lang], func(m srtCue) bool {
					return math.Abs(c.Start-off-m.start) <= frame && math.Abs(c.End-off-m.end) <= frame && c.Text == m.text
				}) {
					t.Errorf("%s: %s cue %+v is at no cue of the master's (video starts at %.3f s)", p.player, lang, c, off)
				}
			}
			for _, w := range want {
				if !slices.ContainsFunc(res.Cues[lang], func(c cue) bool { return math.Abs(c.Start-off-w) <= frame }) {
					t.Errorf("%s: no %s cue at %.2f s among %+v", p.player, lang, w, res.Cues[lang])
				}
			}
		}
	}
}

// captionsOf extracts the CEA-608 captions (CC1) of file's video as ffmpeg
// decodes them: each caption's text and times.
func captionsOf(t *testing.T, file string) []srtCue {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "movie="+strings.ReplaceAll(file, ":", `\:`)+"[out0+subcc]",
		"-map", "0:s", "-f", "webvtt", "-").Output()
	if err != nil {
		t.Fatalf("captions of %s: %v", file, err)
	}
	tr, err := subtitles.Parse(file, out, subtitles.FormatWebVTT)
	if err != nil {
		t.Fatalf("captions of %s: %v:\n%s", file, err, out)
	}
	var cues []srtCue
	for _, c := range tr.List() {
		cues = append(cues, srtCue{c.Start, c.End, strings.TrimSpace(c.Text)})
	}
	return cues
}

// A master whose H.264 pictures carry CEA-608 captions: every H.264 rung
// carries them, at their times within a frame, across chunk seams (the
// second caption is shown on the first frame of a chunk, loaded in the
// chunk before); the master playlist and the MPD signal them, and hls.js
// shows them as a captions track.
func TestClosedCaptions(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	master := testenv.CaptionedH264(t, filepath.Join(dir, "captioned.mp4"), 180, []testenv.Caption{{Text: "HELLO", On: 30, Off: 75}, {Text: "WORLD AGAIN", On: 120, Off: 165}})
	want := captionsOf(t, master)
	if len(want) != 2 {
		t.Fatalf("the master's captions: %+v", want)
	}
	v := s.complete(t, master, `{"rungs":[{"height":240,"bitrate":400000},{"height":120,"bitrate":150000}],"segment_seconds":2,"chunk_segments":1}`)
	verify(t, v, master, false, 2)
	if !v.Source.Captions || !hasNote(v, "CEA-608/708 closed captions") {
		t.Errorf("captions not found: %+v, notes %q", v.Source.Captions, v.Source.Notes)
	}
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	for _, r := range v.Renditions {
		local := testenv.Generate(t, filepath.Join(dir, r.Name+".mp4"), "-i", base+r.Name+"/index.m3u8", "-c", "copy")
		got := captionsOf(t, local)
		t.Logf("%s: captions %+v (master %+v)", r.Name, got, want)
		if len(got) != len(want) {
			t.Errorf("%s: %d captions, want %d", r.Name, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i].text != want[i].text || math.Abs(got[i].start-want[i].start) > 1.0/30+1e-3 || math.Abs(got[i].end-want[i].end) > 1.0/30+1e-3 {
				t.Errorf("%s: caption %+v, the master's %+v", r.Name, got[i], want[i])
			}
		}
	}
	_, hls := get(t, v.Outputs.HLS)
	_, mpd := get(t, v.Outputs.DASH)
	if !strings.Contains(string(hls), `TYPE=CLOSED-CAPTIONS,GROUP-ID="cc"`) || strings.Count(string(hls), `CLOSED-CAPTIONS="cc"`) != 2 ||
		!strings.Contains(string(mpd), `urn:scte:dash:cc:cea-608:2015`) {
		t.Errorf("manifests do not signal the captions:\n%s\n%s", hls, mpd)
	}
	ctx, page := browser(t)
	for _, p := range []struct{ player, src string }{{"hls", v.Outputs.HLS}, {"dash", v.Outputs.DASH}} {
		res := playURL(t, ctx, page, url.Values{"player": {p.player}, "src": {p.src}, "rate": {"1"}, "captions": {"1"}})
		off := 0.0
		if res.VideoStart != nil {
			off = *res.VideoStart
		}
		t.Logf("%s: cues %+v, video starts at %.3f s", p.player, res.Cues, off)
		checkPlayback(t, res, v)
		var cues []cue
		for _, c := range res.Cues {
			cues = append(cues, c...)
		}
		if p.player == "dash" {
			// dash.js 5.2.1 times embedded CEA-608 cues without the video's
			// presentationTimeOffset (fixed upstream in dash.js PR #5126,
			// after the latest release): they are that much late.
			off += videoPTO(t, string(mpd))
		}
		for _, w := range want {
			if !slices.ContainsFunc(cues, func(c cue) bool {
				return strings.HasSuffix(w.text, c.Text) && math.Abs(c.Start-off-w.start) <= 1.0/30+1e-3
			}) {
				t.Errorf("%s: no caption %q at %.3f s (the video starting at %.3f s) among %+v", p.player, w.text, w.start, off, cues)
			}
		}
	}
}

// videoPTO is the presentationTimeOffset of the MPD's first video
// representation, in seconds.
func videoPTO(t *testing.T, mpd string) float64 {
	t.Helper()
	m := regexp.MustCompile(`<SegmentTemplate timescale="(\d+)"[^>]* presentationTimeOffset="(\d+)"`).FindStringSubmatch(mpd)
	if m == nil {
		return 0
	}
	ts, _ := strconv.ParseFloat(m[1], 64)
	pto, _ := strconv.ParseFloat(m[2], 64)
	return pto / ts
}
