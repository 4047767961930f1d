package timeline

import "testing"

func TestTimescale(t *testing.T) {
	for fr, want := range map[Rational]int{{Num: 30, Den: 1}: 90000, {Num: 30000, Den: 1001}: 90000, {Num: 24000, Den: 1001}: 24000, {Num: 25, Den: 1}: 90000, {Num: 7, Den: 1}: 10003} {
		if got := Timescale(fr); got != want {
			t.Errorf("Timescale(%v) = %d, want %d", fr, got, want)
		}
	}
	if got := SegmentFrames(Rational{Num: 30000, Den: 1001}, 4); got != 120 {
		t.Errorf("SegmentFrames 29.97 = %d", got)
	}
}

func TestParseRational(t *testing.T) {
	for in, want := range map[string]Rational{"30000/1001": {30000, 1001}, "16:9": {16, 9}, "25": {25, 1}, " 24/1 ": {24, 1}} {
		if got, err := ParseRational(in); err != nil || got != want {
			t.Errorf("ParseRational(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a/b", "1/", "x"} {
		if _, err := ParseRational(bad); err == nil {
			t.Errorf("ParseRational(%q) succeeded", bad)
		}
	}
	if got := (Rational{60000, 2002}).Reduce(); got != (Rational{30000, 1001}) {
		t.Errorf("Reduce = %v", got)
	}
}
