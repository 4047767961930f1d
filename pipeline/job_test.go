package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

func TestTransitions(t *testing.T) {
	all := []Status{StatusQueued, StatusProbing, StatusSplitting, StatusEncoding, StatusPackaging, StatusPublishing, StatusComplete, StatusFailed, StatusCanceled}
	for i, from := range all {
		for j, to := range all {
			got := CanMove(from, to)
			want := !from.Terminal() && (to.Terminal() || j > i)
			if got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if CanMove(StatusQueued, "bogus") || CanMove("bogus", StatusProbing) {
		t.Error("unknown statuses must not move")
	}
}

func TestJobMoveAndFail(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := &Job{Status: StatusQueued}
	if err := j.Move(StatusProbing, now); err != nil || j.StartedAt == nil {
		t.Fatalf("move: %v %+v", err, j)
	}
	if err := j.Move(StatusQueued, now); !errors.Is(err, ErrTransition) {
		t.Fatalf("backward move allowed: %v", err)
	}
	if err := j.Fail(CodeInvalidMedia, "no video", now); err != nil || j.Error.Code != CodeInvalidMedia || j.FinishedAt == nil {
		t.Fatalf("fail: %v %+v", err, j)
	}
	if err := j.Move(StatusComplete, now); err == nil {
		t.Fatal("a failed job completed")
	}
}

func TestMakePlan(t *testing.T) {
	p, err := MakePlan(1000, 30000, 1001, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.SegmentFrames != 120 {
		t.Fatalf("segment frames %d", p.SegmentFrames)
	}
	var n int64
	for i, c := range p.Chunks {
		if c.Start != n {
			t.Fatalf("chunk %d starts at %d, want %d", i, c.Start, n)
		}
		if i < len(p.Chunks)-1 && (c.End-c.Start)%p.SegmentFrames != 0 {
			t.Fatalf("chunk %d is not a whole number of segments", i)
		}
		n = c.End
	}
	if n != 1000 || len(p.Chunks) != 3 {
		t.Fatalf("chunks cover %d frames in %d chunks", n, len(p.Chunks))
	}
	// Each cut comes before its chunk's window (the chunk's start less a
	// 120-frame preroll) by half a 360-frame chunk: 360-120-180 = 60 and
	// 720-120-180 = 420 frames in.
	if cuts := p.Cuts(); len(cuts) != 2 || abs(cuts[0]-60*1.001/30) > 1e-9 || abs(cuts[1]-420*1.001/30) > 1e-9 {
		t.Fatalf("cuts %v", cuts)
	}
	// Long chunks: the lead is MaxCutLead.
	long, _ := MakePlan(3000, 25, 1, 4, 15)
	if cuts := long.Cuts(); len(cuts) != 1 || abs(cuts[0]-(60-4-MaxCutLead)) > 1e-9 {
		t.Fatalf("cuts of 60 s chunks %v", cuts)
	}
	for _, bad := range [][5]float64{{0, 30, 1, 4, 3}, {10, 0, 1, 4, 3}, {10, 30, 1, 0, 3}, {10, 30, 1, 4, 0}} {
		if _, err := MakePlan(int64(bad[0]), int(bad[1]), int(bad[2]), bad[3], int(bad[4])); err == nil {
			t.Errorf("MakePlan%v succeeded", bad)
		}
	}
}

func TestChunkWindow(t *testing.T) {
	p, _ := MakePlan(600, 30, 1, 4, 1) // chunks of 120 frames, boundaries every 4 s
	if p.PrerollFrames != 120 {
		t.Errorf("preroll %d frames, want one segment", p.PrerollFrames)
	}
	p.PrerollFrames = 0
	// Pieces cut at the first keyframe after each boundary (GOP 97 frames).
	p.Pieces = []Piece{{"a", 0.067, true}, {"b", 6.534, true}, {"c", 9.767, true}, {"d", 13.0, true}, {"e", 16.234, true}}
	cases := []struct {
		k            int
		pieces       []int
		start, end   float64
		durationsLen int
	}{
		{0, []int{0}, 0, 3.983333, 0},
		{1, []int{0, 1}, 3.983333, 7.983333, 1},
		{2, []int{1, 2, 3}, 1.516333, 5.516333, 2}, // piece 3 starts within the margin
		{3, []int{2, 3, 4}, 2.283333, 6.283333, 2},
		{4, []int{3, 4}, 3.050333, 0, 1},
	}
	for _, c := range cases {
		w, err := p.ChunkWindow(c.k)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Pieces) != len(c.pieces) || w.Pieces[0] != c.pieces[0] || len(w.Durations) != c.durationsLen {
			t.Errorf("chunk %d: pieces %v durations %v, want %v", c.k, w.Pieces, w.Durations, c.pieces)
		}
		if abs(w.Select.Start-c.start) > 1e-5 || abs(w.Select.End-c.end) > 1e-5 {
			t.Errorf("chunk %d: window %.6f..%.6f, want %.6f..%.6f", c.k, w.Select.Start, w.Select.End, c.start, c.end)
		}
	}
	if _, err := p.ChunkWindow(5); err == nil {
		t.Error("chunk out of range accepted")
	}
	// A chunk starting in a piece that cannot be decoded from its start
	// reaches back to the nearest clean piece, and its window moves with it.
	p.Pieces[1].Clean, p.Pieces[2].Clean = false, false
	w, err := p.ChunkWindow(3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.Pieces) != "[0 1 2 3 4]" || len(w.Durations) != 4 || abs(w.Select.Start-359.5/30) > 1e-9 || abs(w.Select.End-479.5/30) > 1e-9 {
		t.Errorf("chunk 3 with unclean pieces: %+v", w)
	}
	// With a preroll, a chunk's window starts that many frames earlier;
	// the first chunk has none.
	p.PrerollFrames = 60
	if w, _ = p.ChunkWindow(0); w.Preroll != 0 || w.Select.Start != 0 {
		t.Errorf("chunk 0 with preroll: %+v", w)
	}
	if w, _ = p.ChunkWindow(3); w.Preroll != 60 || abs(w.Select.Start-299.5/30) > 1e-9 || abs(w.Select.End-479.5/30) > 1e-9 {
		t.Errorf("chunk 3 with preroll: %+v", w)
	}
}

func TestChunkWindowDecimatedAndVFR(t *testing.T) {
	// 120 fps kept one frame in two: output chunks of 240 frames at 60 fps
	// are 480 input frames each.
	p, _ := MakePlan(600, 60, 1, 4, 1)
	p.PrerollFrames = 0
	p.Conform = timeline.Conform{InputRate: timeline.Rational{Num: 120, Den: 1}, Rate: timeline.Rational{Num: 60, Den: 1}, Decimate: 2}
	if cuts := p.Cuts(); len(cuts) != 2 || abs(cuts[0]-2) > 1e-9 || abs(cuts[1]-6) > 1e-9 {
		t.Fatalf("decimated cuts %v", cuts)
	}
	p.Pieces = []Piece{{"a", 0, true}, {"b", 4, true}, {"c", 8, true}}
	w, err := p.ChunkWindow(1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.Pieces) != "[0 1 2]" || abs(w.Select.Start-(4-0.5/120)) > 1e-9 || abs(w.Select.End-(8-0.5/120)) > 1e-9 {
		t.Errorf("decimated window %+v", w)
	}

	// Variable rate: chunks are output slots after the first slot, and a
	// chunk's pieces start a margin before its first slot.
	p, _ = MakePlan(300, 30, 1, 2, 1) // 60-frame chunks
	p.PrerollFrames = 0
	p.Conform = timeline.Conform{InputRate: timeline.Rational{Num: 30, Den: 1}, Rate: timeline.Rational{Num: 30, Den: 1}, Decimate: 1, VFR: true}
	p.FirstSlot = 3
	p.Pieces = []Piece{{"a", 0.1, true}, {"b", 2.1, true}, {"c", 2.9, true}, {"d", 6.1, true}}
	w, err = p.ChunkWindow(1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.Pieces) != "[0 1 2]" || w.Select.FirstSlot != 63 || w.Select.EndSlot != 123 || w.Select.Base != 0.1 {
		t.Errorf("vfr window %+v", w)
	}
	w, _ = p.ChunkWindow(4)
	if fmt.Sprint(w.Pieces) != "[3]" || w.Select.EndSlot != 0 || w.Select.Base != 6.1 {
		t.Errorf("vfr last window %+v", w)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestChunkWindowSeek(t *testing.T) {
	// A master read by seeking, its first frame at 0.067 s: each chunk
	// seeks a second before its window (the first reads from the start),
	// and its frames are selected on a timeline that counts from the seek.
	p, _ := MakePlan(600, 30, 1, 4, 1)
	p.Seek, p.Start = true, 0.067
	if !p.Readable() {
		t.Fatal("a plan that seeks is not readable")
	}
	cases := []struct {
		k                int
		seek, start, end float64
		preroll          int64
	}{
		{0, 0, 0.050333, 4.050333, 0},
		{1, 0, 0.050333, 8.050333, 120}, // its preroll reaches back to 0
		{2, 3.050333, 1, 9, 120},        // window 4.050333..12.050333
		{4, 11.050333, 1, 0, 120},       // the last chunk runs to the end
	}
	for _, c := range cases {
		w, err := p.ChunkWindow(c.k)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Pieces) != 0 || w.Preroll != c.preroll || abs(w.Seek-c.seek) > 1e-5 || abs(w.Select.Start-c.start) > 1e-5 || abs(w.Select.End-c.end) > 1e-5 {
			t.Errorf("chunk %d: %+v, want seek %.6f window %.6f..%.6f preroll %d", c.k, w, c.seek, c.start, c.end, c.preroll)
		}
	}
	// Read from 5 s earlier, the same frames count from there.
	w, _ := p.ChunkWindow(2)
	if e := p.SeekTo(w, 0.050333); e.Seek != 0.050333 || abs(e.Select.Start-4) > 1e-5 || abs(e.Select.End-12) > 1e-5 {
		t.Errorf("chunk 2 sought earlier: %+v", e)
	}
	var none *Plan
	if none.Readable() || (&Plan{}).Readable() {
		t.Error("a missing plan or one without pieces is readable")
	}
}

func TestNewView(t *testing.T) {
	p, _ := MakePlan(240, 30, 1, 4, 1)
	j := &Job{ID: "job-12345", Status: StatusEncoding, Plan: &p, HasAudio: true,
		Renditions: []Rendition{{Frames: 240}}, Source: &SourceInfo{}}
	v := NewView(j, map[string]float64{"probe": 1, "split": 1, chunkUnit(0): 120, chunkUnit(1): 60, "audio": 0.5}, nil)
	if v.Progress.ChunksDone != 1 || v.Progress.ChunksTotal != 2 {
		t.Errorf("chunks %d/%d", v.Progress.ChunksDone, v.Progress.ChunksTotal)
	}
	if got := v.Progress.Stages["encode"]; got != 0.75 {
		t.Errorf("encode progress %v", got)
	}
	if v.Progress.Overall <= 0.5 || v.Progress.Overall >= 1 {
		t.Errorf("overall %v", v.Progress.Overall)
	}
	j.Status = StatusComplete
	j.Published = &Published{HLS: "vod/x/master.m3u8", DASH: "vod/x/manifest.mpd"}
	v = NewView(j, nil, func(k string) string { return "https://cdn.example/" + k })
	if v.Progress.Overall != 1 || v.Renditions[0].Progress != 1 {
		t.Errorf("complete job progress %v %v", v.Progress.Overall, v.Renditions[0].Progress)
	}
	if v.Outputs == nil || v.Outputs.HLS != "https://cdn.example/vod/x/master.m3u8" {
		t.Errorf("outputs %+v", v.Outputs)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"0c6f3c1e-4a2b-4c1d-9e8f-123456789abc": true, "../../etc": false, "short": false, "ABCDEFGHIJ": false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) != %v", id, want)
		}
	}
}

func TestResume(t *testing.T) {
	plan, err := MakePlan(300, 25, 1, 4, 1) // 3 chunks
	if err != nil {
		t.Fatal(err)
	}
	withPieces := plan
	withPieces.Pieces = []Piece{{Key: "p0"}}
	kinds := func(ts []Task) []string {
		var out []string
		for _, t := range ts {
			s := string(t.Kind)
			if t.Kind == TaskEncode {
				s += ":" + strconv.Itoa(t.Chunk)
			}
			out = append(out, s)
		}
		return out
	}
	cases := []struct {
		name     string
		job      Job
		done     map[string]bool
		counters map[string]float64
		status   Status
		tasks    []string
	}{
		{"failed probing", Job{}, nil, nil, StatusQueued, []string{"probe"}},
		{"failed planning", Job{Source: &SourceInfo{}}, nil, nil, StatusProbing, []string{"plan"}},
		{"failed splitting", Job{Source: &SourceInfo{}, Plan: &plan}, nil, nil, StatusSplitting, []string{"split"}},
		{"one chunk and the audio left", Job{Source: &SourceInfo{}, Plan: &withPieces, HasAudio: true},
			map[string]bool{chunkUnit(0): true, chunkUnit(2): true}, nil, StatusEncoding, []string{"encode:1", "audio"}},
		{"failed packaging", Job{Source: &SourceInfo{}, Plan: &withPieces},
			map[string]bool{chunkUnit(0): true, chunkUnit(1): true, chunkUnit(2): true}, nil, StatusPackaging, []string{"package"}},
		{"failed publishing", Job{Source: &SourceInfo{}, Plan: &withPieces},
			map[string]bool{chunkUnit(0): true, chunkUnit(1): true, chunkUnit(2): true}, map[string]float64{string(TaskPackage): 1}, StatusPublishing, []string{"publish"}},
	}
	for _, c := range cases {
		st, ts := Resume(&c.job, c.done, c.counters)
		if st != c.status || !slices.Equal(kinds(ts), c.tasks) {
			t.Errorf("%s: %s %v, want %s %v", c.name, st, kinds(ts), c.status, c.tasks)
		}
	}
}

func TestTimings(t *testing.T) {
	var j Job
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j.AddTiming("encode", t0.Add(2*time.Second), t0.Add(5*time.Second))
	j.AddTiming("encode", t0.Add(1*time.Second), t0.Add(4*time.Second))
	j.AddTiming("probe", t0, t0.Add(time.Second))
	e := j.Timings["encode"]
	if e.Tasks != 2 || e.Seconds != 4 || e.TaskSeconds != 6 || !e.Start.Equal(t0.Add(time.Second)) {
		t.Errorf("encode timing %+v", e)
	}
	if d := j.StageDurations(); d["probe"] != time.Second || d["encode"] != 4*time.Second {
		t.Errorf("stage durations %v", d)
	}
}

func TestResumePerTitle(t *testing.T) {
	j := &Job{ID: "job-1", Ladder: ladder.Ladder{Mode: ladder.ModePerTitle}, Source: &SourceInfo{},
		Plan: &Plan{Pieces: []Piece{{Key: "p"}}, Chunks: []Chunk{{Index: 0, End: 10}}}}
	if st, tasks := Resume(j, nil, nil); st != StatusAnalyzing || len(tasks) != 1 || tasks[0].Kind != TaskAnalyze {
		t.Errorf("per-title job without analysis resumes at %s with %v", st, tasks)
	}
	j.Analysis = &Analysis{}
	if st, tasks := Resume(j, nil, nil); st != StatusEncoding || tasks[0].Kind != TaskEncode {
		t.Errorf("analysed job resumes at %s with %v", st, tasks)
	}
	if !CanMove(StatusSplitting, StatusAnalyzing) || !CanMove(StatusAnalyzing, StatusEncoding) || CanMove(StatusEncoding, StatusAnalyzing) {
		t.Error("analyzing is not between splitting and encoding")
	}
}

func TestAutoChunkSegments(t *testing.T) {
	for _, c := range []struct {
		frames, seg int64
		slots, want int
	}{
		{1800, 120, 2, 8},   // 60 s at 4 s segments on 2 slots: 2 chunks
		{420, 120, 2, 3},    // 14 s: no chunk under 3 segments
		{18000, 120, 2, 15}, // 600 s: 10 chunks of 60 s
		{1800, 120, 16, 3},  // more slots than chunks
		{1800, 120, 3, 5},   // 3 chunks of 20 s
		{1800, 120, 0, ladder.DefaultChunkSegments},
	} {
		if got := AutoChunkSegments(c.frames, c.seg, c.slots); got != c.want {
			t.Errorf("%d frames, %d-frame segments, %d slots: %d segments a chunk, want %d", c.frames, c.seg, c.slots, got, c.want)
		}
	}
}

func chunkUnit(k int) string { return Task{Kind: TaskEncode, Chunk: k}.Unit() }

// segmentsOf lists a plan's chunks in segments, checking their indices
// and that they tile the title.
func segmentsOf(t *testing.T, p Plan) string {
	t.Helper()
	var sizes []int64
	at := int64(0)
	for i, c := range p.Chunks {
		if c.Index != i || c.Start != at {
			t.Errorf("chunk %d: %+v, want index %d starting at %d", i, c, i, at)
		}
		at = c.End
		sizes = append(sizes, (c.End-c.Start+p.SegmentFrames/2)/p.SegmentFrames)
	}
	if at != p.Frames {
		t.Errorf("chunks end at %d of %d frames", at, p.Frames)
	}
	return fmt.Sprint(sizes)
}

// finish is when the last of slots slots, taking chunks in order each as
// it is free, ends, in segments of work.
func finish(p Plan, slots int) int64 {
	free := make([]int64, slots)
	for _, c := range p.Chunks {
		i := slices.Index(free, slices.Min(free))
		free[i] += (c.End - c.Start + p.SegmentFrames/2) / p.SegmentFrames
	}
	return slices.Max(free)
}

func TestShortenFirstAndTail(t *testing.T) {
	for _, c := range []struct {
		frames int64
		slots  int
		want   string
		finish int64
	}{
		// 60 s at 30 fps in 4 s segments on 2 slots (8 + 7): the short
		// chunk's slot takes the last chunk and the larger share.
		{1800, 2, "[1 7 7]", 8},
		// 64 s: 1 + 8 + 7, both slots encode 8 segments.
		{1920, 2, "[1 8 7]", 8},
		// One slot: the short chunk, then the rest.
		{1800, 1, "[1 14]", 15},
		// 3 slots, 45 s (11 segments and a runt that joins the last):
		// 1 + 4 + 3 + 3.
		{1350, 3, "[1 4 3 3]", 4},
		// Two rounds on 2 slots (240 s in 4 chunks of 15): the short
		// chunk's next chunk gives up its segment, so the slots end
		// together at 30 segments, not 31.
		{7200, 2, "[1 15 14 15 15]", 30},
		// More slots than chunks: every chunk has a slot of its own, so
		// the rest of the first chunk follows the short one.
		{1920, 5, "[1 3 4 4 4]", 4},
		// Chunks of the minimum size are not split.
		{1800, 16, "[3 3 3 3 3]", 3},
	} {
		p, _ := MakePlan(c.frames, 30, 1, 4, AutoChunkSegments(c.frames, 120, c.slots))
		p.ShortenFirst(c.slots)
		if got := segmentsOf(t, p); got != c.want || finish(p, c.slots) != c.finish {
			t.Errorf("%d frames on %d slots: chunks of %s segments, the slots finish at %d; want %s finishing at %d",
				c.frames, c.slots, got, finish(p, c.slots), c.want, c.finish)
		}
	}
	p, _ := MakePlan(1800, 30, 1, 4, 8)
	p.ShortenFirst(2)
	if p.Preroll(1) != 120 {
		t.Errorf("preroll %d", p.Preroll(1))
	}
	// 1 s segments: the first chunk lasts 4 of them.
	q, _ := MakePlan(1800, 30, 1, 1, 30)
	q.ShortenFirst(0)
	if c := q.Chunks[0]; c.End != 120 || q.Chunks[1].Start != 120 {
		t.Errorf("first chunk %+v", c)
	}
	// Too short to shorten: the rest would be under MinAutoChunkSegments.
	r, _ := MakePlan(360, 30, 1, 4, 3)
	r.ShortenFirst(0)
	if len(r.Chunks) != 1 {
		t.Errorf("a 3-segment title in %d chunks", len(r.Chunks))
	}
	// A last chunk that is only a short tail joins the one before.
	s, _ := MakePlan(1090, 30, 1, 4, 3) // chunks of 360; 10 frames left
	if n := len(s.Chunks); n != 3 || s.Chunks[2].End != 1090 || !s.ShortTail() {
		t.Errorf("tail chunk: %d chunks, last %+v", n, s.Chunks[n-1])
	}
	// A longer last chunk stays its own.
	u, _ := MakePlan(1150, 30, 1, 4, 3) // 70 frames left: over half a segment
	if n := len(u.Chunks); n != 4 || u.Chunks[3].Start != 1080 {
		t.Errorf("last chunk: %d chunks", n)
	}
}

func TestPlayable(t *testing.T) {
	now := time.Now()
	j := &Job{ID: "job-1", Status: StatusEncoding}
	if j.Playable() {
		t.Error("playable before anything is published")
	}
	j.Published = &Published{HLS: "vod/job-1/master.m3u8"}
	j.Live = &Live{Chunks: 1, Seconds: 4}
	if err := j.Move(StatusPlayable, now); err != nil || !j.Playable() || j.PlayableAt == nil {
		t.Errorf("playable: %v %v %v", err, j.Playable(), j.PlayableAt)
	}
	v := NewView(j, nil, func(k string) string { return "http://o/" + k })
	if v.Outputs == nil || v.Outputs.HLS != "http://o/vod/job-1/master.m3u8" || v.Live == nil || v.PlayableAt == nil {
		t.Errorf("view of a playable job: %+v", v)
	}
	if err := j.Move(StatusEncoding, now); err == nil {
		t.Error("moved back from playable to encoding")
	}
	if err := j.Fail(CodeEncodeFailed, "x", now); err != nil || j.Playable() {
		t.Errorf("a failed job is playable: %v", err)
	}
}

func TestSetPreroll(t *testing.T) {
	p, _ := MakePlan(1800, 30, 1, 4, 3)
	for _, c := range []struct {
		seconds float64
		whole   bool
		want    int64
	}{{0, false, 0}, {0, true, 0}, {1, false, 30}, {1, true, 120}, {2.5, false, 75}, {4, true, 120}, {5, true, 240}} {
		p.SetPreroll(c.seconds, c.whole)
		if p.PrerollFrames != c.want {
			t.Errorf("SetPreroll(%v, %v): %d frames, want %d", c.seconds, c.whole, p.PrerollFrames, c.want)
		}
	}
	if p.SetPreroll(1, false); p.Preroll(0) != 0 || p.Preroll(1) != 30 {
		t.Errorf("prerolls %d %d", p.Preroll(0), p.Preroll(1))
	}
}
