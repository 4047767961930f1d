package e2e

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/pipeline"
)

// TestPerTitle runs per-title jobs on easy and hard content: the job
// records its trials, hull and choice, the ladder plays, the easy title
// gets a cheaper ladder than the fixed one, and every stage's timing is
// recorded.
func TestPerTitle(t *testing.T) {
	s := startStack(t)
	cases := []struct {
		name   string
		source string
		easy   bool
	}{
		{"easy", "smptehdbars=size=1280x720:rate=25", true},
		{"hard", "testsrc2=size=1280x720:rate=25,noise=alls=12:allf=t", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			master := testenv.Generate(t, filepath.Join(t.TempDir(), c.name+".mp4"),
				"-f", "lavfi", "-i", c.source, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				"-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
			id := s.submit(t, master, `{"mode":"per-title","segment_seconds":2,"chunk_segments":2}`)
			events := make(chan []pipeline.Status, 1)
			go func() { events <- s.events(id) }()
			if code, out := s.watch(t, id); code != 0 {
				t.Fatalf("reel watch exit %d:\n%s\nlog:\n%s", code, out, s.logText())
			}
			if seen := <-events; !slices.Contains(seen, pipeline.StatusAnalyzing) {
				t.Errorf("statuses %v lack analyzing", seen)
			}
			v := s.job(t, id)
			a := v.Analysis
			if a == nil || len(a.Points) != 4*3 || len(a.Samples) == 0 || a.Width != 1280 {
				t.Fatalf("analysis: %+v", a)
			}
			var hull int
			chosen := len(a.Chosen)
			for _, p := range a.Points {
				if p.OnHull {
					hull++
				}
				if p.Bitrate <= 0 || p.PSNR <= 0 {
					t.Errorf("trial %+v not measured", p)
				}
			}
			if hull < 2 || chosen != len(v.Renditions) || len(v.Renditions) == 0 {
				t.Errorf("%d trials on the hull, %d chosen, %d renditions", hull, chosen, len(v.Renditions))
			}
			t.Logf("%s: per-title %.0f bit/s (%d rungs) vs fixed %.0f bit/s, analysis %.1f s", c.name, a.Bitrate, len(v.Renditions), a.FixedBitrate, a.Seconds)
			for _, r := range v.Renditions {
				t.Logf("  %s %dx%d crf %d bitrate %d measured %d PSNR %.2f", r.Name, r.Width, r.Height, r.CRF, r.Bitrate, r.AverageBandwidth, r.Quality.PSNR)
			}
			if c.easy && a.Bitrate > 0.8*a.FixedBitrate {
				t.Errorf("easy content: per-title ladder %.0f bit/s, fixed %.0f: want at least 20%% less", a.Bitrate, a.FixedBitrate)
			}
			verify(t, v, master, true, 2)
			for _, stage := range []string{"upload", "probe", "plan", "split", "analyze", "encode", "audio", "package", "publish"} {
				if stage == "split" && v.Source.Seek {
					continue // read by seeking: nothing to split
				}
				if tm := v.Timings[stage]; tm == nil || tm.Tasks == 0 || tm.End.Before(tm.Start) {
					t.Errorf("timing of %s: %+v", stage, tm)
				}
			}
		})
	}
}
