package timeline

import (
	"encoding/json"
	"math"
	"testing"
)

func TestLoudnessGain(t *testing.T) {
	for _, tc := range []struct {
		m               Loudness
		target, ceiling float64
		gain            float64
		limit           bool
	}{
		{Loudness{Integrated: -30.2, Range: 8.3, TruePeak: -13.2}, -16, -1, 14.2, true}, // peaks would reach +1.0
		{Loudness{Integrated: -20, TruePeak: -8}, -16, -1, 4, false},                    // peaks at -4
		{Loudness{Integrated: -20, TruePeak: -5.4}, -16, -1, 4, true},                   // peaks at -1.4, inside the margin
		{Loudness{Integrated: -10, TruePeak: 0.5}, -23, -1, -13, false},                 // turned down
		{Loudness{Integrated: -65, TruePeak: -50}, -16, -1, MaxLoudnessGain, false},     // capped
		{Loudness{Integrated: -70, TruePeak: -70}, -16, -1, 0, false},                   // silent
	} {
		gain, limit := LoudnessGain(tc.m, tc.target, tc.ceiling)
		if math.Abs(gain-tc.gain) > 1e-9 || limit != tc.limit {
			t.Errorf("LoudnessGain(%+v, %g, %g) = %g, %v; want %g, %v", tc.m, tc.target, tc.ceiling, gain, limit, tc.gain, tc.limit)
		}
	}
	if g := CorrectGain(14.2, Loudness{Integrated: -16.6}, -16); math.Abs(g-14.8) > 1e-9 {
		t.Errorf("CorrectGain: %g, want 14.8", g)
	}
	if g := CorrectGain(14.2, Loudness{Integrated: -15.9}, -16); g != 14.2 {
		t.Errorf("CorrectGain over the target: %g, want 14.2 (limiting never adds loudness)", g)
	}
	if g := CorrectGain(10, Loudness{Integrated: -40}, -16); g != 16 {
		t.Errorf("CorrectGain far off: %g, want 16 (at most 6 dB more)", g)
	}
}

func TestLoudnessFloor(t *testing.T) {
	l := Loudness{Integrated: math.Inf(-1), Range: math.NaN(), TruePeak: math.Inf(-1)}.Floor()
	if l != (Loudness{Integrated: SilenceFloor, TruePeak: SilenceFloor}) || !l.Silent() {
		t.Errorf("Floor of silence: %+v", l)
	}
	if _, err := json.Marshal(l); err != nil {
		t.Errorf("a floored silence is not JSON: %v", err)
	}
	if l := (Loudness{Integrated: -23, Range: 5, TruePeak: -3}).Floor(); l.Integrated != -23 || l.Range != 5 || l.TruePeak != -3 {
		t.Errorf("Floor changed a measured track: %+v", l)
	}
}
