package testenv

import (
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/reel-video/reel/timeline"
)

// Loudness measures the first audio stream of file (a path or URL) with
// ffmpeg's ebur128 filter alone, apart from the code under test.
func Loudness(t testing.TB, file string) timeline.Loudness {
	t.Helper()
	Need(t, "ffmpeg")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", file, "-map", "0:a:0",
		"-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ebur128 %s: %v: %s", file, err, out)
	}
	value := func(name string) float64 {
		m := regexp.MustCompile(`(?m)^\s+`+name+`:\s+(-?inf|-?[0-9.]+)`).FindAllSubmatch(out, -1)
		if len(m) == 0 {
			t.Fatalf("ebur128 %s: no %s in %s", file, name, out)
		}
		// The last summary is the run's (the graph may be configured twice).
		v, err := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
		if err != nil {
			return math.Inf(-1)
		}
		return v
	}
	return timeline.Loudness{Integrated: value("I"), Range: value("LRA"), TruePeak: value("Peak")}.Floor()
}
