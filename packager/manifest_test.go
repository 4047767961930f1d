package packager

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"testing"

	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/internal/golden"
)

func track(name string, w, h int, size int64, n int, last float64) Track {
	t := Track{Name: name, Codec: "h264", Codecs: "avc1.64001f", Width: w, Height: h, FrameRate: 30, Timescale: 90000, Init: "init.mp4"}
	for i := 0; i < n; i++ {
		d := 4.0
		if i == n-1 {
			d = last
		}
		t.Segments = append(t.Segments, Segment{URI: fmt.Sprintf("seg_%05d.m4s", i), Duration: d, Size: size + int64(i*1000)})
		t.IFrames = append(t.IFrames, Range{Offset: 76, Length: size / 5})
	}
	return t
}

func fixture() ([]Track, *Track) {
	video := []Track{track("720p", 1280, 720, 1500000, 4, 2.5), track("360p", 640, 360, 365000, 4, 2.5)}
	audio := Track{Name: "audio", Codecs: "mp4a.40.2", Channels: 2, Timescale: 48000, Init: "init.mp4"}
	for i, d := range []float64{4.010667, 3.989333, 4.010667, 2.48} {
		audio.Segments = append(audio.Segments, Segment{URI: fmt.Sprintf("seg_%05d.m4s", i), Duration: d, Size: 64000})
	}
	return video, &audio
}

func TestBandwidth(t *testing.T) {
	tr := Track{Segments: []Segment{{Duration: 4, Size: 500000}, {Duration: 4, Size: 1000000}, {Duration: 2, Size: 100000}}}
	peak, avg := tr.Bandwidth()
	if peak != 2000000 || avg != 1280000 {
		t.Errorf("peak %d avg %d", peak, avg)
	}
}

// TestBandwidthShortTail holds BANDWIDTH to RFC 8216bis 4.3.4.2 on a
// title whose last segment is two frames: a run of segments counts only
// when it lasts 0.5 to 1.5 target durations, so the runt's bits count with
// the segment before it, not as a whole segment's.
func TestBandwidthShortTail(t *testing.T) {
	tr := Track{Segments: []Segment{{Duration: 4, Size: 2000000}, {Duration: 4, Size: 2000000}, {Duration: 2.0 / 24, Size: 90000}}}
	peak, _ := tr.Bandwidth()
	// The heaviest qualifying runs: one whole segment (4 Mbit/s), or
	// the last segment with the runt: 2.09 MB over 4.083 s.
	if want := bitrate(2090000, 4+2.0/24); peak != want {
		t.Errorf("peak %d, want %d (single-segment peak would be %d)", peak, want, bitrate(90000, 2.0/24))
	}
	// Every run of 2 to 6 s: none has a higher rate than the peak.
	for i := range tr.Segments {
		var n int64
		var d float64
		for k := i; k < len(tr.Segments); k++ {
			n, d = n+tr.Segments[k].Size, d+tr.Segments[k].Duration
			if d >= 2 && d <= 6 && bitrate(n, d) > peak {
				t.Errorf("segments %d..%d: %d bit/s above the peak %d", i, k, bitrate(n, d), peak)
			}
		}
	}
	// A title shorter than half a target duration has its average.
	short := Track{Segments: []Segment{{Duration: 0.2, Size: 1000}, {Duration: 0.1, Size: 10000}}}
	if p, a := short.Bandwidth(); p != a {
		t.Errorf("short title: peak %d, average %d", p, a)
	}
}

// TestDASHBandwidth checks @bandwidth against the leaky bucket of ISO/IEC
// 23009-1 5.3.5.2 by simulating delivery at that rate from every segment
// start: no segment arrives after it is due, and 1% less bandwidth makes
// one late.
func TestDASHBandwidth(t *testing.T) {
	tr := Track{Segments: []Segment{{Duration: 4, Size: 400000}, {Duration: 4, Size: 2500000}, {Duration: 4, Size: 300000},
		{Duration: 4, Size: 2600000}, {Duration: 4.083, Size: 1000000}}}
	const minBuffer = 4.083
	late := func(bw float64) bool {
		for i := range tr.Segments {
			arrived, due := 0.0, minBuffer
			for k := i; k < len(tr.Segments); k++ {
				arrived += float64(tr.Segments[k].Size*8) / bw
				if arrived > due+1e-9 {
					return true
				}
				due += tr.Segments[k].Duration
			}
		}
		return false
	}
	bw := tr.DASHBandwidth(minBuffer)
	if late(float64(bw)) {
		t.Errorf("@bandwidth %d: a segment arrives late", bw)
	}
	if !late(float64(bw) * 0.99) {
		t.Errorf("@bandwidth %d is not the least that holds", bw)
	}
	peak, avg := tr.Bandwidth()
	if bw < avg || bw > peak {
		t.Errorf("@bandwidth %d outside average %d .. peak %d", bw, avg, peak)
	}
}

