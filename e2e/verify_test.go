package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/timeline"
)

// codecPrefix is the RFC 6381 prefix each ladder codec must produce.
var codecPrefix = map[string]string{ladder.CodecH264: "avc1.", ladder.CodecHEVC: "hvc1.", ladder.CodecVP9: "vp09.", ladder.CodecAV1: "av01."}

// verify checks a completed job's published output against its master: the
// HLS and DASH manifests, every rung's frames and segments, the output
// format, audio/video sync, trick-play files, and the single-pass oracle.
func verify(t *testing.T, v pipeline.View, master string, wantAudio bool, segSeconds float64) {
	t.Helper()
	if v.Status != pipeline.StatusComplete || v.Outputs == nil || v.Source == nil {
		t.Fatalf("job %s: status %s error %+v", v.ID, v.Status, v.Error)
	}
	fps := v.Source.Conform.Rate.Float()
	if fps <= 0 || fps > timeline.MaxOutputRate {
		t.Errorf("output frame rate %s", v.Source.Conform.Rate)
	}
	_, master8 := get(t, v.Outputs.HLS)
	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(master8), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("master playlist does not parse: %v\n%s", err, master8)
	}
	// The variants with the AAC audio group (or none) are one per
	// rendition; each other audio group (E-AC-3 surround) repeats them.
	var variants, others, iframes []*m3u8.Variant
	for _, vr := range pl.(*m3u8.MasterPlaylist).Variants {
		switch {
		case vr.Iframe:
			iframes = append(iframes, vr)
		case vr.Audio == "" || vr.Audio == packager.AudioGroup:
			variants = append(variants, vr)
		default:
			others = append(others, vr)
		}
	}
	if len(variants) != len(v.Renditions) || len(iframes) != len(v.Renditions) || len(others)%len(v.Renditions) != 0 {
		t.Fatalf("%d variants (and %d of other audio groups) and %d I-frame variants for %d renditions:\n%s",
			len(variants), len(others), len(iframes), len(v.Renditions), master8)
	}
	for i, vr := range others {
		if want := variants[i%len(variants)]; vr.URI != want.URI || !strings.HasPrefix(vr.Codecs, v.Renditions[i%len(variants)].Codecs) {
			t.Errorf("variant %s of audio group %s: %+v, want the rendition of %s", vr.URI, vr.Audio, vr.VariantParams, want.URI)
		}
	}
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	var firstDurations []float64
	oracleFrames := oracle(t, v, master, segSeconds)
	for i, vr := range variants {
		r := v.Renditions[i]
		if !strings.HasPrefix(vr.Codecs, r.Codecs) || !strings.HasPrefix(r.Codecs, codecPrefix[r.Codec]) ||
			vr.Bandwidth == 0 || vr.AverageBandwidth == 0 || vr.Resolution != fmt.Sprintf("%dx%d", r.Width, r.Height) || vr.FrameRate == 0 {
			t.Errorf("variant %s (%s) lacks attributes: %+v", vr.URI, r.Codec, vr.VariantParams)
		}
		if wantAudio != strings.Contains(vr.Codecs, "mp4a.40.2") {
			t.Errorf("variant %s codecs %q (audio %v)", vr.URI, vr.Codecs, wantAudio)
		}
		if r.Quality == nil || r.Quality.PSNR < 20 || r.Quality.SSIM <= 0.5 || r.Quality.SSIM > 1 || r.Quality.Frames != r.Frames {
			t.Errorf("rendition %s quality %+v (frames %d)", r.Name, r.Quality, r.Frames)
		}
		_, body := get(t, base+vr.URI)
		mp, _, err := m3u8.Decode(*bytes.NewBuffer(body), true)
		if err != nil {
			t.Fatalf("%s does not parse: %v", vr.URI, err)
		}
		var durs []float64
		for _, s := range mp.(*m3u8.MediaPlaylist).Segments {
			if s != nil {
				durs = append(durs, s.Duration)
			}
		}
		// No runt segment, the last included: a short tail joins the
		// segment before it.
		for k, d := range durs {
			if d < segSeconds/2 && len(durs) > 1 {
				t.Errorf("%s: segment %d of %d lasts %.3f s, under half the %g s target", vr.URI, k, len(durs), d, segSeconds)
			}
		}
		if i == 0 {
			firstDurations = durs
		} else if fmt.Sprint(durs) != fmt.Sprint(firstDurations) {
			t.Errorf("segment durations differ across rungs:\n%s %v\n%s %v", variants[0].URI, firstDurations, vr.URI, durs)
		}
		n := ffprobeFrames(t, base+vr.URI)
		if n != oracleFrames || r.Frames != n {
			t.Errorf("rung %s has %d frames (job says %d), single-pass ffmpeg %d", vr.URI, n, r.Frames, oracleFrames)
		}
		checkFormat(t, base+vr.URI, r, v.Source.Conform.HDR)
		if v.Source.Conform.HDR != "" {
			want := "SDR"
			if r.HDR {
				want = strings.ToUpper(v.Source.Conform.HDR)
			}
			if !strings.Contains(string(master8), "VIDEO-RANGE="+want+",AUDIO") && !strings.Contains(string(master8), "VIDEO-RANGE="+want+"\n") {
				t.Errorf("%s: no VIDEO-RANGE=%s in the master playlist", r.Name, want)
			}
		}
		checkIFrames(t, base, iframes[i], r, len(durs))
		if i == 0 {
			dir := strings.TrimSuffix(base+vr.URI, "index.m3u8")
			checkHeaders(t, base+vr.URI, "application/vnd.apple.mpegurl", "max-age=10")
			checkHeaders(t, dir+"init.mp4", "video/mp4", "immutable")
			checkHeaders(t, dir+"seg_00000.m4s", "video/iso.segment", "immutable")
			checkCORS(t, dir+"seg_00000.m4s")
			if wantAudio {
				for _, a := range audioRenditions(v) {
					checkSync(t, base+a.Name+"/index.m3u8", base+vr.URI, float64(n)/fps, fps, audioFrame[a.Codec])
				}
			}
			checkBandwidth(t, base, vr, audioRenditions(v), wantAudio)
		}
	}
	checkHeaders(t, v.Outputs.HLS, "application/vnd.apple.mpegurl", "max-age=10")
	checkHeaders(t, v.Outputs.DASH, "application/dash+xml", "max-age=10")
	checkDASH(t, v, wantAudio, oracleFrames)
	checkTrickPlay(t, v, float64(oracleFrames)/fps)
	checkText(t, v)
}

