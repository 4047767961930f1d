package ladder

import (
	"strconv"
	"strings"
	"testing"
)

func names(rs []Rung) string {
	var b []string
	for _, r := range rs {
		b = append(b, r.Name+"="+strconv.Itoa(r.Width)+"x"+strconv.Itoa(r.Height))
	}
	return strings.Join(b, ",")
}

func TestSelect(t *testing.T) {
	def := Default().Normalize()
	cases := []struct {
		name string
		src  Source
		want string
	}{
		{"1080p", Source{Width: 1920, Height: 1080}, "1080p=1920x1080,720p=1280x720,540p=960x540,360p=640x360,234p=416x234"},
		{"4k keeps all", Source{Width: 3840, Height: 2160}, "1080p=1920x1080,720p=1280x720,540p=960x540,360p=640x360,234p=416x234"},
		{"720p drops 1080p", Source{Width: 1280, Height: 720}, "720p=1280x720,540p=960x540,360p=640x360,234p=416x234"},
		{"odd height 405", Source{Width: 720, Height: 405}, "360p=640x360,234p=416x234"},
		{"4:3 576", Source{Width: 768, Height: 576}, "540p=720x540,360p=480x360,234p=312x234"},
		{"anamorphic DVD 16:9", Source{Width: 720, Height: 576, SARNum: 64, SARDen: 45}, "540p=960x540,360p=640x360,234p=416x234"},
		{"2.39 scope is width-limited", Source{Width: 1920, Height: 804}, "720p=1720x720,540p=1290x540,360p=860x360,234p=558x234"},
		{"portrait", Source{Width: 1080, Height: 1920}, "1080p=608x1080,720p=406x720,540p=304x540,360p=202x360,234p=132x234"},
		{"tiny gets one rung at source size", Source{Width: 176, Height: 144}, "144p=176x144"},
		{"odd tiny", Source{Width: 161, Height: 99}, "100p=162x100"},
		{"360p exactly", Source{Width: 640, Height: 360}, "360p=640x360,234p=416x234"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Select(def, c.src)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != c.want {
				t.Errorf("got  %s\nwant %s", names(got), c.want)
			}
			for _, r := range got {
				if r.Width%2 != 0 || r.Height%2 != 0 {
					t.Errorf("odd dimension %dx%d", r.Width, r.Height)
				}
			}
		})
	}
}

func TestSelectRejectsEmptySource(t *testing.T) {
	if _, err := Select(Default().Normalize(), Source{}); err == nil {
		t.Fatal("want error for 0x0 source")
	}
}

func TestParse(t *testing.T) {
	l, err := Parse([]byte(`{"rungs":[{"height":480,"bitrate":1000000}],"segment_seconds":2}`))
	if err != nil {
		t.Fatal(err)
	}
	r := l.Rungs[0]
	if r.Name != "480p" || r.Codec != CodecH264 || r.Preset != DefaultPreset || r.MaxRate != 1500000 || r.BufSize != 2000000 {
		t.Errorf("defaults not applied: %+v", r)
	}
	if l.SegmentSeconds != 2 || l.ChunkSegments != 0 || l.Mode != ModeFixed {
		t.Errorf("ladder defaults: %+v", l)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		`{"rungs":[{"height":480,"bitrate":1}]}`:                                       "bitrate must be",
		`{"rungs":[{"height":480,"bitrate":1000000,"codec":"vp8"}]}`:                   "codec \"vp8\" is not supported",
		`{"rungs":[{"height":480,"bitrate":1000000,"preset":"warp"}]}`:                 "preset",
		`{"rungs":[{"height":480,"bitrate":1000000},{"height":480,"bitrate":900000}]}`: "used twice",
		`{"rungs":[{"name":"../x","height":480,"bitrate":1000000}]}`:                   "name",
		`{"rungs":[{"height":480,"bitrate":1000000}],"bogus":1}`:                       "unknown field",
		`{"rungs":[{"height":480,"bitrate":1000000}],"segment_seconds":0.1}`:           "segment_seconds",
		`{"rungs":[{"height":480,"bitrate":1000000,"maxrate":10}]}`:                    "maxrate",
		`{"rungs":[{"height":480,"bitrate":1000000}]} {}`:                              "trailing",
		`{"rungs":[{"height":480,"bitrate":1000000}],"preroll_seconds":-1}`:            "preroll_seconds",
		`{"rungs":[{"height":480,"bitrate":1000000}],"preroll_seconds":11}`:            "preroll_seconds",
		`{"rungs":[{"height":480,"bitrate":1000000}],"priority":"urgent"}`:             "priority \"urgent\"",
		`not json`: "invalid JSON",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want error containing %q", in, err, want)
		}
	}
}

