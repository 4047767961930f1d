package e2e

import (
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
)

// hdrMaster writes a synthetic HDR master: the colour bars and moving
// pattern of testsrc2, graded to BT.2020 with the PQ or HLG transfer
// (SDR white at 203 cd/m², BT.2408's HDR reference white), 10-bit HEVC
// tagged as such.
func hdrMaster(t *testing.T, dir, transfer string) string {
	t.Helper()
	grade := fmt.Sprintf("zscale=tin=bt709:pin=bt709:min=bt709:rin=tv:t=%s:p=bt2020:m=bt2020nc:r=tv:npl=203,format=yuv420p10le", transfer)
	return testenv.Generate(t, filepath.Join(dir, transfer+".mp4"), "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4", "-vf", grade,
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-profile:v", "main10",
		"-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc", "-color_range", "tv", "-c:a", "aac")
}

// referenceToneMap is the tone map SDR rungs are held to: the master
// linearised from its transfer at 100 cd/m² reference white, converted to
// BT.709 primaries in float RGB, Hable's curve without desaturation, BT.709
// transfer and matrix, 8-bit limited range, at the rung's size.
func referenceToneMap(transfer string, w, h int) string {
	return fmt.Sprintf("zscale=tin=%s:pin=bt2020:min=2020_ncl:rin=tv:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"+
		"tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,scale=%d:%d:flags=bicubic", transfer, w, h)
}

// matrixOnly is what SDR rungs of an HDR master were before tone mapping:
// the BT.2020 matrix converted to BT.709, transfer and primaries left
// alone, which shows PQ and HLG pictures washed out.
func matrixOnly(w, h int) string {
	return fmt.Sprintf("scale=in_range=tv:out_range=tv:in_color_matrix=bt2020:out_color_matrix=bt709,format=yuv420p,scale=%d:%d:flags=bicubic", w, h)
}

var statRE = regexp.MustCompile(`lavfi\.signalstats\.(YAVG|SATAVG)=([0-9.]+)`)

// pictureStats returns the mean luma (0-255) and mean saturation of every
// frame of input's first video stream after filter (none: as decoded).
func pictureStats(t *testing.T, input, filter string) (luma, sat float64) {
	t.Helper()
	vf := "signalstats,metadata=print:file=-"
	if filter != "" {
		vf = filter + "," + vf
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", input, "-map", "0:v:0", "-vf", vf, "-f", "null", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v", input, err)
	}
	var n [2]int
	var sum [2]float64
	for _, m := range statRE.FindAllStringSubmatch(string(out), -1) {
		var v float64
		fmt.Sscan(m[2], &v)
		i := 0
		if m[1] == "SATAVG" {
			i = 1
		}
		sum[i] += v
		n[i]++
	}
	if n[0] == 0 || n[1] == 0 {
		t.Fatalf("%s: no picture statistics", input)
	}
	return sum[0] / float64(n[0]), sum[1] / float64(n[1])
}

// TestHDR puts a PQ and an HLG master through with an SDR H.264 rung and
// HDR HEVC and AV1 rungs. The SDR rung's mean luma and saturation must be
// those of the reference tone map (within 2 luma steps and 5%), far from
// the washed-out matrix-only conversion; the HDR rungs keep the transfer
// in 10-bit BT.2020 and are signalled as HDR in both manifests.
func TestHDR(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	const hdrLadder = `{"rungs":[{"height":360,"bitrate":800000},{"codec":"hevc","height":360,"bitrate":800000,"hdr":true},` +
		`{"codec":"av1","height":360,"bitrate":600000,"hdr":true}],"segment_seconds":2}`
	for _, transfer := range []string{"smpte2084", "arib-std-b67"} {
		master := hdrMaster(t, dir, transfer)
		id := s.submit(t, master, hdrLadder)
		if code, out := s.watch(t, id); code != 0 {
			t.Fatalf("%s: reel watch exit %d:\n%s", transfer, code, out)
		}
		v := s.job(t, id)
		t.Run(transfer, func(t *testing.T) {
			want := map[string]string{"smpte2084": "pq", "arib-std-b67": "hlg"}[transfer]
			if v.Source.Conform.HDR != want || !hasNote(v, "HDR") || len(v.Renditions) != 3 {
				t.Fatalf("conform %+v, notes %q, %d renditions", v.Source.Conform, v.Source.Notes, len(v.Renditions))
			}
			verify(t, v, master, true, 2)
			base := strings.TrimSuffix(v.Outputs.HLS, "master.m3u8")
			sdr := v.Renditions[0]
			lr, sr := pictureStats(t, master, referenceToneMap(transfer, sdr.Width, sdr.Height))
			ln, sn := pictureStats(t, master, matrixOnly(sdr.Width, sdr.Height))
			lg, sg := pictureStats(t, base+sdr.Name+"/index.m3u8", "")
			t.Logf("%s SDR rung: mean luma %.1f, saturation %.1f; reference tone map %.1f, %.1f; matrix only %.1f, %.1f",
				transfer, lg, sg, lr, sr, ln, sn)
			if math.Abs(lg-lr) > 2 || math.Abs(sg-sr) > 0.05*sr {
				t.Errorf("SDR rung: mean luma %.1f and saturation %.1f, reference tone map %.1f and %.1f", lg, sg, lr, sr)
			}
			for _, r := range v.Renditions[1:] {
				t.Logf("%s: codecs %s", r.Name, r.Codecs)
				prefix := map[string]string{"hevc": "hvc1.2.", "av1": "av01.0."}[r.Codec]
				if !r.HDR || !strings.HasPrefix(r.Codecs, prefix) || (r.Codec == "av1" && !strings.HasSuffix(r.Codecs, ".10")) {
					t.Errorf("%s: HDR %v, codecs %q (want %s…, 10-bit)", r.Name, r.HDR, r.Codecs, prefix)
				}
			}
			_, mpd := get(t, v.Outputs.DASH)
			tc := map[string]string{"pq": "16", "hlg": "18"}[want]
			if n := strings.Count(string(mpd), `cicp:TransferCharacteristics" value="`+tc+`"`); n != 2 {
				t.Errorf("MPD has %d adaptation sets with transfer %s, want 2 (HEVC and AV1):\n%s", n, tc, mpd)
			}
			if _, ok := v.Outputs.HLSByCodec["hevc_"+want]; !ok {
				t.Errorf("no HDR HEVC master playlist: %v", v.Outputs.HLSByCodec)
			}
			playBoth(t, v)
		})
	}
}