// checkText checks each subtitle track of a title: one WebVTT segment per
// video segment, each mapping the title's timeline with X-TIMESTAMP-MAP,
// served as text/vtt, and the whole track DASH reads.
func checkText(t *testing.T, v pipeline.View) {
	t.Helper()
	if len(v.TextTracks) == 0 {
		return
	}
	base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
	_, video := get(t, base+v.Renditions[0].Name+"/index.m3u8")
	want := strings.Count(string(video), "#EXTINF:")
	for _, x := range v.TextTracks {
		_, pl := get(t, base+x.Name+"/index.m3u8")
		segs := regexp.MustCompile(`(?m)^seg_\d+\.vtt$`).FindAllString(string(pl), -1)
		if len(segs) != want || !strings.Contains(string(pl), "#EXT-X-ENDLIST") {
			t.Errorf("%s: %d WebVTT segments, want one per video segment (%d):\n%s", x.Name, len(segs), want, pl)
			continue
		}
		for _, sg := range segs {
			if _, body := get(t, base+x.Name+"/"+sg); !strings.HasPrefix(string(body), "WEBVTT\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:") {
				t.Errorf("%s/%s does not start with WEBVTT and its timestamp map:\n%s", x.Name, sg, body)
			}
		}
		checkHeaders(t, base+x.Name+"/"+segs[0], "text/vtt", "max-age=10")
		if _, whole := get(t, base+x.Name+"/whole.vtt"); strings.Count(string(whole), " --> ") != x.Cues {
			t.Errorf("%s/whole.vtt has %d cues, want %d", x.Name, strings.Count(string(whole), " --> "), x.Cues)
		}
	}
}

