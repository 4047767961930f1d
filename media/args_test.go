package media

import (
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/golden"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

func lines(args []string) []byte { return []byte(strings.Join(args, "\n") + "\n") }

func TestEncodeArgsGolden(t *testing.T) {
	rungs, err := ladder.Select(ladder.Default().Normalize(), ladder.Source{Width: 1920, Height: 1080})
	if err != nil {
		t.Fatal(err)
	}
	cfr := ConformFor(VideoInfo{Width: 1920, Height: 1080, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 30000, Den: 1001},
		AvgFrameRate: timeline.Rational{Num: 30000, Den: 1001}, PixFmt: "yuv420p", FieldOrder: "progressive"}, "")
	spec := EncodeSpec{
		ConcatList: "/w/pieces.ffconcat", Conform: cfr, Window: timeline.Window{Start: 3.983333, End: 15.983333},
		SegmentSeconds: 4, Rungs: rungs[:3],
		Outputs: []string{"/w/1080p.mp4", "/w/720p.mp4", "/w/540p.mp4"},
	}
	golden.Equal(t, "encode_3rungs.args", lines(EncodeArgs(spec)))

	// An interlaced, anamorphic, full-range 50i master, last chunk.
	dv := ConformFor(VideoInfo{Width: 720, Height: 576, SAR: timeline.Rational{Num: 64, Den: 45}, FrameRate: timeline.Rational{Num: 25, Den: 1},
		AvgFrameRate: timeline.Rational{Num: 25, Den: 1}, PixFmt: "yuvj422p", FieldOrder: "tt"}, "")
	spec.Conform, spec.Window, spec.Rungs, spec.Outputs = dv, timeline.Window{Start: 11.98}, rungs[4:], []string{"/w/234p.mp4"}
	golden.Equal(t, "encode_1rung_last.args", lines(EncodeArgs(spec)))

	// A variable-rate 120 fps portrait phone clip with HEVC and VP9 rungs.
	phone := ConformFor(VideoInfo{Width: 1920, Height: 1080, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 120, Den: 1},
		AvgFrameRate: timeline.Rational{Num: 11700, Den: 100}, PixFmt: "yuv420p", ColorSpace: "bt709", Rotation: 90}, "")
	multi := ladder.Ladder{Rungs: []ladder.Rung{{Codec: ladder.CodecHEVC, Height: 720, Bitrate: 2000000}, {Codec: ladder.CodecVP9, Height: 360, Bitrate: 700000}}}.Normalize()
	mr, err := ladder.Select(multi, ladder.Source{Width: phone.DisplayWidth, Height: phone.DisplayHeight})
	if err != nil {
		t.Fatal(err)
	}
	spec = EncodeSpec{ConcatList: "/w/pieces.ffconcat", Conform: phone, Window: timeline.Window{Base: 8.008, FirstSlot: 480, EndSlot: 720},
		SegmentSeconds: 4, Rungs: mr, Outputs: []string{"/w/a.mp4", "/w/b.mp4"}}
	golden.Equal(t, "encode_vfr_codecs.args", lines(EncodeArgs(spec)))

	// A PQ master: an SDR H.264 rung tone-mapped, an HDR HEVC rung and an
	// HDR AV1 rung from one 10-bit branch.
	pq := ConformFor(VideoInfo{Width: 3840, Height: 2160, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 24, Den: 1},
		AvgFrameRate: timeline.Rational{Num: 24, Den: 1}, PixFmt: "yuv420p10le", ColorSpace: "bt2020nc", ColorTransfer: "smpte2084", ColorPrimaries: "bt2020"}, "")
	hdr := ladder.Ladder{Rungs: []ladder.Rung{{Height: 1080, Bitrate: 5000000}, {Codec: ladder.CodecHEVC, Height: 2160, Bitrate: 12000000, HDR: true},
		{Codec: ladder.CodecAV1, Height: 1080, Bitrate: 3000000, HDR: true}}}.Normalize()
	hr, err := ladder.Select(hdr, ladder.Source{Width: 3840, Height: 2160, HDR: true})
	if err != nil || len(hr) != 3 {
		t.Fatalf("HDR rungs %+v: %v", hr, err)
	}
	spec = EncodeSpec{ConcatList: "/w/pieces.ffconcat", Conform: pq, Window: timeline.Window{Start: 0, End: 11.98},
		SegmentSeconds: 4, Rungs: hr, Outputs: []string{"/w/1080p.mp4", "/w/2160p-hevc-hdr.mp4", "/w/1080p-av1-hdr.mp4"}}
	golden.Equal(t, "encode_hdr.args", lines(EncodeArgs(spec)))
}

