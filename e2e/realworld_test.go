package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// realWorld is a synthetic master with a property real uploads have, what
// the job must make of it, and the ladder it is sent with.
type realWorld struct {
	name string
	file string   // master file name; the extension picks the container
	args []string // ffmpeg arguments that make it
	// remux, when set, are the arguments of a second ffmpeg run that
	// copies the streams and adds what an encode cannot (rotation tags).
	remux []string
	// mangle, when set, rewrites the master as real files break it
	// (timestamps lost or reset) and returns the path of the result.
	mangle func(t *testing.T, master string) string
	ladder string
	seg    float64 // the ladder's segment length
	audio  bool
	// check looks at the probed source and the finished job.
	check func(t *testing.T, v pipeline.View)
	// samePictures compares every frame of the lowest rung with the
	// master as ffmpeg itself decodes it (rotation applied, range and
	// matrix converted): not for masters whose frames Reel must retime
	// or deinterlace.
	samePictures bool
}

func lavfi(src string) []string { return []string{"-f", "lavfi", "-i", src} }

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var sine = lavfi("sine=frequency=440:sample_rate=48000")

func realWorldCases() []realWorld {
	two := func(h1, h2 int) string {
		return `{"rungs":[{"height":` + strconv.Itoa(h1) + `,"bitrate":900000},{"height":` + strconv.Itoa(h2) + `,"bitrate":200000}],"chunk_segments":1,"segment_seconds":2}`
	}
	return []realWorld{
		{
			name: "variable frame rate with gaps", file: "phone.mp4", seg: 2, audio: true,
			// 30 fps with 0.7 s and 0.4 s of frames missing, audio whole.
			args: join(lavfi("testsrc2=size=320x240:rate=30"), sine, []string{"-t", "9",
				"-vf", "select='not(between(t,2,2.7))*not(between(t,5.5,5.9))'", "-fps_mode", "vfr",
				"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac"}),
			ladder: two(240, 120),
			check: func(t *testing.T, v pipeline.View) {
				c := v.Source.Conform
				if !c.VFR || c.Rate.Float() != 30 || !hasNote(v, "variable frame rate") {
					t.Errorf("conform %+v notes %q", c, v.Source.Notes)
				}
			},
		},
		{
			name: "interlaced MPEG-2, anamorphic 16:9", file: "dvd.mpg", seg: 2, audio: true,
			args: join(lavfi("testsrc2=size=720x576:rate=50"), sine, []string{"-t", "6",
				"-vf", "interlace=scan=tff", "-c:v", "mpeg2video", "-b:v", "6M", "-flags", "+ildct+ilme", "-top", "1",
				"-aspect", "16:9", "-c:a", "mp2"}),
			ladder: two(540, 234),
			check: func(t *testing.T, v pipeline.View) {
				c := v.Source.Conform
				if c.Deinterlace != "tff" || c.DisplayWidth != 1024 || c.DisplayHeight != 576 || c.Rate.Float() != 25 {
					t.Errorf("conform %+v", c)
				}
				if r := v.Renditions[0]; r.Width != 960 || r.Height != 540 {
					t.Errorf("top rung %dx%d, want 960x540", r.Width, r.Height)
				}
			},
		},
		{
			name: "DV PAL 4:3, bottom field first", file: "tape.avi", seg: 2, audio: true,
			args: join(lavfi("testsrc2=size=720x576:rate=50"), sine, []string{"-t", "5",
				"-vf", "interlace=scan=bff", "-c:v", "dvvideo", "-pix_fmt", "yuv420p", "-aspect", "4:3",
				"-c:a", "pcm_s16le", "-ar", "48000"}),
			ladder: two(540, 234),
			check: func(t *testing.T, v pipeline.View) {
				c := v.Source.Conform
				if c.Deinterlace != "bff" || c.DisplayWidth != 768 || c.DisplayHeight != 576 {
					t.Errorf("conform %+v", c)
				}
				if r := v.Renditions[0]; r.Width != 720 || r.Height != 540 {
					t.Errorf("top rung %dx%d, want 720x540", r.Width, r.Height)
				}
			},
		},
		{
			name: "interlaced without field flags (measured)", file: "fields.avi", seg: 2,
			args: join(lavfi("testsrc2=size=352x288:rate=50"), []string{"-t", "5",
				"-vf", "interlace=scan=bff", "-c:v", "mjpeg", "-q:v", "3"}),
			ladder: two(288, 144),
			check: func(t *testing.T, v pipeline.View) {
				if c := v.Source.Conform; c.Deinterlace != "bff" || !hasNote(v, "measured with idet") {
					t.Errorf("conform %+v notes %q", c, v.Source.Notes)
				}
			},
		},
		{
			name: "MPEG program stream, video packets without timestamps", file: "vcd.mpg", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=352x240:rate=30000/1001"), sine, []string{"-t", "6",
				"-c:v", "mpeg2video", "-b:v", "2M", "-g", "15", "-bf", "2", "-c:a", "mp2", "-f", "vob"}),
			mangle: stripVideoPTS,
			ladder: two(240, 120),
			check: func(t *testing.T, v pipeline.View) {
				if v.Source.Frames != 180 || v.Renditions[0].Frames != 180 {
					t.Errorf("source %d frames, rung %d; want 180", v.Source.Frames, v.Renditions[0].Frames)
				}
			},
		},
		splicedTS("MPEG-TS capture whose clock resets mid-stream", "reset.ts", "0", two(240, 120)),
		splicedTS("MPEG-TS capture whose clock jumps 3 s ahead", "jump.ts", "3", two(240, 120)),
		{
			name: "non-square pixels 16:11", file: "cif.mp4", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=352x288:rate=25"), sine, []string{"-t", "5",
				"-vf", "setsar=16/11", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}),
			ladder: two(288, 144),
			check: func(t *testing.T, v pipeline.View) {
				if r := v.Renditions[0]; r.Width != 512 || r.Height != 288 || !hasNote(v, "pixel aspect 16/11") {
					t.Errorf("top rung %dx%d, want 512x288", r.Width, r.Height)
				}
			},
		},
		{
			name: "portrait phone video with rotation metadata", file: "portrait.mov", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=320x240:rate=30"), sine, []string{"-t", "5",
				"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}),
			remux:  []string{"-c", "copy", "-metadata:s:v:0", "rotate=90"},
			ladder: two(320, 160),
			check: func(t *testing.T, v pipeline.View) {
				if v.Source.Conform.Rotate == 0 {
					t.Errorf("rotation not found: %+v", v.Source)
				}
				if r := v.Renditions[0]; r.Width != 240 || r.Height != 320 {
					t.Errorf("top rung %dx%d, want portrait 240x320", r.Width, r.Height)
				}
			},
		},
		{
			name: "120 fps high-speed camera", file: "fast.mp4", seg: 2,
			args: join(lavfi("testsrc2=size=320x240:rate=120"), []string{"-t", "4",
				"-c:v", "libx264", "-preset", "ultrafast"}),
			ladder: two(240, 120),
			check: func(t *testing.T, v pipeline.View) {
				if c := v.Source.Conform; c.Rate.Float() != 60 || c.Decimate != 2 || v.Renditions[0].Frames != 240 {
					t.Errorf("conform %+v, %d frames", c, v.Renditions[0].Frames)
				}
			},
		},
		{
			name: "full-range MJPEG 4:2:2, odd size", file: "mjpeg.avi", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=321x241:rate=25"), sine, []string{"-t", "5",
				"-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-q:v", "2", "-c:a", "pcm_s16le"}),
			ladder: two(240, 120),
			check: func(t *testing.T, v pipeline.View) {
				if c := v.Source.Conform; c.InRange != "pc" || c.Deinterlace != "" {
					t.Errorf("conform %+v", c)
				}
			},
		},
		{
			name: "ProRes 4444 10-bit, two audio streams, subtitles and timecode", file: "prores.mov", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=320x240:rate=24"), sine, lavfi("sine=frequency=1000:sample_rate=48000"),
				lavfi("anullsrc=channel_layout=5.1:sample_rate=48000"),
				[]string{"-f", "srt", "-i", "SUBS", "-t", "5", "-map", "0:v", "-map", "1:a", "-map", "3:a", "-map", "4:s",
					"-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuv444p10le", "-c:a", "pcm_s16le", "-c:s", "mov_text",
					"-disposition:a:0", "0", "-disposition:a:1", "default", "-timecode", "01:00:00:00"}),
			ladder: two(240, 120),
			check: func(t *testing.T, v pipeline.View) {
				s := v.Source
				if s.AudioStreams != 2 || s.AudioStream != 2 || s.AudioChans != 6 || len(s.AudioTracks) != 2 || !hasNote(v, "5.1 E-AC-3") || len(s.Ignored) < 1 {
					t.Errorf("audio stream %d of %d (%d channels), ignored %v, notes %q", s.AudioStream, s.AudioStreams, s.AudioChans, s.Ignored, s.Notes)
				}
				// The mov_text subtitles become a WebVTT track.
				if len(v.TextTracks) != 1 || v.TextTracks[0].Cues != 2 || !hasNote(v, "subtitle stream 3 (mov_text, default): a WebVTT track, 2 cues") {
					t.Errorf("text tracks %+v, notes %q", v.TextTracks, s.Notes)
				}
				// Both streams become stereo AAC; the 5.1 one, default, also 5.1 E-AC-3.
				var got []string
				for _, a := range v.AudioTracks {
					got = append(got, fmt.Sprintf("%s:%s:%d:%v", a.Name, a.Codec, a.Channels, a.Default))
				}
				if strings.Join(got, " ") != "audio_0:aac:2:false audio_1:aac:2:true audio_1_51:eac3:6:true" {
					t.Errorf("audio renditions %v", got)
				}
			},
		},
		{
			name: "shorter than one segment", file: "short.mp4", seg: 4, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=320x240:rate=25"), sine, []string{"-t", "1",
				"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}),
			ladder: `{"rungs":[{"height":240,"bitrate":500000}]}`,
			check: func(t *testing.T, v pipeline.View) {
				if v.Renditions[0].Frames != 25 || v.Progress.ChunksTotal != 1 {
					t.Errorf("%d frames in %d chunks", v.Renditions[0].Frames, v.Progress.ChunksTotal)
				}
			},
		},
		{
			name: "long master, many chunks", file: "long.mp4", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=160x90:rate=10"), sine, []string{"-t", "60",
				"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-c:a", "aac"}),
			ladder: `{"rungs":[{"height":90,"bitrate":150000}],"segment_seconds":2,"chunk_segments":2}`,
			check: func(t *testing.T, v pipeline.View) {
				if v.Progress.ChunksTotal != 15 || v.Renditions[0].Frames != 600 {
					t.Errorf("%d frames in %d chunks", v.Renditions[0].Frames, v.Progress.ChunksTotal)
				}
			},
		},
		{
			name: "H.264, HEVC, VP9 and AV1 in one job", file: "codecs.mp4", seg: 2, audio: true, samePictures: true,
			args: join(lavfi("testsrc2=size=320x240:rate=24"), sine, []string{"-t", "5",
				"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}),
			ladder: `{"rungs":[{"height":240,"bitrate":600000},{"height":120,"bitrate":200000},` +
				`{"codec":"hevc","height":240,"bitrate":400000},{"codec":"vp9","height":240,"bitrate":400000},` +
				`{"codec":"av1","height":240,"bitrate":300000}],"chunk_segments":1,"segment_seconds":2}`,
			check: checkCodecs,
		},
	}
}