func TestManifestsGolden(t *testing.T) {
	video, audio := fixture()
	master := MasterPlaylist(video, []Track{*audio})
	golden.Equal(t, "master.m3u8", master)
	golden.Equal(t, "media.m3u8", MediaPlaylist(video[0]))
	golden.Equal(t, "manifest.mpd", MPD(video, []Track{*audio}))
	golden.Equal(t, "master_noaudio.m3u8", MasterPlaylist(video, nil))
	golden.Equal(t, "manifest_noaudio.mpd", MPD(video, nil))

	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(master), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("master does not parse: %v", err)
	}
	for _, v := range pl.(*m3u8.MasterPlaylist).Variants {
		if v.Codecs == "" || v.Resolution == "" || v.Bandwidth == 0 || v.AverageBandwidth == 0 {
			t.Errorf("variant %s lacks attributes: %+v", v.URI, v.VariantParams)
		}
	}
	segs, err := ParseMediaPlaylist(MediaPlaylist(video[0]))
	if err != nil || len(segs) != 4 || segs[3].Duration != 2.5 {
		t.Errorf("media playlist round trip: %v %+v", err, segs)
	}
	var mpd struct {
		Period struct {
			AdaptationSet []struct {
				Representation []struct {
					ID string `xml:"id,attr"`
				}
			}
		}
	}
	if err := xml.Unmarshal(MPD(video, []Track{*audio}), &mpd); err != nil {
		t.Fatalf("MPD does not parse: %v", err)
	}
	if n := len(mpd.Period.AdaptationSet); n != 2 {
		t.Errorf("adaptation sets: %d", n)
	}
}

func TestCodecFamilies(t *testing.T) {
	video, audio := fixture()
	vp9 := track("720p-vp9", 1280, 720, 1000000, 4, 2.5)
	vp9.Codec, vp9.Codecs = "vp9", "vp09.00.31.08"
	all := append(video, vp9)
	golden.Equal(t, "master_codecs.m3u8", MasterPlaylist(all, []Track{*audio}))
	golden.Equal(t, "manifest_codecs.mpd", MPD(all, []Track{*audio}))
	golden.Equal(t, "iframes.m3u8", IFramePlaylistFor(video[0]))
	if g := ByCodec(all); len(g) != 2 || len(g[0]) != 2 || g[1][0].Name != "720p-vp9" {
		t.Errorf("ByCodec: %v", g)
	}
	var mpd struct {
		Period struct {
			AdaptationSet []struct {
				ContentType    string `xml:"contentType,attr"`
				Representation []struct {
					Codecs string `xml:"codecs,attr"`
				}
			}
		}
	}
	if err := xml.Unmarshal(MPD(all, []Track{*audio}), &mpd); err != nil {
		t.Fatal(err)
	}
	if sets := mpd.Period.AdaptationSet; len(sets) != 3 || len(sets[0].Representation) != 2 || sets[1].Representation[0].Codecs != "vp09.00.31.08" || sets[2].ContentType != "audio" {
		t.Errorf("adaptation sets: %+v", sets)
	}
	pl, _, err := m3u8.Decode(*bytes.NewBuffer(MasterPlaylist(all, []Track{*audio})), true)
	if err != nil {
		t.Fatal(err)
	}
	var iframes int
	for _, v := range pl.(*m3u8.MasterPlaylist).Variants {
		if v.Iframe {
			iframes++
		}
	}
	if iframes != 3 {
		t.Errorf("%d I-frame variants, want 3", iframes)
	}
	peak, avg := video[0].IFrameBandwidth()
	if peak != int(math.Ceil(float64(300000*8)/2.5)) || avg <= 0 || avg > peak {
		t.Errorf("I-frame bandwidth %d/%d", peak, avg)
	}
}

func TestThumbnailsVTT(t *testing.T) {
	vtt := ThumbnailsVTT(Sprites{Count: 4, Interval: 2.002, Duration: 7.5, W: 160, H: 90, Cols: 2, Rows: 1,
		Sheet: func(i int) string { return fmt.Sprintf("sprite_%03d.jpg", i+1) }})
	golden.Equal(t, "thumbs.vtt", vtt)
}

func TestParseMediaPlaylistRejectsPaths(t *testing.T) {
	pl := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n../../etc/passwd\n#EXT-X-ENDLIST\n")
	if _, err := ParseMediaPlaylist(pl); err == nil {
		t.Fatal("accepted a segment URI with a path")
	}
}

func FuzzParseMediaPlaylist(f *testing.F) {
	video, _ := fixture()
	f.Add(MediaPlaylist(video[0]))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseMediaPlaylist(data) })
}

// TestHDRManifests: the SDR and HDR rungs of a PQ master are separate
// switching sets, HLS variants say their VIDEO-RANGE and the HDR
// adaptation set carries the BT.2020/PQ colour descriptors.
func TestHDRManifests(t *testing.T) {
	video, audio := fixture()
	sdr := video[1]
	sdr.VideoRange = "SDR"
	pq := track("720p-hevc-hdr", 1280, 720, 900000, 4, 2.5)
	pq.Codec, pq.Codecs, pq.VideoRange = "hevc", "hvc1.2.4.L120.90", "PQ"
	tracks := []Track{sdr, pq}
	if g := ByCodec(tracks); len(g) != 2 || g[1][0].Family() != "hevc_pq" {
		t.Errorf("families: %+v", g)
	}
	master := MasterPlaylist(tracks, []Track{*audio})
	golden.Equal(t, "master_hdr.m3u8", master)
	mpd := MPD(tracks, []Track{*audio})
	golden.Equal(t, "manifest_hdr.mpd", mpd)
	for _, want := range []string{"VIDEO-RANGE=PQ", "VIDEO-RANGE=SDR"} {
		if !bytes.Contains(master, []byte(want)) {
			t.Errorf("master playlist lacks %s", want)
		}
	}
	if bytes.Count(mpd, []byte(`cicp:TransferCharacteristics" value="16"`)) != 1 {
		t.Errorf("MPD lacks the PQ transfer descriptor once:\n%s", mpd)
	}
}
