package media

import (
	"math"
	"os"
	"path/filepath"
	"testing"
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