// oracleRow is one line of the oracle table TestMain prints.
type oracleRow struct {
	name                  string
	oracle                int64
	frames                []string
	chunked, single, diff float64
}

var oracleTable struct {
	sync.Mutex
	rows []oracleRow
}

func addOracleRow(v pipeline.View, frames int64, single float64) {
	row := oracleRow{name: v.Name, oracle: frames, single: single}
	for _, r := range v.Renditions {
		row.frames = append(row.frames, fmt.Sprintf("%s:%d", r.Name, r.Frames))
	}
	if q := v.Renditions[0].Quality; q != nil {
		row.chunked, row.diff = q.PSNR, q.PSNR-single
	}
	oracleTable.Lock()
	oracleTable.rows = append(oracleTable.rows, row)
	oracleTable.Unlock()
}

// printOracleTable writes the table of every master verified in this run.
func printOracleTable(w io.Writer) {
	oracleTable.Lock()
	defer oracleTable.Unlock()
	if len(oracleTable.rows) == 0 {
		return
	}
	fmt.Fprintln(w, "| master | single-pass frames | rung frames | top rung PSNR chunked | single-pass | difference | hls.js and dash.js played it |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	playedTable.Lock()
	defer playedTable.Unlock()
	for _, r := range oracleTable.rows {
		played := "not played"
		if ok, tried := playedTable.ok[r.name]; tried {
			played = map[bool]string{true: "yes", false: "NO"}[ok]
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.3f dB | %.3f dB | %+.3f dB | %s |\n", r.name, r.oracle, strings.Join(r.frames, " "), r.chunked, r.single, r.diff, played)
	}
}

// oracle encodes the job's top rung from the master in one ffmpeg run with
// the job's own conform and encoder settings, measures it the way the job
// measures its renditions, and holds the job to it: the chunked rung's
// PSNR against the source must be within 0.2 dB of the single-pass one.
// It returns the single-pass frame count.
func oracle(t *testing.T, v pipeline.View, master string, segSeconds float64) int64 {
	t.Helper()
	dir := t.TempDir()
	top := v.Renditions[0]
	out := filepath.Join(dir, "single.mp4")
	c := v.Source.Conform
	runTool(t, "ffmpeg", media.ReferenceArgs(master, c, v.Source.FirstSlot, segSeconds, []ladder.Rung{top.Rung}, []string{out})...)
	spec := media.QualitySpec{Master: master, Conform: c, Window: timeline.Window{FirstSlot: v.Source.FirstSlot}, Rungs: []ladder.Rung{top.Rung},
		Encoded: []string{out}, PSNRLogs: []string{filepath.Join(dir, "psnr.log")}, SSIMLogs: []string{filepath.Join(dir, "ssim.log")}}
	runTool(t, "ffmpeg", media.QualityArgs(spec)...)
	q, err := media.ReadQuality(spec.PSNRLogs[0], spec.SSIMLogs[0])
	if err != nil {
		t.Fatal(err)
	}
	frames := ffprobeFrames(t, out)
	t.Logf("%s: single-pass %d frames %.3f dB; chunked %d frames %.3f dB (SSIM %.4f)", top.Name, frames, q.PSNR(), top.Frames, top.Quality.PSNR, top.Quality.SSIM)
	if top.Quality == nil || math.Abs(top.Quality.PSNR-q.PSNR()) > 0.2 {
		t.Errorf("%s: chunked PSNR %+v, single-pass %.3f dB: more than 0.2 dB apart", top.Name, top.Quality, q.PSNR())
	}
	addOracleRow(v, frames, q.PSNR())
	return frames
}

func runTool(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
}

// checkFormat holds a rung to the output format: progressive, square
// pixels, 8-bit 4:2:0 limited range tagged BT.709, the conform's rate; an
// HDR rung of an HDR master (hdr: its transfer) 10-bit 4:2:0 tagged
// BT.2020 with the master's transfer.
func checkFormat(t *testing.T, url string, r pipeline.RenditionView, hdr string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=width,height,pix_fmt,color_range,color_space,color_transfer,color_primaries,sample_aspect_ratio,field_order",
		"-of", "default=noprint_wrappers=1", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	got := string(out)
	tags := []string{"pix_fmt=yuv420p\n", "color_range=tv\n", "color_space=bt709\n", "color_transfer=bt709\n", "color_primaries=bt709\n"}
	if r.HDR && hdr != "" {
		transfer := map[string]string{"pq": "smpte2084", "hlg": "arib-std-b67"}[hdr]
		tags = []string{"pix_fmt=yuv420p10le\n", "color_range=tv\n", "color_space=bt2020nc\n", "color_transfer=" + transfer + "\n", "color_primaries=bt2020\n"}
	}
	for _, want := range append([]string{fmt.Sprintf("width=%d\n", r.Width), fmt.Sprintf("height=%d\n", r.Height)}, tags...) {
		if !strings.Contains(got, want) {
			t.Errorf("%s: want %q in\n%s", url, strings.TrimSpace(want), got)
		}
	}
	// Encoders that write no field information leave it unknown; any
	// other value than progressive means interlaced output.
	if fo := regexp.MustCompile(`field_order=(\S+)`).FindStringSubmatch(got); fo == nil || (fo[1] != "progressive" && fo[1] != "unknown") {
		t.Errorf("%s: field order %v", url, fo)
	}
	if sar := regexp.MustCompile(`sample_aspect_ratio=(\S+)`).FindStringSubmatch(got); sar != nil && sar[1] != "1:1" && sar[1] != "N/A" {
		t.Errorf("%s: sample aspect %s", url, sar[1])
	}
}

// aacFrame is the duration of one AAC-LC frame at 48 kHz.
const aacFrame = 1024.0 / 48000

// audioFrame is the duration of one frame of each audio encoder at 48 kHz.
var audioFrame = map[string]float64{"aac": aacFrame, "eac3": 1536.0 / 48000}

// audioRenditions are a title's audio tracks: those the job lists, or the
// one stereo AAC track "audio".
func audioRenditions(v pipeline.View) []pipeline.AudioTrack {
	if len(v.AudioTracks) > 0 {
		return v.AudioTracks
	}
	return []pipeline.AudioTrack{{Name: "audio", Codec: "aac"}}
}

// checkSync holds the audio track to the video's start (within one audio
// sample) and its decoded duration to the video's within one frame: a
// video frame, or one audio frame (frame s) where that is longer (the
// encoder pads the last frame with silence).
func checkSync(t *testing.T, url, videoURL string, video, fps, frame float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	vstart := startTime(t, videoURL)
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		t.Fatalf("%s: no audio frames", url)
	}
	first, _ := strconv.ParseFloat(strings.Trim(lines[0], ","), 64)
	last, _ := strconv.ParseFloat(strings.Trim(lines[len(lines)-1], ","), 64)
	audio := last + frame - first
	if math.Abs(audio-video) > max(1/fps, frame)+1e-6 || math.Abs(first-vstart) > 1.0/48000 {
		t.Errorf("audio starts at %.4f s and lasts %.4f s, video at %.4f s for %.4f s: more than one frame apart", first, audio, vstart, video)
	}
}

// checkBandwidth holds a variant's BANDWIDTH to the peak segment bit rate
// of RFC 8216bis 4.3.4.2, measured here from the published segments'
// sizes: the highest rate of any run of contiguous segments lasting 0.5 to
// 1.5 target durations, of the video playlist plus the audio playlist's.
func checkBandwidth(t *testing.T, base string, vr *m3u8.Variant, audio []pipeline.AudioTrack, wantAudio bool) {
	t.Helper()
	peak := playlistPeak(t, base+vr.URI)
	if wantAudio {
		// The variant's audio group is the AAC tracks; it counts the
		// largest.
		most := 0
		for _, a := range audio {
			if a.Codec == "aac" {
				most = max(most, playlistPeak(t, base+a.Name+"/index.m3u8"))
			}
		}
		peak += most
	}
	if int(vr.Bandwidth) != peak {
		t.Errorf("%s: BANDWIDTH=%d, RFC 8216bis peak %d", vr.URI, vr.Bandwidth, peak)
	}
}

// playlistPeak measures the peak segment bit rate of a media playlist.
func playlistPeak(t *testing.T, url string) int {
	t.Helper()
	_, body := get(t, url)
	pl, _, err := m3u8.Decode(*bytes.NewBuffer(body), true)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	mp := pl.(*m3u8.MediaPlaylist)
	dir := url[:strings.LastIndex(url, "/")+1]
	// As the playlist states it (the m3u8 package recomputes its own,
	// rounding up).
	m := regexp.MustCompile(`#EXT-X-TARGETDURATION:(\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no EXT-X-TARGETDURATION", url)
	}
	target, _ := strconv.ParseFloat(string(m[1]), 64)
	var durs []float64
	var sizes []int64
	for _, s := range mp.Segments {
		if s == nil {
			continue
		}
		resp, err := http.Head(dir + s.URI)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		durs, sizes = append(durs, s.Duration), append(sizes, resp.ContentLength)
	}
	peak := 0
	for i := range durs {
		var n int64
		var d float64
		for k := i; k < len(durs); k++ {
			n, d = n+sizes[k], d+durs[k]
			if d >= 0.5*target && d <= 1.5*target+1e-9 {
				peak = max(peak, int(math.Ceil(float64(n*8)/d)))
			}
		}
	}
	return peak
}

// checkIFrames fetches a rendition's I-frame playlist and the first
// keyframe's byte range, which must start with a movie fragment.
func checkIFrames(t *testing.T, base string, vr *m3u8.Variant, r pipeline.RenditionView, segments int) {
	t.Helper()
	if vr.Codecs != r.Codecs || vr.Bandwidth == 0 || !strings.HasPrefix(vr.URI, r.Name+"/") {
		t.Errorf("I-frame variant %+v for %s", vr.VariantParams, r.Name)
	}
	_, body := get(t, base+vr.URI)
	if !bytes.Contains(body, []byte("#EXT-X-I-FRAMES-ONLY")) {
		t.Fatalf("%s is not an I-frame playlist:\n%s", vr.URI, body)
	}
	ranges := regexp.MustCompile(`#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)`).FindAllStringSubmatch(string(body), -1)
	if len(ranges) != segments {
		t.Fatalf("%s lists %d I-frames for %d segments", vr.URI, len(ranges), segments)
	}
	n, _ := strconv.Atoi(ranges[0][1])
	off, _ := strconv.Atoi(ranges[0][2])
	req, _ := http.NewRequest("GET", base+r.Name+"/"+ranges[0][3], nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || len(data) != n || len(data) < 8 || string(data[4:8]) != "moof" || int(binary.BigEndian.Uint32(data)) >= n {
		t.Errorf("I-frame range of %s: status %d, %d bytes, starts %q", r.Name, resp.StatusCode, len(data), data[:min(8, len(data))])
	}
}

// checkCORS asks for a segment the way a player on another site does.
func checkCORS(t *testing.T, url string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Origin", "http://player.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "http://player.example" {
		t.Errorf("%s: Access-Control-Allow-Origin %q", url, got)
	}
}

// checkDASH parses the MPD: one video adaptation set per codec family,
// audio in its own, and the first representation decodes to every frame.
func checkDASH(t *testing.T, v pipeline.View, wantAudio bool, frames int64) {
	t.Helper()
	_, mpd := get(t, v.Outputs.DASH)
	var doc struct {
		XMLName xml.Name `xml:"MPD"`
		Period  struct {
			AdaptationSet []struct {
				ContentType    string `xml:"contentType,attr"`
				Representation []struct {
					ID     string `xml:"id,attr"`
					Codecs string `xml:"codecs,attr"`
				}
			}
		}
	}
	if err := xml.Unmarshal(mpd, &doc); err != nil {
		t.Fatalf("MPD does not parse: %v", err)
	}
	families := map[string]bool{}
	for _, r := range v.Renditions {
		families[r.Codec] = true
	}
	want := len(families)
	if wantAudio {
		want += len(audioRenditions(v)) // one set per audio track
	}
	want += len(v.TextTracks) // and per subtitle track
	if len(doc.Period.AdaptationSet) != want {
		t.Errorf("MPD has %d adaptation sets, want %d", len(doc.Period.AdaptationSet), want)
	}
	for _, as := range doc.Period.AdaptationSet {
		if as.ContentType == "text" {
			continue
		}
		prefix := ""
		for _, r := range as.Representation {
			p := r.Codecs[:4]
			if prefix != "" && p != prefix {
				t.Errorf("adaptation set mixes codecs %s and %s", prefix, p)
			}
			prefix = p
		}
	}
	if n := ffprobeFrames(t, v.Outputs.DASH); n != frames {
		t.Errorf("DASH first representation has %d frames, want %d", n, frames)
	}
}

var vttCue = regexp.MustCompile(`(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)`)

func vttSeconds(m []string) float64 {
	h, _ := strconv.Atoi(m[0])
	mi, _ := strconv.Atoi(m[1])
	s, _ := strconv.Atoi(m[2])
	ms, _ := strconv.Atoi(m[3])
	return float64(h*3600+mi*60+s) + float64(ms)/1000
}

// checkTrickPlay fetches the poster and the thumbnail track: cues follow
// each other from 0 to the end of the video, and every sprite sheet exists.
func checkTrickPlay(t *testing.T, v pipeline.View, duration float64) {
	t.Helper()
	o := v.Outputs
	if o.Poster == "" || o.Thumbnails == "" || len(o.IFrames) != len(v.Renditions) {
		t.Fatalf("outputs lack trick play: %+v", o)
	}
	checkHeaders(t, o.Poster, "image/jpeg", "immutable")
	checkHeaders(t, o.Thumbnails, "text/vtt", "max-age=10")
	_, vtt := get(t, o.Thumbnails)
	cues := vttCue.FindAllStringSubmatch(string(vtt), -1)
	if !bytes.HasPrefix(vtt, []byte("WEBVTT\n")) || len(cues) == 0 {
		t.Fatalf("thumbnail track:\n%s", vtt)
	}
	prev := 0.0
	sheets := map[string]bool{}
	for i, c := range cues {
		start, end := vttSeconds(c[1:5]), vttSeconds(c[5:9])
		if math.Abs(start-prev) > 0.0015 || end <= start {
			t.Fatalf("cue %d: %s --> %s after %.3f", i, c[1:5], c[5:9], prev)
		}
		prev = end
		sheets[c[9]] = true
	}
	if math.Abs(prev-duration) > 0.0015 {
		t.Errorf("thumbnails end at %.3f s, video at %.3f s", prev, duration)
	}
	dir := o.Thumbnails[:strings.LastIndex(o.Thumbnails, "/")+1]
	for s := range sheets {
		checkHeaders(t, dir+s, "image/jpeg", "immutable")
	}
}
