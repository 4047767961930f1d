package pipeline

import (
	"errors"
	"math"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// Chunk is a range of source frames [Start, End) encoded by one task.
type Chunk struct {
	Index int   `json:"index"`
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Quality holds, once the chunk is encoded, the PSNR and SSIM sums of
	// each rendition (in rendition order) against the chunk's source.
	Quality []timeline.QualityStats `json:"quality,omitempty"`
	// Segments is, once the chunk is encoded, the key prefix (in the
	// masters bucket) of its CMAF segments on the title's timeline: the
	// ones the first encode of the chunk to finish stored, which are the
	// ones published.
	Segments string `json:"segments,omitempty"`
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
// boundaries, and (after the split) the pieces that hold them. Frames,
// chunks and segments count output frames, at the conformed rate.
type Plan struct {
	FrameRateNum   int     `json:"frame_rate_num"` // output frame rate
	FrameRateDen   int     `json:"frame_rate_den"`
	SegmentSeconds float64 `json:"segment_seconds"`
	SegmentFrames  int64   `json:"segment_frames"`
	Frames         int64   `json:"frames"`
	Chunks         []Chunk `json:"chunks"`
	Pieces         []Piece `json:"pieces,omitempty"`
	// Conform is how every chunk's frames are made uniform.
	Conform timeline.Conform `json:"conform"`
	// FirstSlot is, for a variable-rate master, the output slot of its
	// first frame (see timeline.Conform.FirstSlot).
	FirstSlot int64 `json:"first_slot,omitempty"`
	// PrerollFrames is how many frames before its start each chunk (but
	// the first) encodes and throws away, so the encoder's rate control
	// and VBV buffer reach the chunk's first frame in the state one
	// encode of the whole title would be in.
	PrerollFrames int64 `json:"preroll_frames"`
	// Seek says the master is read where each chunk needs it, over HTTP
	// range requests through its index, instead of from the split's
	// pieces (media.Seekable); Start is then the time of its first video
	// frame on Reel's timeline, which the pieces' first start is otherwise.
	Seek  bool    `json:"seek,omitempty"`
	Start float64 `json:"start,omitempty"`
}

// PrerollSeconds is MakePlan's preroll, which is never shorter than one
// segment either; a job's plan takes its ladder's instead (SetPreroll,
// ladder.Ladder.Preroll). The encoder state that lasts longest
// is the VBV buffer of a rung whose ceiling binds: each encode starts it
// 90% full, where one encode of the whole title may have drained it.
const PrerollSeconds = 4.0

// SetPreroll makes each chunk's preroll (but the first's) last seconds,
// in whole frames, or with wholeSegments in whole segments, rounded up
// (for encoders that place keyframes by counting from their first frame).
func (p *Plan) SetPreroll(seconds float64, wholeSegments bool) {
	n := max(int64(math.Round(seconds*p.FPS())), 0)
	if seg := p.SegmentFrames; wholeSegments && seg > 0 {
		n = (n + seg - 1) / seg * seg
	}
	p.PrerollFrames = n
}

// Preroll is the number of preroll frames of chunk k.
func (p Plan) Preroll(k int) int64 {
	if k < 0 || k >= len(p.Chunks) {
		return 0
	}
	return min(p.Chunks[k].Start, p.PrerollFrames)
}

// pieceMargin is how far past a chunk's end its pieces must reach, for
// frames shown before a keyframe but stored after it.
const pieceMargin = 1.0

// vfrMargin is how far before a variable-rate chunk's first slot its
// pieces must start: the frame on screen at that slot may be older.
const vfrMargin = 1.0

// Chunk sizes AutoChunkSegments chooses between, in segments.
const (
	MinAutoChunkSegments = 3  // a chunk's preroll is at most a third of it
	MaxAutoChunkSegments = 15 // a retried chunk loses at most this much
)

// AutoChunkSegments sizes chunks to the workers: the fewest chunks, a
// multiple of slots (the tasks all workers run at once), that keep each
// chunk within MaxAutoChunkSegments segments, but no chunk under
// MinAutoChunkSegments. So every slot gets about the same work, and few
// chunks pay the preroll. With slots unknown (0), DefaultChunkSegments.
func AutoChunkSegments(frames, segFrames int64, slots int) int {
	if slots <= 0 || segFrames <= 0 || frames <= 0 {
		return ladder.DefaultChunkSegments
	}
	segs := (frames + segFrames - 1) / segFrames
	per := int64(MaxAutoChunkSegments)
	for k := int64(1); ; k++ {
		if p := (segs + int64(slots)*k - 1) / (int64(slots) * k); p <= MaxAutoChunkSegments {
			per = p
			break
		}
	}
	return int(max(per, MinAutoChunkSegments))
}

// MakePlan cuts frames at rate num/den into segments of about segSeconds
// and chunks of chunkSegments segments. Every chunk but the last holds a
// whole number of segments, so chunk seams are segment boundaries. The
// conform defaults to constant rate num/den; callers set Conform and
// FirstSlot for other masters.
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
	rate := timeline.Rational{Num: num, Den: den}
	p := Plan{FrameRateNum: num, FrameRateDen: den, SegmentSeconds: segSeconds, SegmentFrames: segFrames, Frames: frames,
		Conform: timeline.Conform{InputRate: rate, Rate: rate, Decimate: 1}, PrerollFrames: max(segFrames, int64(math.Round(PrerollSeconds*fps)))}
	for start, i := int64(0), 0; start < frames; start, i = start+chunkFrames, i+1 {
		p.Chunks = append(p.Chunks, Chunk{Index: i, Start: start, End: min(start+chunkFrames, frames)})
	}
	// A last chunk that is only a short tail (ShortTail) joins the chunk
	// before it, whose last segment the tail joins: a segment is then
	// always whole within its chunk.
	if n := len(p.Chunks); n > 1 && p.ShortTail() && p.Chunks[n-1].End-p.Chunks[n-1].Start < segFrames {
		p.Chunks[n-2].End = frames
		p.Chunks = p.Chunks[:n-1]
	}
	return p, nil
}

// FirstChunkSeconds is how long, in whole segments, the first chunk of a
// plan sized to the workers lasts at least (ShortenFirst).
const FirstChunkSeconds = 4.0

// ShortenFirst splits off a short first chunk, of the fewest whole
// segments that last FirstChunkSeconds: it is encoded first and alone
// makes the title playable (StatusPlayable) while the others encode.
// slots is the number of tasks all workers run at once (0 when unknown).
// The queue hands chunks out in order, so the slot that encodes the short
// chunk is the first free one and takes chunk number slots, the first
// after the first round; that chunk is made shorter by the short chunk's
// length, so the slots finish together (16 segments on 2 slots: 1 + 8 +
// 7, each slot encoding 8). With fewer chunks than slots the rest of the
// first chunk follows the short one. Nothing is split when a chunk made
// here would be under MinAutoChunkSegments.
func (p *Plan) ShortenFirst(slots int) {
	if len(p.Chunks) == 0 || p.SegmentFrames <= 0 {
		return
	}
	seg := p.SegmentFrames
	short := max(int64(math.Ceil(FirstChunkSeconds*p.FPS()/float64(seg)-1e-9)), 1) * seg
	n, k := len(p.Chunks), max(slots, 1)
	ends := []int64{short}
	switch {
	case n == k:
		// One round: the short chunk's slot takes the last chunk and the
		// larger share of an uneven split (the audio task takes one of
		// the other slots); the other k-1 share the rest, larger first.
		whole := (p.Frames + seg - 1) / seg
		if p.ShortTail() {
			whole-- // the runt is part of the segment before it
		}
		others := whole - (whole+int64(k)-1)/int64(k)
		for i := int64(1); i < int64(k); i++ {
			ends = append(ends, short+(others*i+int64(k)-2)/int64(k-1)*seg)
		}
		ends = append(ends, p.Frames)
	case n > k:
		// Several rounds: the first round's other chunks keep their
		// length and move up by the short chunk; the rounds after end
		// where they ended before.
		for _, c := range p.Chunks[:k-1] {
			ends = append(ends, short+c.End)
		}
		for _, c := range p.Chunks[k-1:] {
			ends = append(ends, c.End)
		}
	default:
		for _, c := range p.Chunks {
			ends = append(ends, c.End)
		}
	}
	chunks := make([]Chunk, len(ends))
	start := int64(0)
	for i, end := range ends {
		if end <= start || i > 0 && i <= k && end-start < MinAutoChunkSegments*seg {
			return
		}
		chunks[i] = Chunk{Index: i, Start: start, End: end}
		start = end
	}
	p.Chunks = chunks
}

// ShortTail reports whether the title's last segment would last less than
// half a segment. It then joins the segment before it in every track, so
// no segment is a runt: a player sizing its buffer to the target duration
// never meets a two-frame segment, and a short segment's bits do not
// stand for a whole segment's in the peak bit rate.
func (p Plan) ShortTail() bool {
	rem := p.Frames % max(p.SegmentFrames, 1)
	return p.Frames > p.SegmentFrames && rem > 0 && 2*rem < p.SegmentFrames
}

// FPS is the plan's output frame rate.
func (p Plan) FPS() float64 { return float64(p.FrameRateNum) / float64(p.FrameRateDen) }

// inputFPS is the rate of the master's frames as the split sees them.
func (p Plan) inputFPS() float64 {
	if f := p.Conform.InputRate.Float(); f > 0 {
		return f
	}
	return p.FPS()
}

// since returns how long after the master's first frame output frame n is
// shown.
func (p Plan) since(n int64) float64 {
	if p.Conform.VFR {
		return float64(n) / p.FPS()
	}
	return float64(n*int64(max(p.Conform.Decimate, 1))) / p.inputFPS()
}

// MaxCutLead is how far at most a cut of the split comes before the
// start of the chunk window it serves (see Cuts).
const MaxCutLead = 10.0

// Cuts are the times, relative to the first frame, at which the split
// starts new pieces. The split cuts at the master's first keyframe at or
// after each time, and a chunk decodes its window (preroll included) from
// the start of the piece the window starts in, dropping the frames before
// it. So each cut comes a lead before a window's start, not at the chunk
// boundary: when the master's keyframes are at most the lead apart, the
// piece starts at or before the window and at most the lead's worth of
// frames is decoded for nothing (a cut at the boundary would leave the
// window in the piece before, a whole chunk earlier). The lead is
// MaxCutLead, and at most half the chunk before, so cuts stay in order.
func (p Plan) Cuts() []float64 {
	var cuts []float64
	for k := 1; k < len(p.Chunks); k++ {
		prev := p.Chunks[k-1]
		lead := min(MaxCutLead, (p.since(prev.End)-p.since(prev.Start))/2)
		t := p.since(p.Chunks[k].Start-p.Preroll(k)) - lead
		if t <= 0 || (len(cuts) > 0 && t <= cuts[len(cuts)-1]) {
			continue
		}
		cuts = append(cuts, t)
	}
	return cuts
}

// Window says how one chunk is read: which pieces to join (starting at a
// clean one), or for a plan that seeks, where to seek the master to; and
// how the chunk's frames are selected from what is read
// (timeline.Window).
type Window struct {
	Pieces    []int
	Durations []float64 // duration of each listed piece but the last
	// Seek is, for a plan that seeks, the time on Reel's timeline the
	// master is sought to: the demuxer starts at the keyframe at or before
	// it, and what is read is timed from it.
	Seek   float64
	Select timeline.Window
	// Preroll is how many frames before the chunk Select includes.
	Preroll int64
}

// ChunkWindow returns the window of chunk k, preroll included. It needs
// the pieces.
//
// For a constant-rate master, input frame n sits at Pieces[0].Start +
// n/fps, and the selected span's edges are half an input frame before the
// chunk's first frame and before the next chunk's first frame, so rounded
// timestamps still land inside. For a variable-rate master the chunk is
// the output slots [FirstSlot+Start, FirstSlot+End), read from pieces that
// start vfrMargin earlier.
func (p Plan) ChunkWindow(k int) (Window, error) {
	if k < 0 || k >= len(p.Chunks) {
		return Window{}, errors.New("plan: chunk out of range")
	}
	if len(p.Pieces) == 0 && !p.Seek {
		return Window{}, errors.New("plan: the master has not been split")
	}
	c := p.Chunks[k]
	pre := p.Preroll(k)
	c.Start -= pre
	t0 := p.Start
	if !p.Seek {
		t0 = p.Pieces[0].Start
	}
	var a, b float64
	if p.Conform.VFR {
		a = float64(p.FirstSlot+c.Start)/p.FPS() - vfrMargin
		b = float64(p.FirstSlot+c.End) / p.FPS()
	} else {
		half := 0.5 / p.inputFPS()
		a = t0 + p.since(c.Start) - half
		b = t0 + p.since(c.End) - half
	}
	last := k == len(p.Chunks)-1
	w := Window{Preroll: pre}
	if p.Seek {
		// Sought a little before the window, so that its selection always
		// starts after 0 and drops what the demuxer's keyframe brings in
		// before it (timed below 0).
		w.Seek = max(a-seekMargin, 0)
		w.Select = p.selection(a, b, w.Seek, c, last)
		return w, nil
	}
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
	w.Select = p.selection(a, b, p.Pieces[w.Pieces[0]].Start, c, last)
	return w, nil
}

// Readable says whether chunks can be read: the master is split, or it
// is read by seeking.
func (p *Plan) Readable() bool { return p != nil && (p.Seek || len(p.Pieces) > 0) }

// SeekTo returns window w of a plan that seeks, read from an earlier
// seek, s seconds (where decoding can start cleanly when the keyframe of
// w.Seek cannot): the same frames, selected on a timeline that counts
// from s.
func (p Plan) SeekTo(w Window, s float64) Window {
	d := w.Seek - s
	if d <= 0 {
		return w
	}
	w.Seek = s
	if p.Conform.VFR {
		// Slots are on Reel's timeline, read from Base on.
		w.Select.Base = s
		return w
	}
	w.Select.Start += d
	if w.Select.End > 0 {
		w.Select.End += d
	}
	return w
}

// seekMargin is how far before a chunk's window a plan that seeks seeks.
const seekMargin = 1.0

// selection picks chunk c's frames, [a, b) on Reel's timeline (output
// slots for a variable-rate master), from frames read from time base on.
func (p Plan) selection(a, b, base float64, c Chunk, last bool) timeline.Window {
	var w timeline.Window
	if p.Conform.VFR {
		w = timeline.Window{Base: base, FirstSlot: p.FirstSlot + c.Start}
		if !last {
			w.EndSlot = p.FirstSlot + c.End
		}
		return w
	}
	w.Start = max(a-base, 0)
	if !last {
		w.End = b - base
	}
	return w
}
