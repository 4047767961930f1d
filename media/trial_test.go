package media

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

func TestFrameBits(t *testing.T) {
	// Two outputs: output 0 a 1000-byte keyframe and 100-byte frames,
	// output 1 only 50-byte frames after its keyframe of 500.
	log := `out=  0 st=  0 frame=     0 q= 29.0 f_size=   1000 s_size=        0kB time= 0.010 br=  1096.8kbits/s avg_br=     0.0kbits/s type= I
out=  1 st=  0 frame=     0 q= 36.0 f_size=    500 s_size=        0kB time= 0.010 br=   858.7kbits/s avg_br=     0.0kbits/s type= I
out=  0 st=  0 frame=     1 q= 29.0 f_size=    100 s_size=        4kB time= 0.010 br=   422.2kbits/s avg_br=  3656.0kbits/s type= P
out=  0 st=  0 frame=     2 q= 29.0 f_size=    100 s_size=        6kB time= 0.010 br=   210.0kbits/s avg_br=  5063.2kbits/s type= B
out=  1 st=  0 frame=     1 q= 36.0 f_size=     50 s_size=        0kB time= 0.010 br=   858.7kbits/s avg_br=     0.0kbits/s type= P
garbage line
`
	path := filepath.Join(t.TempDir(), "vstats.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	bits, err := FrameBits(path, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Over a GOP of 10: (1000 + 9*100)/10 bytes and (500 + 9*50)/10.
	want := []float64{8 * 190, 8 * 95}
	for i := range want {
		if math.Abs(bits[i]-want[i]) > 1e-9 {
			t.Errorf("output %d: %.1f bits a frame, want %.1f", i, bits[i], want[i])
		}
	}
	if _, err := FrameBits(path, 3, 10); err == nil {
		t.Error("an output with no frames was not reported")
	}
}

func TestTrialEncodeScalesOncePerSize(t *testing.T) {
	var trials []ladder.Rung
	for _, h := range []int{720, 360} {
		for _, crf := range []int{23, 28, 33} {
			trials = append(trials, ladder.Rung{Codec: ladder.CodecH264, Width: h * 16 / 9, Height: h, CRF: crf, MaxRate: 1000000, BufSize: 2000000})
		}
	}
	s := TrialSpec{MasterURL: "http://origin/master.mp4", Conform: timeline.Conform{InputRate: timeline.Rational{Num: 25, Den: 1},
		Rate: timeline.Rational{Num: 25, Den: 1}, Decimate: 1, InRange: "tv", InMatrix: "bt709", DisplayWidth: 1280, DisplayHeight: 720},
		Frames: 20, SegmentSeconds: 4, Trials: trials, VStats: "vstats.log", RefWidth: 1280, RefHeight: 720}
	for i := range trials {
		s.Outputs = append(s.Outputs, fmt.Sprintf("trial-%d.mp4", i))
		s.PSNRLogs = append(s.PSNRLogs, fmt.Sprintf("psnr-%d.log", i))
	}
	graph := ""
	args := TrialEncodeArgs(s)
	for i, a := range args {
		if a == "-filter_complex" {
			graph = args[i+1]
		}
	}
	// One scaler to each size does the work; the one each output keeps
	// is given frames of its own size and passes them through.
	for _, size := range []string{"1280:720", "640:360"} {
		if n := strings.Count(graph, "scale="+size+":flags=bicubic"); n != 4 {
			t.Errorf("%d scale filters to %s, want 1 per size and 1 per output of that size (4): %s", n, size, graph)
		}
	}
	if n := strings.Count(graph, "split="); n != 3 {
		t.Errorf("%d splits, want 3 (by size, then by CRF within each): %s", n, graph)
	}
	q := strings.Join(TrialQualityArgs(s), " ")
	if n := strings.Count(q, "-threads 1 -i trial-"); n != len(trials) {
		t.Errorf("%d trials decoded on one thread, want %d: %s", n, len(trials), q)
	}
}

func TestTrialEnv(t *testing.T) {
	t.Setenv("GLIBC_TUNABLES", "glibc.malloc.check=3")
	if got := TrialEnv(); len(got) != 1 || got[0] != "GLIBC_TUNABLES=glibc.malloc.check=3:glibc.malloc.hugetlb=1" {
		t.Errorf("TrialEnv() = %q: the operator's tunables must stay, with the huge pages added", got)
	}
	t.Setenv("GLIBC_TUNABLES", "")
	if got := TrialEnv(); len(got) != 1 || got[0] != "GLIBC_TUNABLES=glibc.malloc.hugetlb=1" {
		t.Errorf("TrialEnv() = %q", got)
	}
}
