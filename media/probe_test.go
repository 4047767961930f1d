package media

import (
	"errors"
	"fmt"
	"github.com/reel-video/reel/timeline"
	"os"
	"testing"
)

func TestParseProbe(t *testing.T) {
	data, err := os.ReadFile("testdata/probe_mp4.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseProbe(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Video.Width != 1280 || p.Video.Height != 720 || p.Video.FrameRate != (timeline.Rational{Num: 20, Den: 1}) || p.Video.Frames != 280 {
		t.Errorf("video: %+v", p.Video)
	}
	if p.Audio == nil || p.Audio.Codec != "mp3" || p.Audio.Channels != 1 {
		t.Errorf("audio: %+v", p.Audio)
	}
}

func TestParseProbeRejects(t *testing.T) {
	cases := map[string]string{
		"not json":     `{`,
		"no streams":   `{"streams":[],"format":{"duration":"1"}}`,
		"audio only":   `{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{"duration":"3"}}`,
		"zero size":    `{"streams":[{"codec_type":"video","width":0,"height":0,"r_frame_rate":"25/1"}],"format":{"duration":"3"}}`,
		"no duration":  `{"streams":[{"codec_type":"video","width":64,"height":64,"r_frame_rate":"25/1"}],"format":{}}`,
		"huge size":    `{"streams":[{"codec_type":"video","width":100000,"height":64,"r_frame_rate":"25/1"}],"format":{"duration":"3"}}`,
		"no framerate": `{"streams":[{"codec_type":"video","width":64,"height":64,"r_frame_rate":"0/0"}],"format":{"duration":"3"}}`,
	}
	for name, in := range cases {
		if _, err := ParseProbe([]byte(in)); !errors.Is(err, ErrInvalidMedia) {
			t.Errorf("%s: err = %v, want ErrInvalidMedia", name, err)
		}
	}
}

func FuzzParseProbe(f *testing.F) {
	if data, err := os.ReadFile("testdata/probe_mp4.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"streams":[{"codec_type":"video","width":64,"height":64,"r_frame_rate":"1/0"}],"format":{"duration":"3"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProbe(data)
		if err != nil {
			return
		}
		if p.Video.Width <= 0 || p.Video.FrameRate.Float() <= 0 || p.Duration <= 0 {
			t.Fatalf("accepted unusable probe: %+v", p)
		}
	})
}

func TestParseIdet(t *testing.T) {
	line := func(tff, bff, prog int) string {
		return fmt.Sprintf("[Parsed_idet_0 @ 0x1] Single frame detection: TFF: 1 BFF: 1 Progressive: 1 Undetermined: 0\n"+
			"[Parsed_idet_0 @ 0x1] Multi frame detection: TFF: %d BFF: %d Progressive: %d Undetermined: 19\n", tff, bff, prog)
	}
	for in, want := range map[string]string{
		line(0, 125, 0): "bff", line(240, 3, 2): "tff", line(0, 0, 232): "progressive",
		line(72, 44, 9): "progressive", // fast synthetic motion, both orders
	} {
		if got, err := ParseIdet(in); err != nil || got != want {
			t.Errorf("ParseIdet(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseIdet("nothing"); err == nil {
		t.Error("ParseIdet accepted output without counts")
	}
}

// TestParseProbeJumps: a transport or program stream whose frame count
// disagrees with its timestamps at a constant rate has jumping timestamps
// (its duration becomes the frames'); the same in MP4, or with an average
// rate of its own (soft telecine, variable rate), is left to the conform.
func TestParseProbeJumps(t *testing.T) {
	probe := func(format, avg string, frames int, dur string) string {
		return fmt.Sprintf(`{"streams":[{"codec_type":"video","codec_name":"h264","width":320,"height":240,"r_frame_rate":"25/1",`+
			`"avg_frame_rate":%q,"nb_read_packets":"%d","duration":%q}],"format":{"format_name":%q,"duration":%q}}`, avg, frames, dur, format, dur)
	}
	cases := []struct {
		json  string
		jumps bool
		dur   float64
	}{
		{probe("mpegts", "25/1", 200, "4.0"), true, 8},  // clock reset
		{probe("mpegts", "25/1", 200, "34.0"), true, 8}, // clock jump
		{probe("mpeg", "25/1", 200, "11.0"), true, 8},   // program stream
		{probe("mpegts", "25/1", 200, "8.0"), false, 8}, // continuous
		{probe("mov,mp4,m4a,3gp,3g2,mj2", "25/1", 200, "4.0"), false, 4},
		{probe("mpeg", "20/1", 200, "10.0"), false, 10}, // variable rate
	}
	for _, c := range cases {
		p, err := ParseProbe([]byte(c.json))
		if err != nil {
			t.Fatal(err)
		}
		if p.Discontinuous != c.jumps || p.Duration != c.dur || (c.jumps && p.Video.Duration != c.dur) {
			t.Errorf("%s: discontinuous %v duration %v (video %v), want %v %v", c.json, p.Discontinuous, p.Duration, p.Video.Duration, c.jumps, c.dur)
		}
	}
}
