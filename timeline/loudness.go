package timeline

import "math"

// Loudness is an audio track's loudness by EBU R 128 (ITU-R BS.1770), as
// ffmpeg's ebur128 filter measures it over the whole track.
type Loudness struct {
	// Integrated is the gated loudness of the whole track, in LUFS.
	Integrated float64 `json:"integrated_lufs"`
	// Range is the loudness range (EBU Tech 3342), in LU.
	Range float64 `json:"range_lu"`
	// TruePeak is the highest true peak (4× oversampled) of any channel,
	// in dBTP.
	TruePeak float64 `json:"true_peak_dbtp"`
}

// SilenceFloor is BS.1770's absolute gate, -70 LUFS. A track with nothing
// above it is silent; Reel records lower values (a digital silence's
// true peak is -∞) as the floor.
const SilenceFloor = -70.0

// Floor returns l with every value below SilenceFloor (or not a number)
// raised to it, so that it can be stored as JSON.
func (l Loudness) Floor() Loudness {
	f := func(v float64) float64 {
		if math.IsNaN(v) || v < SilenceFloor {
			return SilenceFloor
		}
		return v
	}
	l.Integrated, l.TruePeak = f(l.Integrated), f(l.TruePeak)
	if math.IsNaN(l.Range) || math.IsInf(l.Range, 0) {
		l.Range = 0
	}
	return l
}

// Silent says whether the track has nothing above the absolute gate.
func (l Loudness) Silent() bool { return l.Integrated <= SilenceFloor }

// MaxLoudnessGain bounds the gain loudness normalization applies, in dB:
// a near-silent track is not raised into loud noise.
const MaxLoudnessGain = 30.0

// LimiterMargin is how far under the true-peak ceiling, in dB, the
// limiter holds a track's peaks: room for the lossy encoder's overshoot.
const LimiterMargin = 0.5

// LoudnessGain is the gain, in dB, that brings a track measured as m to
// target LUFS, at most MaxLoudnessGain; and whether the track's true peaks,
// raised by it, come within LimiterMargin of ceiling dBTP and must be
// limited. A silent track gets none.
func LoudnessGain(m Loudness, target, ceiling float64) (gain float64, limit bool) {
	if m.Silent() {
		return 0, false
	}
	gain = min(target-m.Integrated, MaxLoudnessGain)
	return gain, m.TruePeak+gain > ceiling-LimiterMargin
}

// maxLimitedExtra bounds how much gain CorrectGain adds for what the
// limiter took away.
const maxLimitedExtra = 6.0

// CorrectGain is the gain that makes up for what limiting took: a track
// raised by gain and limited measured after; the loudness it lacks is
// added, at most maxLimitedExtra dB and within MaxLoudnessGain.
func CorrectGain(gain float64, after Loudness, target float64) float64 {
	if after.Silent() {
		return gain
	}
	extra := min(max(target-after.Integrated, 0), maxLimitedExtra)
	return min(gain+extra, MaxLoudnessGain)
}
