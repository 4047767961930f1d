package media_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
)

// A master with three audio languages (one 5.1, one a mono commentary) and
// two subtitle languages (one forced): the probe lists every audio and
// text track with its language as BCP 47 and keeps the default audio as
// the main one.
func TestProbeListsEveryTrack(t *testing.T) {
	testenv.Need(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	srt := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("1\n00:00:00,500 --> 00:00:01,500\n"+text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	en, fr := srt("en.srt", "Hello"), srt("fr.srt", "Bonjour")
	master := testenv.Generate(t, filepath.Join(dir, "tracks.mkv"),
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
		"-f", "lavfi", "-i", "aevalsrc=0.1*sin(2*PI*300*t)|0.1*sin(2*PI*350*t)|0.1*sin(2*PI*400*t)|0.1*sin(2*PI*60*t)|0.1*sin(2*PI*500*t)|0.1*sin(2*PI*550*t):channel_layout=5.1(side):sample_rate=48000:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=660:sample_rate=44100:duration=2",
		"-i", en, "-i", fr,
		"-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-map", "4:s", "-map", "5:s",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac:a:0", "2", "-c:s", "subrip",
		"-metadata:s:a:0", "language=fre", "-metadata:s:a:1", "language=eng", "-metadata:s:a:1", "title=English 5.1",
		"-metadata:s:a:2", "language=ger", "-metadata:s:a:2", "title=Kommentar",
		"-disposition:a:0", "0", "-disposition:a:1", "default", "-disposition:a:2", "comment",
		"-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "language=fra",
		"-disposition:s:0", "0", "-disposition:s:1", "forced")
	p, err := (&media.Runner{}).Probe(context.Background(), testenv.ServeDir(t, dir)+"/"+filepath.Base(master))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AudioTracks) != 3 {
		t.Fatalf("audio tracks %+v, want 3", p.AudioTracks)
	}
	want := []struct {
		lang, name, role string
		channels         int
		def              bool
	}{{"fr", "", "", 2, false}, {"en", "English 5.1", "", 6, true}, {"de", "Kommentar", "commentary", 1, false}}
	for i, w := range want {
		a := p.AudioTracks[i]
		if a.Language != w.lang || a.Name != w.name || a.Role != w.role || a.Channels != w.channels || a.Default != w.def || a.Streams != 3 {
			t.Errorf("audio track %d: %+v, want %+v", i, a, w)
		}
	}
	if p.Audio == nil || p.Audio.Index != p.AudioTracks[1].Index || p.Audio.Channels != 6 {
		t.Errorf("main audio %+v, want the default 5.1 English stream", p.Audio)
	}
	if len(p.Texts) != 2 || p.Texts[0].Language != "en" || p.Texts[0].Codec != "subrip" || p.Texts[0].Forced ||
		p.Texts[1].Language != "fr" || !p.Texts[1].Forced {
		t.Errorf("texts %+v, want English and forced French", p.Texts)
	}
}

func TestLanguage(t *testing.T) {
	for in, want := range map[string]string{
		"eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "chi": "zh", "pt-BR": "pt-BR", "en-US": "en-US",
		"und": "", "": "", "xx": "", "  spa ": "es", "not a language at all": "",
	} {
		if got := media.Language(in); got != want {
			t.Errorf("Language(%q) = %q, want %q", in, got, want)
		}
	}
}

// Image subtitles cannot become WebVTT: they are left out and listed.
func TestParseProbeLeavesImageSubtitlesOut(t *testing.T) {
	p, err := media.ParseProbe([]byte(`{"streams":[{"index":0,"codec_type":"video","codec_name":"h264","width":64,"height":64,"r_frame_rate":"25/1"},
		{"index":1,"codec_type":"subtitle","codec_name":"hdmv_pgs_subtitle","tags":{"language":"eng"}},
		{"index":2,"codec_type":"subtitle","codec_name":"mov_text","tags":{"language":"jpn","title":"Signs \"and\" songs"},"disposition":{"hearing_impaired":1}}],
		"format":{"duration":"3"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Texts) != 1 || p.Texts[0].Index != 2 || p.Texts[0].Language != "ja" || !p.Texts[0].SDH || p.Texts[0].Name != "Signs and songs" {
		t.Errorf("texts %+v, want the Japanese mov_text stream", p.Texts)
	}
	if len(p.Ignored) != 1 || p.Ignored[0] != "1:subtitle:hdmv_pgs_subtitle" {
		t.Errorf("ignored %v, want the PGS stream", p.Ignored)
	}
}
