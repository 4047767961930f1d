// Package timeline holds the frame and time arithmetic that the job model
// and the ffmpeg adapter share: rational rates, the conform (how a
// master's frames are made uniform), the window that selects a chunk's
// frames, segment lengths in frames, MP4 timescales, the per-frame
// quality sums chunks add up, and an audio track's loudness and the gain
// that normalizes it. It imports nothing outside the standard library.
package timeline

import (
	"fmt"
	"strconv"
	"strings"
)

// Rational is a ratio such as a frame rate (30000/1001) or an aspect ratio.
type Rational struct {
	Num int `json:"num"`
	Den int `json:"den"`
}

// Float returns the value of r, or 0 when the denominator is 0.
func (r Rational) Float() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

func (r Rational) String() string { return fmt.Sprintf("%d/%d", r.Num, r.Den) }

// ParseRational reads "30000/1001", "16:9" or "25".
func ParseRational(s string) (Rational, error) {
	s = strings.TrimSpace(s)
	sep := strings.IndexAny(s, "/:")
	if sep < 0 {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Rational{}, fmt.Errorf("rational %q: %w", s, err)
		}
		return Rational{n, 1}, nil
	}
	n, err1 := strconv.Atoi(s[:sep])
	d, err2 := strconv.Atoi(s[sep+1:])
	if err1 != nil || err2 != nil {
		return Rational{}, fmt.Errorf("rational %q is not N/D", s)
	}
	return Rational{n, d}, nil
}

// Reduce returns r in lowest terms.
func (r Rational) Reduce() Rational {
	a, b := r.Num, r.Den
	for b != 0 {
		a, b = b, a%b
	}
	if a < 0 {
		a = -a
	}
	if a == 0 {
		return r
	}
	return Rational{r.Num / a, r.Den / a}
}

// Timescale returns an MP4 track timescale in which every frame duration of
// rate fr is a whole number of ticks.
func Timescale(fr Rational) int {
	if fr.Num <= 0 || fr.Den <= 0 {
		return 90000
	}
	if (90000*fr.Den)%fr.Num == 0 {
		return 90000
	}
	ts := fr.Num
	for ts < 10000 {
		ts += fr.Num
	}
	return ts
}

// SegmentFrames is the number of frames in one segment of the given length.
func SegmentFrames(fr Rational, seconds float64) int64 {
	n := int64(seconds*fr.Float() + 0.5)
	if n < 1 {
		n = 1
	}
	return n
}
