package ladder

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Trial is one trial encode of a per-title analysis: a candidate rung's
// size at one CRF, the bitrate it would take and its quality, in dB PSNR
// against the source, both scaled to the top candidate's size.
type Trial struct {
	Codec   string  `json:"codec"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	CRF     int     `json:"crf"`
	Bitrate float64 `json:"bitrate"`
	PSNR    float64 `json:"psnr"`
	// OnHull marks the trials on the quality/bitrate convex hull of their
	// codec.
	OnHull bool `json:"on_hull,omitempty"`
}

// TrialCRFs are the CRFs a candidate rung is tried at: its own and two
// cheaper. A per-title rung never aims above the quality of the fixed rung
// it replaces, so the cheaper side is where the choice lies.
func TrialCRFs(r Rung) []int {
	out := []int{}
	for _, d := range []int{0, 5, 10} {
		c := min(max(r.CRF+d, 1), MaxCRF[r.Codec])
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// MarkHull sets OnHull on the trials on the upper convex hull of quality
// over log bitrate, per codec: the trials no mix of others beats.
func MarkHull(trials []Trial) {
	for _, codec := range Codecs {
		var idx []int
		for i, t := range trials {
			if t.Codec != codec {
				continue
			}
			trials[i].OnHull = false
			if t.Bitrate > 0 {
				idx = append(idx, i)
			}
		}
		sort.Slice(idx, func(a, b int) bool { return trials[idx[a]].Bitrate < trials[idx[b]].Bitrate })
		x := func(i int) float64 { return math.Log2(trials[i].Bitrate) }
		y := func(i int) float64 { return trials[i].PSNR }
		var hull []int
		for _, i := range idx {
			if len(hull) > 0 && y(i) <= y(hull[len(hull)-1]) {
				continue // costs more for no better quality
			}
			// Keep the hull concave: drop the last point while it lies on
			// or under the line from the one before it to i.
			for len(hull) >= 2 {
				a, b := hull[len(hull)-2], hull[len(hull)-1]
				if (y(b)-y(a))*(x(i)-x(a)) <= (y(i)-y(a))*(x(b)-x(a)) {
					hull = hull[:len(hull)-1]
					continue
				}
				break
			}
			hull = append(hull, i)
		}
		for _, i := range hull {
			trials[i].OnHull = true
		}
	}
}

// point is a place on one size's quality curve: a CRF between two trials,
// its bitrate and quality interpolated.
type point struct {
	codec         string
	width, height int
	crf           int
	bitrate, psnr float64
}

// cheapest returns the cheapest point of one size's trials (sorted by CRF)
// that reaches quality q: a trial, or a CRF between two neighbouring
// trials of which the lower reaches q and the higher does not
// (interpolating quality linearly and bitrate log-linearly in CRF, with
// the CRF rounded down so the quality holds). Quality need not fall as
// CRF rises (it can barely move on easy content); every such pair is
// tried. It reports false when no trial reaches q.
func cheapest(curve []Trial, q float64) (point, bool) {
	var best point
	found := false
	take := func(p point) {
		if !found || p.bitrate < best.bitrate {
			best, found = p, true
		}
	}
	for i, a := range curve {
		if a.PSNR < q {
			continue
		}
		take(point{a.Codec, a.Width, a.Height, a.CRF, a.Bitrate, a.PSNR})
		if i+1 >= len(curve) || curve[i+1].PSNR >= q {
			continue
		}
		b := curve[i+1]
		f := (a.PSNR - q) / (a.PSNR - b.PSNR)
		crf := a.CRF + int(math.Floor(f*float64(b.CRF-a.CRF)))
		f = float64(crf-a.CRF) / float64(b.CRF-a.CRF)
		take(point{a.Codec, a.Width, a.Height, crf, math.Exp(math.Log(a.Bitrate) + f*(math.Log(b.Bitrate)-math.Log(a.Bitrate))),
			a.PSNR + f*(b.PSNR-a.PSNR)})
	}
	return best, found
}

// MergeDB is the quality difference under which two chosen rungs count as
// the same and the dearer is dropped: no client loses more than this.
const MergeDB = 0.25

// Choice is a rung of a per-title ladder with the bitrate and quality the
// trials predict for it (Rung.Bitrate is at least 50 kbit/s, the least a
// rung may name).
type Choice struct {
	Rung    Rung    `json:"rung"`
	Bitrate float64 `json:"bitrate"`
	PSNR    float64 `json:"psnr"`
}

// PerTitle chooses a per-title ladder from trial encodes. candidates are
// the ladder's rungs fitted to the source (Select); trials hold every
// candidate's size at TrialCRFs. For each candidate, the fixed ladder's
// own point (its size at its CRF) sets the quality to match, lowered to
// the ceiling; the rung is then the cheapest point of any size of that
// codec reaching it, or, but for the lowest rung, the cheapest reaching the
// floor when the match falls short of it and that costs no more. So no
// rung spends more bits than the fixed rung it replaces for equal or
// better quality (capped at the ceiling). A rung less than MergeDB better
// than the one below it is dropped. Trials are marked OnHull.
func PerTitle(l Ladder, candidates []Rung, trials []Trial) ([]Choice, error) {
	if len(trials) == 0 {
		return nil, errors.New("ladder: per-title: no trial encodes")
	}
	MarkHull(trials)
	type key struct {
		codec  string
		height int
	}
	curves := map[key][]Trial{}
	for _, t := range trials {
		curves[key{t.Codec, t.Height}] = append(curves[key{t.Codec, t.Height}], t)
	}
	for k := range curves {
		slices.SortFunc(curves[k], func(a, b Trial) int { return a.CRF - b.CRF })
	}
	var out []Choice
	for _, codec := range Codecs {
		var cands []Rung
		for _, r := range candidates {
			if r.Codec == codec {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			continue
		}
		type target struct {
			p    point
			cand Rung // the candidate of the point's size: its caps and settings
		}
		var targets []target
		byHeight := map[int]Rung{}
		for _, c := range cands {
			byHeight[c.Height] = c
		}
		// The candidates' own points, cheapest first.
		type fixed struct {
			rung Rung
			p    point
		}
		var fx []fixed
		for _, c := range cands {
			i := slices.IndexFunc(curves[key{codec, c.Height}], func(t Trial) bool { return t.CRF == c.CRF })
			if i < 0 {
				return nil, fmt.Errorf("ladder: per-title: no trial of %s at its CRF %d", c.Name, c.CRF)
			}
			t := curves[key{codec, c.Height}][i]
			fx = append(fx, fixed{c, point{codec, t.Width, t.Height, t.CRF, t.Bitrate, t.PSNR}})
		}
		sort.Slice(fx, func(a, b int) bool { return fx[a].p.bitrate < fx[b].p.bitrate })
		reach := func(q float64) (point, bool) {
			best, found := point{}, false
			for _, c := range cands {
				p, ok := cheapest(curves[key{codec, c.Height}], q)
				if ok && (!found || p.bitrate < best.bitrate) {
					best, found = p, true
				}
			}
			return best, found
		}
		for i, f := range fx {
			best, found := reach(min(f.p.psnr, l.QualityCeiling))
			if !found {
				best = f.p
			}
			// The floor where it costs no more than the fixed rung.
			if fl, ok := reach(l.QualityFloor); i > 0 && best.psnr < l.QualityFloor && ok && fl.bitrate <= f.p.bitrate {
				best = fl
			}
			targets = append(targets, target{best, byHeight[best.height]})
		}
		// Drop rungs that add too little quality over the rung below.
		var kept []target
		for _, t := range targets {
			if len(kept) == 0 || t.p.psnr >= kept[len(kept)-1].p.psnr+MergeDB {
				kept = append(kept, t)
			}
		}
		slices.Reverse(kept)
		names := map[string]bool{}
		for _, t := range kept {
			r := t.cand
			r.Width, r.Height, r.CRF = t.p.width, t.p.height, t.p.crf
			r.Bitrate = min(max(int(math.Round(t.p.bitrate/1000))*1000, 50000), r.MaxRate)
			r.Name = rungName(r.Height, codec)
			if names[r.Name] {
				r.Name = fmt.Sprintf("%s-crf%d", r.Name, r.CRF)
			}
			names[r.Name] = true
			out = append(out, Choice{Rung: r, Bitrate: math.Round(t.p.bitrate), PSNR: math.Round(t.p.psnr*100) / 100})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("ladder: per-title: no rung could be chosen")
	}
	return out, nil
}