func hasNote(v pipeline.View, s string) bool {
	for _, n := range v.Source.Notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// checkCodecs holds a multi-codec job to its manifests: a master playlist
// per codec family holding only that family, and codec strings that name
// the family.
func checkCodecs(t *testing.T, v pipeline.View) {
	t.Helper()
	if len(v.Outputs.HLSByCodec) != len(codecPrefix) {
		t.Fatalf("per-codec playlists: %v", v.Outputs.HLSByCodec)
	}
	for codec, url := range v.Outputs.HLSByCodec {
		_, body := get(t, url)
		pl, _, err := m3u8.Decode(*bytes.NewBuffer(body), true)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		for _, vr := range pl.(*m3u8.MasterPlaylist).Variants {
			if !strings.HasPrefix(vr.Codecs, codecPrefix[codec]) {
				t.Errorf("%s playlist lists %s", codec, vr.Codecs)
			}
		}
	}
}

func TestRealWorldMasters(t *testing.T) {
	s := startStack(t)
	for _, c := range realWorldCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := c.args
			for i, a := range args {
				if a == "SUBS" {
					args = append([]string{}, args...)
					args[i] = writeSubs(t, dir)
				}
			}
			master := testenv.Generate(t, filepath.Join(dir, c.file), args...)
			if c.remux != nil {
				master = testenv.Generate(t, filepath.Join(dir, "remuxed-"+c.file), append([]string{"-i", master}, c.remux...)...)
			}
			if c.mangle != nil {
				master = c.mangle(t, master)
			}
			id := s.submit(t, master, c.ladder)
			if code, out := s.watch(t, id); code != 0 {
				t.Fatalf("reel watch exit %d:\n%s\nlog:\n%s", code, out, s.logText())
			}
			v := s.job(t, id)
			t.Logf("notes: %q", v.Source.Notes)
			verify(t, v, master, c.audio, c.seg)
			c.check(t, v)
			playBoth(t, v)
			if c.samePictures {
				low := v.Renditions[len(v.Renditions)-1]
				for _, r := range v.Renditions {
					if r.Codec == "h264" {
						low = r
					}
				}
				base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
				got := minPSNR(t, base+low.Name+"/index.m3u8", master, low.Width, low.Height, v.Source.Conform)
				t.Logf("%s: lowest frame PSNR against the master as ffmpeg decodes it %.1f dB", low.Name, got)
				if got < 25 {
					t.Errorf("%s: lowest frame PSNR %.1f dB against the master: wrong orientation, aspect, range or frames", low.Name, got)
				}
			}
		})
	}
}