func TestConformFor(t *testing.T) {
	cases := []struct {
		name string
		v    VideoInfo
		want timeline.Conform
	}{
		{"hd progressive", VideoInfo{Width: 1280, Height: 720, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 20, Den: 1}, AvgFrameRate: timeline.Rational{Num: 20, Den: 1}, PixFmt: "yuv444p"},
			timeline.Conform{InputRate: timeline.Rational{Num: 20, Den: 1}, Rate: timeline.Rational{Num: 20, Den: 1}, Decimate: 1, InRange: "tv", InMatrix: "bt709", DisplayWidth: 1280, DisplayHeight: 720}},
		{"dvd anamorphic interlaced", VideoInfo{Width: 720, Height: 480, SAR: timeline.Rational{Num: 32, Den: 27}, FrameRate: timeline.Rational{Num: 30000, Den: 1001}, AvgFrameRate: timeline.Rational{Num: 30000, Den: 1001}, FieldOrder: "bb"},
			timeline.Conform{InputRate: timeline.Rational{Num: 30000, Den: 1001}, Rate: timeline.Rational{Num: 30000, Den: 1001}, Decimate: 1, Deinterlace: "bff", InRange: "tv", InMatrix: "bt601", DisplayWidth: 853, DisplayHeight: 480}},
		{"high speed", VideoInfo{Width: 1280, Height: 720, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 240, Den: 1}, AvgFrameRate: timeline.Rational{Num: 240, Den: 1}},
			timeline.Conform{InputRate: timeline.Rational{Num: 240, Den: 1}, Rate: timeline.Rational{Num: 60, Den: 1}, Decimate: 4, InRange: "tv", InMatrix: "bt709", DisplayWidth: 1280, DisplayHeight: 720}},
		{"100 fps", VideoInfo{Width: 640, Height: 360, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 100, Den: 1}, AvgFrameRate: timeline.Rational{Num: 100, Den: 1}},
			timeline.Conform{InputRate: timeline.Rational{Num: 100, Den: 1}, Rate: timeline.Rational{Num: 50, Den: 1}, Decimate: 2, InRange: "tv", InMatrix: "bt601", DisplayWidth: 640, DisplayHeight: 360}},
		{"phone vfr portrait full range", VideoInfo{Width: 1920, Height: 1080, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 30, Den: 1}, AvgFrameRate: timeline.Rational{Num: 2650, Den: 100}, ColorRange: "pc", ColorSpace: "smpte170m", Rotation: 270},
			timeline.Conform{InputRate: timeline.Rational{Num: 30, Den: 1}, Rate: timeline.Rational{Num: 30, Den: 1}, Decimate: 1, VFR: true, Rotate: 270, InRange: "pc", InMatrix: "bt601", DisplayWidth: 1080, DisplayHeight: 1920}},
		{"gaps but equal rates", VideoInfo{Width: 320, Height: 240, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 30, Den: 1}, AvgFrameRate: timeline.Rational{Num: 30, Den: 1}, Duration: 10, Frames: 250},
			timeline.Conform{InputRate: timeline.Rational{Num: 30, Den: 1}, Rate: timeline.Rational{Num: 30, Den: 1}, Decimate: 1, VFR: true, InRange: "tv", InMatrix: "bt601", DisplayWidth: 320, DisplayHeight: 240}},
	}
	hdr := func(transfer, want string) {
		c := ConformFor(VideoInfo{Width: 1920, Height: 1080, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 25, Den: 1},
			AvgFrameRate: timeline.Rational{Num: 25, Den: 1}, PixFmt: "yuv420p10le", ColorSpace: "bt2020nc", ColorTransfer: transfer, ColorPrimaries: "bt2020"}, "")
		if c.HDR != want || (want != "" && (c.InPrimaries != "bt2020" || c.InMatrix != "bt2020")) {
			t.Errorf("transfer %s: conform %+v, want HDR %q", transfer, c, want)
		}
	}
	hdr("smpte2084", timeline.TransferPQ)
	hdr("arib-std-b67", timeline.TransferHLG)
	hdr("bt709", "")
	for _, c := range cases {
		if got := ConformFor(c.v, ""); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	if c := ConformFor(VideoInfo{Width: 720, Height: 576, SAR: timeline.Rational{Num: 1, Den: 1}, FrameRate: timeline.Rational{Num: 25, Den: 1}, FieldOrder: "unknown"}, "tff"); c.Deinterlace != "tff" {
		t.Errorf("measured field order ignored: %+v", c)
	}
}

