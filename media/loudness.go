package media

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/reel-video/reel/timeline"
)

// Loudness measured by ffmpeg's ebur128 filter (EBU R 128, ITU-R
// BS.1770-4: K-weighting, 400 ms blocks, the -70 LUFS absolute and -10 LU
// relative gates, loudness range per EBU Tech 3342, true peak from 4×
// oversampling). Each measured rendition goes through an instance of the
// filter named after its place in the run's list, which prints its
// summary when the run ends:
//
//	[ebur128@loudness0 @ 0x5578…] Summary:
//	  Integrated loudness:
//	    I:         -30.2 LUFS
//	  …
//	  Loudness range:
//	    LRA:         8.3 LU
//	  …
//	  True peak:
//	    Peak:      -13.2 dBFS
//
// The summary is at info level, so the run writes it to a report file
// (FFREPORT) while its stderr stays at errors only.

// loudnessMeter measures rendition k of a run and discards it.
func loudnessMeter(a *ffmpeg.Stream, k int) *ffmpeg.Stream {
	// framelog=verbose keeps the per-100 ms lines out of an info report.
	return a.Filter("ebur128@loudness"+strconv.Itoa(k), ffmpeg.Args{}, ffmpeg.KwArgs{"peak": "true", "framelog": "verbose"}).
		Output("-", ffmpeg.KwArgs{"f": "null"})
}

// LoudnessArgs measures the loudness of every rendition of outs, as
// AudioTracksArgs would encode it (gain and limiter included), in one run
// over input that encodes nothing. Run it with LoudnessEnv and read the
// numbers with ReadLoudness.
func LoudnessArgs(input string, shift, duration float64, outs []AudioOut) []string {
	in := ffmpeg.Input(input, masterInput())
	var streams []*ffmpeg.Stream
	for k, a := range audioChains(in, outs, shift, duration, func(AudioOut) float64 { return 0 }) {
		streams = append(streams, loudnessMeter(a, k))
	}
	args := ffmpeg.MergeOutputs(streams...).GetArgs()
	return append(append(append([]string{}, globalArgs...), masterArgs...), args...)
}

// loudnessReport is the report file of a measuring run in dir.
func loudnessReport(dir string) string { return filepath.Join(dir, "loudness-report.log") }

// LoudnessEnv is the environment of a run that measures loudness into
// dir: its report file at info level, where the summaries are. A run
// writes a new report; read it before the next.
func LoudnessEnv(dir string) []string {
	return []string{"FFREPORT=file=" + reportEscape(loudnessReport(dir)) + ":level=32"}
}

var (
	summaryRE = regexp.MustCompile(`^\[ebur128@loudness(\d+) @ 0x[0-9a-f]+\] Summary:`)
	valueRE   = regexp.MustCompile(`^\s+(I|LRA|Peak):\s+(-?inf|-?[0-9.]+) (LUFS|LU|dBFS)$`)
)

// ReadLoudness reads the loudness of the n renditions a run measured into
// dir, in the order of its list. Silence is recorded at
// timeline.SilenceFloor.
func ReadLoudness(dir string, n int) ([]timeline.Loudness, error) {
	f, err := os.Open(loudnessReport(dir))
	if err != nil {
		return nil, fmt.Errorf("loudness: the run left no report: %w", err)
	}
	defer f.Close()
	out := make([]timeline.Loudness, n)
	seen := make([]int, n) // values read per rendition
	cur := -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m := summaryRE.FindStringSubmatch(line); m != nil {
			k, _ := strconv.Atoi(m[1])
			if cur = k; k >= n {
				cur = -1
				continue
			}
			// ffmpeg may configure the graph more than once; the last
			// summary is the run's.
			out[cur], seen[cur] = timeline.Loudness{}, 0
			continue
		}
		if strings.HasPrefix(line, "[") {
			cur = -1
		}
		m := valueRE.FindStringSubmatch(line)
		if cur < 0 || m == nil {
			continue
		}
		v := math.Inf(-1)
		if !strings.HasSuffix(m[2], "inf") {
			if v, err = strconv.ParseFloat(m[2], 64); err != nil {
				return nil, fmt.Errorf("loudness: rendition %d: %q: %w", cur, line, err)
			}
		}
		switch m[1] {
		case "I":
			out[cur].Integrated = v
		case "LRA":
			out[cur].Range = v
		case "Peak":
			out[cur].TruePeak = v
		}
		seen[cur]++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loudness: reading the report: %w", err)
	}
	for k := range out {
		if seen[k] != 3 {
			return nil, fmt.Errorf("loudness: the run printed no summary for rendition %d", k)
		}
		out[k] = out[k].Floor()
	}
	return out, nil
}

// Normalize sets the Gain and Limit of each rendition of outs so that it
// measures target LUFS with its true peaks under ceiling dBTP, and returns
// each one's loudness before: as the master has it, on the video's
// timeline, in the rendition's channels. A first run measures every
// rendition; the gain is the loudness each lacks (timeline.LoudnessGain),
// and where that would raise its true peaks into the ceiling, a limiter
// holds them timeline.LimiterMargin under it. Limiting takes some
// loudness away, so up to maxCorrections more runs measure the limited
// renditions and add back what they lack (timeline.CorrectGain). run runs
// each measuring run (with its limits); dir holds their reports.
func Normalize(ctx context.Context, run func(context.Context, Cmd) error, input string, shift, duration float64, outs []AudioOut, target, ceiling float64, dir string) ([]timeline.Loudness, error) {
	before, err := measureLoudness(ctx, run, input, shift, duration, outs, dir)
	if err != nil {
		return nil, err
	}
	var limited []int
	for k, m := range before {
		gain, limit := timeline.LoudnessGain(m, target, ceiling)
		outs[k].Gain, outs[k].Limit = gain, 0
		if limit {
			outs[k].Limit = ceiling - timeline.LimiterMargin
			limited = append(limited, k)
		}
	}
	// Each further dB into the limiter adds less than a dB of loudness:
	// measure again and add what is still lacking, up to maxCorrections
	// times, until each is within correctionTolerance.
	for pass := 0; pass < maxCorrections && len(limited) > 0; pass++ {
		again := make([]AudioOut, len(limited))
		for i, k := range limited {
			again[i] = outs[k]
		}
		after, err := measureLoudness(ctx, run, input, shift, duration, again, dir)
		if err != nil {
			return nil, err
		}
		var short []int
		for i, k := range limited {
			if target-after[i].Integrated > correctionTolerance {
				outs[k].Gain = timeline.CorrectGain(outs[k].Gain, after[i], target)
				short = append(short, k)
			}
		}
		limited = short
	}
	return before, nil
}

// maxCorrections bounds the runs Normalize adds to measure limited
// renditions; correctionTolerance is how far under the target (LU) a
// limited rendition may stay.
const (
	maxCorrections      = 2
	correctionTolerance = 0.1
)

// measureLoudness runs LoudnessArgs over outs and reads what it measured.
func measureLoudness(ctx context.Context, run func(context.Context, Cmd) error, input string, shift, duration float64, outs []AudioOut, dir string) ([]timeline.Loudness, error) {
	if err := run(ctx, Cmd{Args: LoudnessArgs(input, shift, duration, outs), Env: LoudnessEnv(dir)}); err != nil {
		return nil, err
	}
	return ReadLoudness(dir, len(outs))
}

// dbToLinear is the amplitude ratio of db decibels.
func dbToLinear(db float64) float64 { return math.Pow(10, db/20) }