func TestPriority(t *testing.T) {
	for in, want := range map[string]string{`"high"`: PriorityHigh, `"normal"`: "", `"low"`: PriorityLow, `""`: ""} {
		l, err := Parse([]byte(`{"rungs":[{"height":480,"bitrate":1000000}],"priority":` + in + `}`))
		if err != nil || l.Priority != want {
			t.Errorf("priority %s: %q %v, want %q", in, l.Priority, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"rungs":[{"height":480,"bitrate":1000000}]}`))
	f.Add([]byte(`{"rungs":[{"name":"a","height":4320,"width":7680,"bitrate":100000000}],"chunk_segments":150}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			return
		}
		rs, err := Select(l, Source{Width: 1920, Height: 1080})
		if err != nil || len(rs) == 0 {
			t.Fatalf("valid ladder selected nothing: %v", err)
		}
		for _, r := range rs {
			if r.Width%2 != 0 || r.Height%2 != 0 || r.Width <= 0 {
				t.Fatalf("bad rung %+v", r)
			}
		}
	})
}

func TestCodecs(t *testing.T) {
	l, err := Parse([]byte(`{"rungs":[{"height":720,"bitrate":3000000},{"codec":"hevc","height":720,"bitrate":2000000},` +
		`{"codec":"vp9","height":720,"bitrate":2000000,"crf":30},{"codec":"av1","height":360,"bitrate":500000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := l.Rungs
	if r[0].Name != "720p" || r[1].Name != "720p-hevc" || r[1].Profile != "main" || r[1].CRF != 28 || r[2].CRF != 30 || r[2].Profile != "0" || r[3].CRF != 35 {
		t.Errorf("normalized: %+v", r)
	}
	sel, err := Select(l, Source{Width: 1920, Height: 1080})
	if err != nil || len(sel) != 4 || sel[0].Codec != CodecH264 || sel[1].Codec != CodecHEVC || sel[3].Codec != CodecAV1 {
		t.Errorf("select: %+v %v", sel, err)
	}
	// Nothing fits a tiny source: one rung per codec at its size.
	sel, err = Select(l, Source{Width: 160, Height: 90})
	if err != nil || len(sel) != 4 || sel[2].Name != "90p-vp9" || sel[2].Width != 160 {
		t.Errorf("fallback: %+v %v", sel, err)
	}
	for _, bad := range []string{
		`{"rungs":[{"codec":"mpeg2","height":720,"bitrate":3000000}]}`,
		`{"rungs":[{"codec":"hevc","height":720,"bitrate":3000000,"profile":"high"}]}`,
		`{"rungs":[{"codec":"vp9","height":720,"bitrate":3000000,"crf":64}]}`,
		`{"rungs":[{"height":720,"bitrate":3000000,"crf":52}]}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestHDRRungs(t *testing.T) {
	l := Ladder{Rungs: []Rung{{Codec: CodecHEVC, Height: 720, Bitrate: 3000000, HDR: true}, {Height: 720, Bitrate: 3000000},
		{Codec: CodecAV1, Height: 720, Bitrate: 2000000, HDR: true}}}.Normalize()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := l.Rungs[0]; r.Name != "720p-hevc-hdr" || r.Profile != "main10" {
		t.Errorf("HDR HEVC rung defaults: %+v", r)
	}
	sdr, err := Select(l, Source{Width: 1280, Height: 720})
	if err != nil || len(sdr) != 1 || sdr[0].HDR {
		t.Errorf("SDR source: %+v %v; want the SDR rung alone", sdr, err)
	}
	hdr, err := Select(l, Source{Width: 1280, Height: 720, HDR: true})
	if err != nil || len(hdr) != 3 || hdr[0].Codec != CodecH264 || !hdr[1].HDR || hdr[2].Codec != CodecAV1 {
		t.Errorf("HDR source: %+v %v", hdr, err)
	}
	for _, bad := range []string{
		`{"rungs":[{"codec":"h264","height":720,"bitrate":3000000,"hdr":true}]}`,
		`{"rungs":[{"codec":"vp9","height":720,"bitrate":3000000,"hdr":true}]}`,
		`{"rungs":[{"codec":"hevc","height":720,"bitrate":3000000,"hdr":true,"profile":"main"}]}`,
		`{"mode":"per-title","rungs":[{"codec":"hevc","height":720,"bitrate":3000000,"hdr":true}]}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "rungs[0]") {
			t.Errorf("%s: err %v", bad, err)
		}
	}
}

func TestPreroll(t *testing.T) {
	l, err := Parse([]byte(`{"rungs":[{"height":480,"bitrate":1000000}],"preroll_seconds":0}`))
	if err != nil || l.Preroll() != 0 {
		t.Errorf("preroll_seconds 0: %v %v", l.Preroll(), err)
	}
	l, _ = Parse([]byte(`{"rungs":[{"height":480,"bitrate":1000000}],"preroll_seconds":1.5}`))
	if l.Preroll() != 1.5 {
		t.Errorf("preroll_seconds 1.5: %v", l.Preroll())
	}
	// Unset: the longest default of the ladder's codecs.
	for _, codecs := range [][]string{{CodecH264}, {CodecH264, CodecVP9}, {CodecAV1, CodecHEVC}, Codecs} {
		var l Ladder
		want := 0.0
		for i, c := range codecs {
			l.Rungs = append(l.Rungs, Rung{Codec: c, Height: 360 + 2*i, Bitrate: 500000})
			want = max(want, DefaultPreroll[c])
		}
		if got := l.Normalize().Preroll(); got != want {
			t.Errorf("%v: preroll %v, want %v", codecs, got, want)
		}
	}
}

func TestValidateAudio(t *testing.T) {
	for _, tc := range []struct {
		audio string
		err   string
	}{
		{`[{"stream":1},{"stream":3,"language":"pt-BR","name":"Português","default":true}]`, ""},
		{`[{"stream":1},{"stream":1}]`, "listed twice"},
		{`[{"stream":-1}]`, "stream must be"},
		{`[{"stream":1,"language":"english please"}]`, "BCP 47"},
		{`[{"stream":1,"name":"a \"quoted\" name"}]`, "double quotes"},
		{`[{"stream":1,"default":true},{"stream":2,"default":true}]`, "at most one"},
	} {
		_, err := Parse([]byte(`{"rungs":[{"height":240,"bitrate":400000}],"audio":` + tc.audio + `}`))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("audio %s: %v, want %q", tc.audio, err, tc.err)
		}
	}
}

func TestValidateLoudness(t *testing.T) {
	for _, tc := range []struct {
		loudness string
		ceiling  float64
		err      string
	}{
		{`{"target":-16}`, -1, ""},
		{`{"target":-23,"true_peak":-2}`, -2, ""},
		{`{"target":-24,"true_peak":0}`, 0, ""},
		{`{}`, 0, "loudness.target must be"},
		{`{"target":-3}`, 0, "between -40 and -5 LUFS"},
		{`{"target":-16,"true_peak":1}`, 0, "loudness.true_peak must be"},
		{`{"target":-16,"true_peak":-12}`, 0, "between -9 and 0 dBTP"},
	} {
		l, err := Parse([]byte(`{"rungs":[{"height":240,"bitrate":400000}],"loudness":` + tc.loudness + `}`))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("loudness %s: %v, want %q", tc.loudness, err, tc.err)
			continue
		}
		if err == nil && l.Loudness.Ceiling() != tc.ceiling {
			t.Errorf("loudness %s: ceiling %g, want %g", tc.loudness, l.Loudness.Ceiling(), tc.ceiling)
		}
	}
}

// Options without rungs take the default ladder's rungs.
func TestNoRungsTakeTheDefault(t *testing.T) {
	l, err := Parse([]byte(`{"loudness":{"target":-23}}`))
	if err != nil || len(l.Rungs) != len(Default().Rungs) || l.Rungs[0].Name != "1080p" || l.Loudness.Target != -23 {
		t.Errorf("%+v %v", l, err)
	}
}

func TestValidateSubtitles(t *testing.T) {
	for _, tc := range []struct {
		subs string
		err  string
	}{
		{`[{"file":"fr.srt","language":"fr"},{"file":"Film (SDH).vtt","language":"en","sdh":true,"name":"English SDH","default":true}]`, ""},
		{`[{"file":"../etc/passwd","language":"fr"}]`, "no path"},
		{`[{"file":"a\u0000.srt","language":"fr"}]`, "no control characters"},
		{`[{"file":"fr.srt"}]`, "every subtitle file needs one"},
		{`[{"file":"fr.srt","language":"fr"},{"file":"fr.srt","language":"de"}]`, "listed twice"},
		{`[{"file":"a.srt","language":"fr","default":true},{"file":"b.srt","language":"de","default":true}]`, "at most one"},
		{`[{"file":"a.srt","language":"fr","name":"say \"hi\""}]`, "double quotes"},
	} {
		_, err := Parse([]byte(`{"rungs":[{"height":240,"bitrate":400000}],"subtitles":` + tc.subs + `}`))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("subtitles %s: %v, want %q", tc.subs, err, tc.err)
		}
	}
}

func TestValidateEncryption(t *testing.T) {
	for _, tc := range []struct {
		job string
		err string
	}{
		{`"rungs":[{"height":240,"bitrate":400000}],"encryption":{"scheme":"cbcs"}`, ""},
		{`"rungs":[{"codec":"hevc","height":240,"bitrate":400000}],"encryption":{"scheme":"cenc"}`, ""},
		{`"rungs":[{"codec":"vp9","height":240,"bitrate":400000}],"encryption":{"scheme":"aes-128"}`, ""},
		{`"rungs":[{"height":240,"bitrate":400000},{"codec":"av1","height":144,"bitrate":100000}],"encryption":{"scheme":"cenc"}`, "rungs[1] is av1"},
		{`"rungs":[{"height":240,"bitrate":400000}],"encryption":{"scheme":"sample-aes"}`, `not "cbcs", "cenc" or "aes-128"`},
		{`"rungs":[{"height":240,"bitrate":400000}],"encryption":{}`, `not "cbcs"`},
	} {
		_, err := Parse([]byte(`{` + tc.job + `}`))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.job, err, tc.err)
		}
	}
}
