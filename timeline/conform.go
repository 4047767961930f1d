package timeline

import "math"

// MaxOutputRate is the highest frame rate Reel writes. Faster sources are
// slowed by keeping every n-th frame, n the smallest whole number that
// brings the rate to MaxOutputRate or below (120 → 60, 100 → 50, 90 → 45,
// 240 → 60), so motion stays even and no frame is blended.
const MaxOutputRate = 60

// Conform says how a master's decoded frames are made uniform before they
// are scaled for each rung: progressive, upright, constant rate at most
// MaxOutputRate, 8-bit 4:2:0 limited range in BT.709 (tone-mapped from a
// PQ or HLG master), or 10-bit BT.2020 keeping the master's transfer for
// HDR rungs. It is derived from
// the probe once, stored in the job's plan, and used by every chunk (and by
// the single-pass reference the tests compare with).
type Conform struct {
	// InputRate is the master's nominal frame rate.
	InputRate Rational `json:"input_rate"`
	// Rate is the output frame rate.
	Rate Rational `json:"rate"`
	// Decimate keeps every n-th frame of a constant-rate master (1: all).
	Decimate int `json:"decimate"`
	// VFR marks a master whose timestamps do not follow its nominal rate
	// (gaps, jitter): frames are resampled onto the output rate by their
	// timestamps (ffmpeg's fps filter) instead of being counted.
	VFR bool `json:"vfr,omitempty"`
	// Deinterlace is "" for progressive sources, else the field order
	// bwdif is told: "tff" or "bff".
	Deinterlace string `json:"deinterlace,omitempty"`
	// Rotate is the clockwise rotation applied, 0, 90, 180 or 270.
	Rotate int `json:"rotate,omitempty"`
	// InRange is the source's range, "tv" (limited) or "pc" (full).
	InRange string `json:"in_range"`
	// InMatrix is the source's YUV matrix as the scale filter names it.
	InMatrix string `json:"in_matrix"`
	// HDR is the transfer of a high-dynamic-range master: TransferPQ
	// (SMPTE ST 2084) or TransferHLG (ARIB STD-B67); "" for SDR.
	HDR string `json:"hdr,omitempty"`
	// InPrimaries are an HDR master's colour primaries as zscale names
	// them (2020 for BT.2020, the norm).
	InPrimaries string `json:"in_primaries,omitempty"`
	// DisplayWidth and DisplayHeight are the upright, square-pixel size of
	// the picture: what rungs are fitted to.
	DisplayWidth  int `json:"display_width"`
	DisplayHeight int `json:"display_height"`
}

// HDR transfers.
const (
	TransferPQ  = "pq"
	TransferHLG = "hlg"
)

// FirstSlot is the output frame slot of a variable-rate master's first
// frame: slot n is the frame shown at time n / Rate on the master's
// timeline.
func (c Conform) FirstSlot(start float64) int64 {
	return int64(math.Round(start * c.Rate.Float()))
}

// OutputFrames is the number of frames Reel writes for a master of frames
// frames starting at start and lasting duration seconds.
func (c Conform) OutputFrames(frames int64, start, duration float64) int64 {
	if c.VFR {
		return int64(math.Round((start+duration)*c.Rate.Float())) - c.FirstSlot(start)
	}
	k := int64(max(c.Decimate, 1))
	return (frames + k - 1) / k
}

// Window selects a chunk's frames from its decoded input. For a
// constant-rate master it is a span of the input timeline (Start, End in
// seconds, End 0 meaning to the end) holding exactly the chunk's input
// frames. For a variable-rate master the input timeline is shifted by Base
// back to the master's own, and output slots [FirstSlot, EndSlot) are kept
// (EndSlot 0 meaning to the end).
type Window struct {
	Start, End         float64
	Base               float64
	FirstSlot, EndSlot int64
}
