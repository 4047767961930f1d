package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/pipeline"
)

// The preroll study's chunks: prerollChunkSegments segments of
// prerollSegmentSeconds, short, so every title has several seams.
const (
	prerollSegmentSeconds = 4
	prerollChunkSegments  = 2
)

// prerollStudy measures what each chunk's preroll buys: each master is
// encoded in chunks of prerollChunkSegments segments with each preroll of
// prerolls, and once whole (one chunk, nothing to warm up), one 360p rung
// (or the master's own height, if lower) of each codec, quality measured.
// It prints, per master and codec, the chunked rung's PSNR and average
// bitrate less the whole encode's, and per codec and preroll the largest
// differences over the masters and what the preroll costs at the
// overhead run's chunking. codecs are the codecs studied.
func prerollStudy(rep *report, d *dev, dir string, prerolls []float64, codecs []string, seconds, clips int) error {
	// Noise at the rung's own size: hard content, where the VBV ceiling
	// binds and the encoder's state at a seam matters most.
	noise := filepath.Join(dir, "preroll-noise.mp4")
	if err := masterSized(noise, seconds, 640, 360); err != nil {
		return err
	}
	masters := append([]string{noise}, sharedClips(clips)...)
	type result struct {
		psnr, kbps float64
		ok         bool
	}
	type key struct {
		master, codec string
		preroll       float64 // -1: whole
	}
	results := map[key]result{}
	var mu sync.Mutex
	for _, m := range masters {
		for _, codec := range codecs {
			fmt.Fprintf(os.Stderr, "bench: preroll: %s, %s\n", filepath.Base(m), codec)
			var wg sync.WaitGroup
			var errs []error
			for _, p := range append([]float64{-1}, prerolls...) {
				if !studied(codec, p) {
					continue
				}
				l := fmt.Sprintf(`{"rungs":[{"codec":%q,"height":360,"bitrate":730000}],"segment_seconds":%d,"chunk_segments":%d,"preroll_seconds":%g}`,
					codec, prerollSegmentSeconds, prerollChunkSegments, max(p, 0))
				if p < 0 {
					l = fmt.Sprintf(`{"rungs":[{"codec":%q,"height":360,"bitrate":730000}],"segment_seconds":%d,"chunk_segments":150}`, codec, prerollSegmentSeconds)
				}
				file := filepath.Join(dir, fmt.Sprintf("preroll-%s-%g.json", codec, p))
				if err := os.WriteFile(file, []byte(l), 0o644); err != nil {
					return err
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, _, err := d.uploadJob(m, file)
					mu.Lock()
					defer mu.Unlock()
					if err != nil || v.Status != pipeline.StatusComplete || len(v.Renditions) == 0 || v.Renditions[0].Quality == nil {
						errs = append(errs, fmt.Errorf("preroll %g, %s, %s: %v (%s %s)", p, codec, m, err, v.Status, errText(v)))
						return
					}
					r := v.Renditions[0]
					results[key{m, codec, p}] = result{r.Quality.PSNR, float64(r.AverageBandwidth) / 1000, true}
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				return errs[0]
			}
		}
	}
	fmt.Printf("\n## Preroll: chunked encodes against one encode of the whole title\n\n")
	fmt.Printf("Chunks of %d segments of %d s, one rung of 360p (or the master's height) at 730 kbit/s nominal, capped CRF at each codec's defaults. Each cell: PSNR dB and average bitrate %% of the chunked rung less the whole title's.\n\n", prerollChunkSegments, prerollSegmentSeconds)
	head := "| master | codec | whole: PSNR dB, kbit/s |"
	sep := "| --- | --- | --- |"
	for _, p := range prerolls {
		head += fmt.Sprintf(" preroll %g s |", p)
		sep += " --- |"
	}
	fmt.Println(head + "\n" + sep)
	type worst struct{ dpsnr, dbits float64 }
	worstOf := map[string][]worst{}
	for _, codec := range codecs {
		worstOf[codec] = make([]worst, len(prerolls))
	}
	for _, m := range masters {
		for _, codec := range codecs {
			w := results[key{m, codec, -1}]
			row := fmt.Sprintf("| %s | %s | %.2f, %.0f |", filepath.Base(m), codec, w.psnr, w.kbps)
			for i, p := range prerolls {
				c, ok := results[key{m, codec, p}]
				if !ok {
					row += " (whole segments only) |"
					continue
				}
				dp, db := c.psnr-w.psnr, 100*(c.kbps-w.kbps)/w.kbps
				row += fmt.Sprintf(" %+.3f dB, %+.1f%% |", dp, db)
				wo := &worstOf[codec][i]
				wo.dpsnr, wo.dbits = max(wo.dpsnr, math.Abs(dp)), max(wo.dbits, math.Abs(db))
			}
			fmt.Println(row)
		}
	}
	fmt.Printf("\nLargest differences over the masters, and what the preroll costs in frames encoded at the overhead run's chunks (7 segments of 4 s):\n\n")
	fmt.Println("| codec | preroll s | largest |ΔPSNR| dB | largest |Δbitrate| % | frames added, 28 s chunks | default |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for _, codec := range codecs {
		for i, p := range prerolls {
			if !studied(codec, p) {
				continue
			}
			def := ""
			if p == ladder.DefaultPreroll[codec] {
				def = "yes"
			}
			fmt.Printf("| %s | %g | %.3f | %.1f | %.1f%% | %s |\n", codec, p, worstOf[codec][i].dpsnr, worstOf[codec][i].dbits, 100*p/28, def)
		}
		i := indexOf(prerolls, ladder.DefaultPreroll[codec])
		if i >= 0 {
			rep.target("preroll: %s default %g s: chunked within %.3f dB PSNR and %.1f%% bitrate of one encode of the whole title (chunks of %d s)",
				codec, prerolls[i], worstOf[codec][i].dpsnr, worstOf[codec][i].dbits, prerollSegmentSeconds*prerollChunkSegments)
		}
	}
	return nil
}

// studied says whether the study encodes codec with preroll p (-1: the
// whole title): an encoder that counts its keyframe interval from its
// first frame takes whole segments only (media.KeyframesWhereForced).
func studied(codec string, p float64) bool {
	return p <= 0 || media.KeyframesWhereForced(codec) || math.Mod(p, prerollSegmentSeconds) == 0
}

func indexOf(xs []float64, x float64) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// errText is a failed job's error, for a message.
func errText(v pipeline.View) string {
	if v.Error == nil {
		return ""
	}
	b, _ := json.Marshal(v.Error)
	return string(b)
}

// sharedClips lists up to n clips of ../shared/media that are there.
func sharedClips(n int) []string {
	var out []string
	for _, f := range []string{"02_h264-high444_720p20_cockatoo_mp3.mp4", "03_vp8_640x360-24_rocket-launch_vorbis.webm",
		"06_mpeg2_720x405-25_city_noaudio.mpg", "08_msmpeg4v3_768x576-10_80s-pedestrians_noaudio.avi"} {
		p := filepath.Join("..", "shared", "media", f)
		if _, err := os.Stat(p); err == nil && len(out) < n {
			out = append(out, p)
		}
	}
	return out
}

// parsePrerolls reads a comma-separated list of seconds.
func parsePrerolls(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v > ladder.MaxPrerollSeconds {
			return nil, fmt.Errorf("-prerolls: %q is not a number of seconds from 0 to %g", f, ladder.MaxPrerollSeconds)
		}
		out = append(out, v)
	}
	return out, nil
}