// stripVideoPTS removes the presentation and decode times of every video
// PES packet of an MPEG program stream but the first, as DVD, SVCD and VCD
// authoring and many capture cards leave them: the header keeps its
// length, the timestamp bytes becoming stuffing.
func stripVideoPTS(t *testing.T, master string) string {
	t.Helper()
	data, err := os.ReadFile(master)
	if err != nil {
		t.Fatal(err)
	}
	stripped := 0
	for i, seen := 0, false; ; i += 4 {
		k := bytes.Index(data[i:], []byte{0, 0, 1, 0xe0})
		if k < 0 {
			break
		}
		i += k
		if i+9 > len(data) || data[i+6]&0xc0 != 0x80 || data[i+7]&0xc0 == 0 {
			continue // not an MPEG-2 PES header with timestamps
		}
		if !seen {
			seen = true
			continue
		}
		n := 5
		if data[i+7]&0xc0 == 0xc0 {
			n = 10
		}
		data[i+7] &^= 0xc0
		for j := 0; j < n && i+9+j < len(data); j++ {
			data[i+9+j] = 0xff
		}
		stripped++
	}
	if stripped < 50 {
		t.Fatalf("only %d video PES timestamps found to strip", stripped)
	}
	out := strings.TrimSuffix(master, ".mpg") + "-nopts.mpg"
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// splicedTS is a 4 s, 25 fps MPEG-TS capture joined to itself across a
// clock reset (offset "0") or jump (offset seconds, spliceTS): the title
// must hold both halves, 200 frames, on one continuous timeline.
func splicedTS(name, file, offset, ladder string) realWorld {
	return realWorld{
		name: name, file: file, seg: 2, audio: true, ladder: ladder,
		args: join(lavfi("testsrc2=size=320x240:rate=25"), sine, []string{"-t", "4",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "mpegts"}),
		mangle: spliceTS(offset),
		check: func(t *testing.T, v pipeline.View) {
			if v.Renditions[0].Frames != 200 || v.Source.Conform.VFR || !hasNote(v, "timestamps jump") {
				t.Errorf("rung has %d frames (want both halves, 200); conform %+v, notes %q", v.Renditions[0].Frames, v.Source.Conform, v.Source.Notes)
			}
		},
	}
}

// spliceTS joins a transport stream with a copy of itself whose
// timestamps are offset by offset seconds (its own again for 0): a
// capture across a splice where the encoder's clock reset or jumped.
func spliceTS(offset string) func(t *testing.T, master string) string {
	return func(t *testing.T, master string) string {
		t.Helper()
		second := master
		if offset != "0" {
			second = testenv.Generate(t, strings.TrimSuffix(master, ".ts")+"-later.ts", "-i", master, "-map", "0", "-c", "copy", "-output_ts_offset", offset, "-f", "mpegts")
		}
		a, err := os.ReadFile(master)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(second)
		if err != nil {
			t.Fatal(err)
		}
		out := strings.TrimSuffix(master, ".ts") + "-spliced.ts"
		if err := os.WriteFile(out, append(a, b...), 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

func writeSubs(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "subs.srt")
	srt := "1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:02,500 --> 00:00:04,000\nWorld\n"
	if err := os.WriteFile(p, []byte(srt), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
