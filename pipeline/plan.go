package pipeline

import (
	"errors"
	"math"
)

// Chunk is a range of source frames [Start, End) encoded by one task.
type Chunk struct {
	Index int   `json:"index"`
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Piece is one stream-copied slice of the master made by the split stage.
type Piece struct {
	Key   string  `json:"key"`
	Start float64 `json:"start"` // timestamp of its first frame, in the pieces' timeline
	// Clean says decoding can start at this piece. A piece cut at an I-frame
	// that later frames reach past is not clean: a chunk that starts in it
	// decodes from the nearest clean piece before it.
	Clean bool `json:"clean"`
}

// Plan is how a job's video is cut up: segments, chunks on segment
// boundaries, and (after the split) the pieces that hold them.
type Plan struct {
	FrameRateNum   int     `json:"frame_rate_num"`
	FrameRateDen   int     `json:"frame_rate_den"`
	SegmentSeconds float64 `json:"segment_seconds"`
	SegmentFrames  int64   `json:"segment_frames"`
	Frames         int64   `json:"frames"`
	Chunks         []Chunk `json:"chunks"`
	Pieces         []Piece `json:"pieces,omitempty"`
}

// pieceMargin is how far past a chunk's end its pieces must reach, for
// frames shown before a keyframe but stored after it.
const pieceMargin = 1.0

// MakePlan cuts frames at rate num/den into segments of about segSeconds
// and chunks of chunkSegments segments. Every chunk but the last holds a
// whole number of segments, so chunk seams are segment boundaries.
func MakePlan(frames int64, num, den int, segSeconds float64, chunkSegments int) (Plan, error) {
	if frames <= 0 || num <= 0 || den <= 0 || segSeconds <= 0 || chunkSegments <= 0 {
		return Plan{}, errors.New("plan: frames, frame rate, segment length and chunk size must be positive")
	}
	fps := float64(num) / float64(den)
	segFrames := int64(math.Round(segSeconds * fps))
	if segFrames < 1 {
		segFrames = 1
	}
	chunkFrames := segFrames * int64(chunkSegments)
	p := Plan{FrameRateNum: num, FrameRateDen: den, SegmentSeconds: segSeconds, SegmentFrames: segFrames, Frames: frames}
	for start, i := int64(0), 0; start < frames; start, i = start+chunkFrames, i+1 {
		p.Chunks = append(p.Chunks, Chunk{Index: i, Start: start, End: min(start+chunkFrames, frames)})
	}
	return p, nil
}

// FPS is the plan's frame rate.
func (p Plan) FPS() float64 { return float64(p.FrameRateNum) / float64(p.FrameRateDen) }

// Cuts are the times, relative to the first frame, at which the split
// starts new pieces: the chunk boundaries.
func (p Plan) Cuts() []float64 {
	var cuts []float64
	for _, c := range p.Chunks[1:] {
		cuts = append(cuts, float64(c.Start)/p.FPS())
	}
	return cuts
}

// Window says how one chunk is read: which pieces to join (starting at a
// clean one), and which span of
// the joined timeline (in seconds, End 0 meaning to the end) holds exactly
// the chunk's frames. Frame n of the master sits at Pieces[0].Start + n/fps;
// the span's edges are half a frame before the first frame and before the
// first frame of the next chunk, so rounded timestamps still land inside.
type Window struct {
	Pieces    []int
	Durations []float64 // duration of each listed piece but the last
	Start     float64
	End       float64
}

// ChunkWindow returns the window of chunk k. It needs the pieces.
func (p Plan) ChunkWindow(k int) (Window, error) {
	if k < 0 || k >= len(p.Chunks) {
		return Window{}, errors.New("plan: chunk out of range")
	}
	if len(p.Pieces) == 0 {
		return Window{}, errors.New("plan: the master has not been split")
	}
	c := p.Chunks[k]
	t0 := p.Pieces[0].Start
	a := t0 + (float64(c.Start)-0.5)/p.FPS()
	b := t0 + (float64(c.End)-0.5)/p.FPS()
	last := k == len(p.Chunks)-1
	var w Window
	for i, pc := range p.Pieces {
		endsAfterA := i+1 >= len(p.Pieces) || p.Pieces[i+1].Start > a
		startsBeforeB := last || pc.Start < b+pieceMargin
		if endsAfterA && startsBeforeB {
			w.Pieces = append(w.Pieces, i)
		}
	}
	if len(w.Pieces) == 0 {
		return Window{}, errors.New("plan: no piece covers the chunk")
	}
	for first := w.Pieces[0]; first > 0 && !p.Pieces[first].Clean; {
		first--
		w.Pieces = append([]int{first}, w.Pieces...)
	}
	for _, i := range w.Pieces[:len(w.Pieces)-1] {
		w.Durations = append(w.Durations, p.Pieces[i+1].Start-p.Pieces[i].Start)
	}
	base := p.Pieces[w.Pieces[0]].Start
	w.Start = max(a-base, 0)
	if !last {
		w.End = b - base
	}
	return w, nil
}