func TestOtherArgsGolden(t *testing.T) {
	golden.Equal(t, "split.args", lines(SplitArgs("http://s3/m?X-Amz=1&b=2", []float64{12.012, 24.024}, "/w/piece_%05d.mkv", "/w/pieces.csv")))
	golden.Equal(t, "audio.args", lines(AudioTracksArgs("http://s3/m", 0.54, 7.6, 4, []AudioOut{{Stream: 2, Codec: "aac", Channels: 2, Bitrate: 128000,
		Playlist: "/w/a/index.m3u8", InitName: "init.mp4", SegPattern: "/w/a/seg_%05d.m4s"}}, false)))
	golden.Equal(t, "package.args", lines(PackageArgs("/w/720p.ffconcat", 4, "/w/720p/ffmpeg.m3u8", "init.mp4", "/w/720p/seg_%05d.m4s")))
	golden.Equal(t, "probe.args", lines(ProbeArgs("http://s3/m")))
}

func TestEncodeArgsSeek(t *testing.T) {
	spec := EncodeSpec{MasterURL: "https://s3.example/master.mp4?X-Amz-Signature=abc", Seek: 3.050333,
		Conform: timeline.Conform{Rate: timeline.Rational{Num: 30, Den: 1}}, Window: timeline.Window{Start: 1, End: 9},
		SegmentSeconds: 4, Preroll: 120, Rungs: []ladder.Rung{{Codec: ladder.CodecH264, Width: 640, Height: 360, Preset: "veryfast", Profile: "high", CRF: 23}},
		Outputs: []string{"/w/360p.mp4"}}
	args := strings.Join(EncodeArgs(spec), " ")
	for _, want := range []string{"-ss 3.050333 ", "-noaccurate_seek", "-noautorotate", "-protocol_whitelist " + InputProtocols, "-format_whitelist " + MasterFormats,
		"-i https://s3.example/master.mp4?X-Amz-Signature=abc", "trim=end=9.000000:start=1.000000"} {
		if !strings.Contains(args, want) {
			t.Errorf("encode args lack %q:\n%s", want, args)
		}
	}
	if i, j := strings.Index(args, "-ss "), strings.Index(args, " -i "); i < 0 || i > j {
		t.Errorf("-ss is not an input option:\n%s", args)
	}
	spec.Seek = 0
	if args := strings.Join(EncodeArgs(spec), " "); strings.Contains(args, "-ss ") || strings.Contains(args, "concat") {
		t.Errorf("a chunk read from the master's start seeks or reads pieces:\n%s", args)
	}
}
