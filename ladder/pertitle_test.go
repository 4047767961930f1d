package ladder

import (
	"math"
	"testing"
)

// synthetic makes trials of every candidate: quality falls 0.6 dB a CRF
// step from base at each size's default CRF, lower sizes lose size dB, and
// bitrate halves every 6 CRF.
func synthetic(cands []Rung, base func(h int) float64, bits func(h int) float64) []Trial {
	var out []Trial
	for _, c := range cands {
		for _, crf := range TrialCRFs(c) {
			out = append(out, Trial{Codec: c.Codec, Width: c.Width, Height: c.Height, CRF: crf,
				Bitrate: bits(c.Height) * math.Pow(2, -float64(crf-c.CRF)/6), PSNR: base(c.Height) - 0.6*float64(crf-c.CRF)})
		}
	}
	return out
}

func total(cs []Choice) (n float64) {
	for _, c := range cs {
		n += c.Bitrate
	}
	return n
}

func rungs(cs []Choice) (rs []Rung) {
	for _, c := range cs {
		rs = append(rs, c.Rung)
	}
	return rs
}

func TestPerTitle(t *testing.T) {
	l := Ladder{Mode: ModePerTitle}.Normalize()
	cands, err := Select(l, Source{Width: 1920, Height: 1080})
	if err != nil {
		t.Fatal(err)
	}
	fixedBits := func(trials []Trial) (n float64) {
		for _, c := range cands {
			for _, tr := range trials {
				if tr.Height == c.Height && tr.CRF == c.CRF {
					n += tr.Bitrate
				}
			}
		}
		return n
	}
	// Easy: every size is far above the ceiling at its CRF, and cheap.
	easy := synthetic(cands, func(h int) float64 { return 46 + float64(h)/200 }, func(h int) float64 { return float64(h) * 200 })
	cs, err := PerTitle(l, cands, easy)
	if err != nil {
		t.Fatal(err)
	}
	rs := rungs(cs)
	if got, fixed := total(cs), fixedBits(easy); got > 0.8*fixed {
		t.Errorf("easy content: per-title %0.f bit/s vs fixed %.0f: want at least 20%% fewer", got, fixed)
	}
	if err := (Ladder{Rungs: rs, Mode: ModeFixed}).Normalize().Validate(); err != nil {
		t.Errorf("chosen rungs do not validate: %v", err)
	}
	// Hard: qualities low and bitrates high; no rung may be worse than the
	// fixed rung it replaces.
	hard := synthetic(cands, func(h int) float64 { return 26 + float64(h)/150 }, func(h int) float64 { return float64(h) * 5000 })
	cs, err = PerTitle(l, cands, hard)
	if err != nil {
		t.Fatal(err)
	}
	rs = rungs(cs)
	for _, r := range rs {
		if r.Bitrate > r.MaxRate || r.CRF < 1 {
			t.Errorf("rung %+v out of bounds", r)
		}
	}
	if rs[0].Height != 1080 || rs[0].CRF > cands[0].CRF {
		t.Errorf("hard content top rung %dp CRF %d: want 1080p at CRF <= %d", rs[0].Height, rs[0].CRF, cands[0].CRF)
	}
	var hull int
	for _, tr := range hard {
		if tr.OnHull {
			hull++
		}
	}
	if hull < 2 || len(cs) == 0 {
		t.Errorf("hull %d points, %d chosen", hull, len(cs))
	}
}

func TestMarkHull(t *testing.T) {
	tr := []Trial{
		{Codec: CodecH264, Bitrate: 100, PSNR: 30},
		{Codec: CodecH264, Bitrate: 200, PSNR: 31}, // under the line from 100 to 400
		{Codec: CodecH264, Bitrate: 400, PSNR: 36},
		{Codec: CodecH264, Bitrate: 800, PSNR: 35}, // dearer and worse
		{Codec: CodecH264, Bitrate: 1600, PSNR: 38},
	}
	MarkHull(tr)
	want := []bool{true, false, true, false, true}
	for i := range tr {
		if tr[i].OnHull != want[i] {
			t.Errorf("trial %d: on hull %v, want %v", i, tr[i].OnHull, want[i])
		}
	}
}

// TestPerTitleFlatCurves: on a slideshow, quality barely moves with CRF
// and is not monotonic in it; every fixed rung must still be matched.
func TestPerTitleFlatCurves(t *testing.T) {
	l := Ladder{Mode: ModePerTitle}.Normalize()
	cands, err := Select(l, Source{Width: 1920, Height: 1080})
	if err != nil {
		t.Fatal(err)
	}
	pts := map[int][3][2]float64{ // height: CRF 23, 28, 33 as {bitrate, PSNR}
		234:  {{9136, 33.02}, {11338, 33.11}, {6734, 32.74}},
		360:  {{9328, 35.78}, {12898, 35.91}, {7840, 35.43}},
		540:  {{11786, 38.69}, {14246, 38.77}, {10164, 38.13}},
		720:  {{15592, 40.82}, {16522, 40.84}, {12606, 40.51}},
		1080: {{23302, 56.37}, {23204, 63.36}, {20228, 50.57}},
	}
	var trials []Trial
	for _, c := range cands {
		for i, crf := range TrialCRFs(c) {
			p := pts[c.Height][i]
			trials = append(trials, Trial{Codec: c.Codec, Width: c.Width, Height: c.Height, CRF: crf, Bitrate: p[0], PSNR: p[1]})
		}
	}
	cs, err := PerTitle(l, cands, trials)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range trials {
		if f.CRF != 23 {
			continue
		}
		best := 0.0
		for _, c := range cs {
			if c.Bitrate <= f.Bitrate {
				best = max(best, c.PSNR)
			}
		}
		if want := min(f.PSNR, l.QualityCeiling) - MergeDB; best < want {
			t.Errorf("at the %dp rung's %.0f bit/s the ladder offers %.2f dB, want >= %.2f (chosen %+v)", f.Height, f.Bitrate, best, want, cs)
		}
	}
	names := map[string]bool{}
	for _, c := range cs {
		if names[c.Rung.Name] {
			t.Errorf("name %s used twice", c.Rung.Name)
		}
		names[c.Rung.Name] = true
	}
}
