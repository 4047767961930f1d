package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// memStore is a Store in memory for the stage-graph tests: every Update
// works on a copy, as the Redis store's JSON round trip does.
type memStore struct {
	mu       sync.Mutex
	jobs     map[string][]byte
	counters map[string]map[string]float64
	done     map[string]map[string]bool
	// fail, if set, is returned by the next Update instead of saving.
	fail error
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{jobs: map[string][]byte{}, counters: map[string]map[string]float64{}, done: map[string]map[string]bool{}}
}

func (m *memStore) Create(_ context.Context, j *Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[j.ID]; ok {
		return errors.New("exists")
	}
	m.jobs[j.ID], _ = json.Marshal(j)
	return nil
}

func (m *memStore) Get(_ context.Context, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.jobs[id]
	if !ok {
		return nil, ErrNotFound
	}
	var j Job
	return &j, json.Unmarshal(raw, &j)
}

func (m *memStore) Update(_ context.Context, id string, fn func(*Job) error) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.jobs[id]
	if !ok {
		return nil, ErrNotFound
	}
	var j Job
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	if err := fn(&j); err != nil {
		return nil, err
	}
	if m.fail != nil {
		err := m.fail
		m.fail = nil
		return nil, err
	}
	m.jobs[id], _ = json.Marshal(&j)
	return &j, nil
}

func (m *memStore) List(context.Context, string, int, int) ([]*Job, int, error) { return nil, 0, nil }

func (m *memStore) SetCounter(_ context.Context, id, field string, v float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counters[id] == nil {
		m.counters[id] = map[string]float64{}
	}
	m.counters[id][field] = v
	return nil
}

func (m *memStore) Counters(_ context.Context, id string) (map[string]float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]float64{}
	for k, v := range m.counters[id] {
		out[k] = v
	}
	return out, nil
}

func (m *memStore) AddDone(_ context.Context, id, unit string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done[id] == nil {
		m.done[id] = map[string]bool{}
	}
	m.done[id][unit] = true
	return int64(len(m.done[id])), nil
}

func (m *memStore) DoneUnits(_ context.Context, id string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for k := range m.done[id] {
		out[k] = true
	}
	return out, nil
}

func (m *memStore) Subscribe(context.Context, string) (<-chan struct{}, error) {
	return make(chan struct{}), nil
}

// memQueue is a Queue that keeps every id it was given, as asynq keeps
// finished tasks for their retention: a second Enqueue of an id is
// refused quietly.
type memQueue struct {
	mu       sync.Mutex
	seen     map[string]bool
	pending  []Task
	later    []Task
	enqueued map[TaskKind]int // accepted Enqueue and Requeue calls
	dropped  []Task
}

var _ Queue = (*memQueue)(nil)

func newMemQueue() *memQueue {
	return &memQueue{seen: map[string]bool{}, enqueued: map[TaskKind]int{}}
}

func (q *memQueue) Enqueue(_ context.Context, t Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen[t.ID()] {
		return nil
	}
	q.seen[t.ID()] = true
	q.pending = append(q.pending, t)
	q.enqueued[t.Kind]++
	return nil
}

func (q *memQueue) Drop(_ context.Context, tasks []Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = slices.DeleteFunc(q.pending, func(p Task) bool {
		drop := slices.ContainsFunc(tasks, func(t Task) bool { return t.ID() == p.ID() })
		if drop {
			q.dropped = append(q.dropped, p)
		}
		return drop
	})
	return nil
}

func (q *memQueue) Requeue(ctx context.Context, t Task) error {
	q.mu.Lock()
	delete(q.seen, t.ID())
	q.mu.Unlock()
	return q.Enqueue(ctx, t)
}

func (q *memQueue) Later(_ context.Context, t Task, _ time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.seen[t.ID()] {
		q.seen[t.ID()] = true
		q.later = append(q.later, t)
	}
	return nil
}

// next takes a pending task, the oldest or (with rng) any.
func (q *memQueue) next(rng *rand.Rand) (Task, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return Task{}, false
	}
	i := 0
	if rng != nil {
		i = rng.IntN(len(q.pending))
	}

	t := q.pending[i]
	q.pending = slices.Delete(q.pending, i, i+1)
	return t, true
}

// shape is a kind of job the graph is walked for.
type shape struct {
	audio, perTitle, text bool
	chunks                int
	ingest                bool // the master is given by URL
}

func (s shape) String() string {
	return fmt.Sprintf("audio=%v per-title=%v text=%v chunks=%d ingest=%v", s.audio, s.perTitle, s.text, s.chunks, s.ingest)
}

// graph drives jobs through the stage graph with handlers that do no
// media work: each records what its stage records, as the workers do.
type graph struct {
	t     *testing.T
	svc   *Service
	st    *memStore
	q     *memQueue
	shape shape
	// ran counts the tasks handled to the end, by kind, but for side
	// tasks, which side counts (those that found work, and those that
	// did not); statuses records the job's status as each task began.
	ran      map[TaskKind]int
	side     [2]int
	statuses []Status
	// before, if set, runs as a task begins; returning false stops the
	// task there (as a worker that died or a stage that failed).
	before func(t Task) bool
}

func newGraph(t *testing.T, s shape) *graph {
	st, q := newMemStore(), newMemQueue()
	return &graph{t: t, svc: &Service{Store: st, Queue: q}, st: st, q: q, shape: s, ran: map[TaskKind]int{}}
}

func (g *graph) submit(id string) {
	g.t.Helper()
	j := &Job{ID: id, Ladder: ladder.Default().Normalize()}
	if g.shape.ingest {
		j.Input = SourceRef{URL: "https://media.example/" + id + ".mov"}
	}
	if g.shape.perTitle {
		j.Ladder.Mode = ladder.ModePerTitle
	}
	if err := g.svc.Submit(context.Background(), j); err != nil {
		g.t.Fatal(err)
	}
}

// result is what task t's handler hands back.
func (g *graph) result(t Task) func(*Job) error {
	frames := int64(g.shape.chunks) * 100
	switch t.Kind {
	case TaskIngest:
		return func(j *Job) error {
			j.Input.Bucket, j.Input.Key, j.Input.Size = "masters", MasterKey(j.ID), 1000
			return nil
		}
	case TaskProbe:
		return func(j *Job) error {
			j.Source = &SourceInfo{OutputFrames: frames, FrameRateNum: 25, FrameRateDen: 1}
			j.HasAudio = g.shape.audio
			if g.shape.text {
				j.Source.TextTracks = []SourceText{{Stream: 2, Codec: "subrip", Language: "fr"}}
			}
			return nil
		}
	case TaskPlan:
		return func(j *Job) error {
			if j.Plan != nil && len(j.Plan.Pieces) > 0 {
				return nil
			}
			p, err := MakePlan(frames, 25, 1, 4, 1)
			if err != nil {
				return err
			}
			j.Plan = &p
			if !j.Ladder.PerTitle() {
				j.Renditions = []Rendition{{Rung: ladder.Rung{Name: "720p", Width: 1280, Height: 720}, Frames: frames}}
			}
			return nil
		}
	case TaskSplit:
		return func(j *Job) error {
			if len(j.Plan.Pieces) == 0 {
				j.Plan.Pieces = []Piece{{Key: "p0", Clean: true}}
			}
			return nil
		}
	case TaskAnalyze:
		return func(j *Job) error {
			if j.Analysis == nil {
				j.Analysis = &Analysis{Metric: "psnr"}
				j.Renditions = []Rendition{{Rung: ladder.Rung{Name: "540p", Width: 960, Height: 540}, Frames: j.Plan.Frames}}
			}
			return nil
		}
	case TaskEncode:
		return func(j *Job) error {
			if c := &j.Plan.Chunks[t.Chunk]; c.Segments == "" {
				c.Quality = []timeline.QualityStats{{Frames: 100, MSESum: 100}}
				c.Segments = fmt.Sprintf("seg/%d", t.Chunk)
			}
			return nil
		}
	case TaskStream:
		return func(j *Job) error {
			if n := Publishable(j); j.Live == nil || n > j.Live.Chunks {
				j.Live = &Live{Chunks: n, Seconds: LiveSeconds(j.Plan, n)}
				j.Published = &Published{HLS: "vod/x/master.m3u8", DASH: "vod/x/manifest.mpd"}
			}
			return nil
		}
	case TaskAudio:
		return func(j *Job) error { j.Audio = &AudioTrack{Codecs: "mp4a.40.2", Channels: 2}; return nil }
	case TaskText:
		return func(j *Job) error {
			stream := 2
			j.TextTracks = []TextTrack{{Name: TextName(0), Stream: &stream, Language: "fr", Cues: 3}}
			return nil
		}
	case TaskPackage:
		return func(j *Job) error { j.Renditions[0].Codecs = "avc1.64001f"; return nil }
	case TaskPublish:
		return func(j *Job) error {
			j.Published = &Published{HLS: "vod/x/master.m3u8", DASH: "vod/x/manifest.mpd"}
			return nil
		}
	}
	return nil
}

// deliver handles one task as a worker would: Begin, then (unless before
// stops it) Done with the stage's result. It returns Begin's or Done's
// error.
func (g *graph) deliver(t Task) error {
	ctx := context.Background()
	j, err := g.svc.Begin(ctx, t)
	if err != nil {
		return err
	}
	g.statuses = append(g.statuses, j.Status)
	if g.before != nil && !g.before(t) {
		return nil
	}
	if stage(t.Kind).Detached {
		g.ran[t.Kind]++
		return nil
	}
	if st := stage(t.Kind); st.Side {
		// As a worker's side task: it records only when it has work.
		if !st.Due(j) {
			g.side[1]++
			return nil
		}
		g.side[0]++
		_, err := g.svc.Done(ctx, t, time.Now(), g.result(t))
		return err
	}
	done, err := g.svc.Done(ctx, t, time.Now(), g.result(t))
	if err != nil {
		return err
	}
	g.ran[t.Kind]++
	// The worker runs the side tasks that have work at once.
	for _, side := range g.svc.Side(done, t) {
		if err := g.deliver(side); err != nil && !errors.Is(err, ErrJobEnded) {
			return err
		}
	}
	return nil
}

// drain delivers queued tasks until none is left; with dup each task is
// delivered a second time too, at a random later point.
func (g *graph) drain(rng *rand.Rand, dup bool) {
	g.t.Helper()
	var again []Task
	for {
		t, ok := g.q.next(rng)
		if !ok {
			if len(again) == 0 {
				return
			}
			t, again = again[0], again[1:]
		} else if dup {
			again = append(again, t)
			if rng != nil {
				rng.Shuffle(len(again), func(a, b int) { again[a], again[b] = again[b], again[a] })
			}
		}
		if err := g.deliver(t); err != nil && !errors.Is(err, ErrJobEnded) && !errors.Is(err, ErrNotDue) {
			g.t.Fatalf("%s: %v", t.ID(), err)
		}
	}
}

func (g *graph) job(id string) *Job {
	g.t.Helper()
	j, err := g.st.Get(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	return j
}

// wantRuns is how many tasks of each kind a job of shape s runs once.
func wantRuns(s shape) map[TaskKind]int {
	m := map[TaskKind]int{TaskProbe: 1, TaskPlan: 1, TaskSplit: 1, TaskEncode: s.chunks, TaskPackage: 1, TaskPublish: 1}
	if s.ingest {
		m[TaskIngest] = 1
	}
	if s.audio {
		m[TaskAudio] = 1
	}
	if s.text {
		m[TaskText] = 1
	}
	if s.perTitle {
		m[TaskAnalyze] = 1
	}
	return m
}

var shapes = []shape{
	{false, false, false, 1, false}, {true, false, false, 1, false}, {true, false, false, 3, false}, {false, true, false, 3, false}, {true, true, false, 3, false}, {true, true, false, 1, false},
	{false, false, true, 1, false}, {true, false, true, 3, false}, {true, true, true, 3, false}, {true, false, false, 3, true}, {true, true, true, 3, true},
}

// checkComplete checks a job that went through the whole graph.
func (g *graph) checkComplete(id string) *Job {
	g.t.Helper()
	j := g.job(id)
	if j.Status != StatusComplete || j.FinishedAt == nil || j.Published == nil {
		g.t.Fatalf("%v: job %s, published %v", g.shape, j.Status, j.Published)
	}
	counters, _ := g.st.Counters(context.Background(), id)
	v := NewView(j, counters, func(k string) string { return k })
	if v.Progress.Overall != 1 || v.Progress.ChunksDone != g.shape.chunks {
		g.t.Errorf("%v: progress %+v", g.shape, v.Progress)
	}
	for kind := range wantRuns(g.shape) {
		if j.Timings[string(kind)] == nil {
			g.t.Errorf("%v: no timing for %s", g.shape, kind)
		}
	}
	for i := 1; i < len(g.statuses); i++ {
		if order[g.statuses[i]] < order[g.statuses[i-1]] && g.statuses[i-1] != StatusFailed {
			g.t.Errorf("%v: status went back from %s to %s", g.shape, g.statuses[i-1], g.statuses[i])
		}
	}
	return j
}

func TestStageGraphEveryPath(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.String(), func(t *testing.T) {
			g := newGraph(t, s)
			g.submit("job-path-0001")
			g.drain(nil, false)
			g.checkComplete("job-path-0001")
			if !maps(g.ran, wantRuns(s)) {
				t.Errorf("ran %v, want %v", g.ran, wantRuns(s))
			}
			// Each stage began in its own status.
			want := []Status{StatusProbing, StatusProbing, StatusSplitting}
			if s.ingest {
				want = append([]Status{StatusIngesting}, want...)
			}
			if s.perTitle {
				want = append(want, StatusAnalyzing)
			}
			if got := g.statuses[:len(want)]; !slices.Equal(got, want) {
				t.Errorf("statuses %v, want %v first", g.statuses, want)
			}
			if last := g.statuses[len(g.statuses)-2:]; last[0] != StatusPackaging || last[1] != StatusPublishing {
				t.Errorf("statuses end %v", last)
			}
		})
	}
}

func maps(a, b map[TaskKind]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestStageGraphDuplicateDeliveries delivers every task twice, in random
// orders: the job still completes, and package and publish are queued
// once.
func TestStageGraphDuplicateDeliveries(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s := shapes[seed%uint64(len(shapes))]
		t.Run(fmt.Sprintf("seed %d %v", seed, s), func(t *testing.T) {
			g := newGraph(t, s)
			g.submit("job-dups-0001")
			g.drain(rand.New(rand.NewPCG(seed, 7)), true)
			g.checkComplete("job-dups-0001")
			for kind, n := range wantRuns(s) {
				if g.q.enqueued[kind] != n {
					t.Errorf("%s queued %d times, want %d", kind, g.q.enqueued[kind], n)
				}
			}
		})
	}
}

// TestRetryFromEachStage fails the job at the first task of every stage,
// retries it, and checks that it completes without running again what
// had finished.
func TestRetryFromEachStage(t *testing.T) {
	s := shape{audio: true, perTitle: true, text: true, chunks: 3, ingest: true}
	for _, st := range Stages {
		if st.Detached || st.Side {
			continue // a side task that gives up does not fail its job
		}
		t.Run(string(st.Kind), func(t *testing.T) {
			g := newGraph(t, s)
			failed := false
			g.before = func(task Task) bool {
				if failed || task.Kind != st.Kind || (st.PerChunk && task.Chunk != 1) {
					return true
				}
				failed = true
				if _, err := g.svc.Fail(context.Background(), task.JobID, FailCode(task.Kind), "forced"); err != nil {
					t.Fatal(err)
				}
				return false
			}
			g.submit("job-retry-0001")
			g.drain(nil, false)
			j := g.job("job-retry-0001")
			if j.Status != StatusFailed || j.Error == nil || j.Error.Code != st.FailCode {
				t.Fatalf("after the failure: %s %+v", j.Status, j.Error)
			}
			before := map[TaskKind]int{}
			for k, n := range g.ran {
				before[k] = n
			}
			j, err := g.svc.Retry(context.Background(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := st.Status
			switch {
			case st.Kind == TaskIngest:
				// The job's first stage to run again: queued for it.
				wantStatus = StatusQueued
			case j.Live != nil && st.Status == StatusEncoding:
				wantStatus = StatusPlayable // what was published still plays
			}
			if j.Status != wantStatus || j.Retries != 1 || j.Error != nil {
				t.Errorf("retried job: %s retries %d error %v, want %s", j.Status, j.Retries, j.Error, wantStatus)
			}
			g.drain(nil, false)
			g.checkComplete(j.ID)
			// What finished before the failure did not run again; every
			// task of the job ran exactly once in all.
			for kind, n := range wantRuns(s) {
				if g.ran[kind] != n {
					t.Errorf("%s ran %d times in all (%d before the retry), want %d", kind, g.ran[kind], before[kind], n)
				}
			}
			if _, err := g.svc.Retry(context.Background(), j.ID); !errors.Is(err, ErrNotFailed) {
				t.Errorf("retry of a complete job: %v", err)
			}
		})
	}
}

// TestCancelFromEachStage cancels the job as the first task of every
// stage begins: that task's result is refused, nothing else runs, its
// queued tasks are dropped and the cleanup is queued, now and later.
func TestCancelFromEachStage(t *testing.T) {
	s := shape{audio: true, perTitle: true, text: true, chunks: 3, ingest: true}
	for _, st := range Stages {
		if st.Detached {
			continue
		}
		t.Run(string(st.Kind), func(t *testing.T) {
			g := newGraph(t, s)
			var canceled Task
			g.before = func(task Task) bool {
				if canceled.Kind != "" || task.Kind != st.Kind {
					return true
				}
				canceled = task
				j, err := g.svc.Cancel(context.Background(), task.JobID)
				if err != nil || j.Status != StatusCanceled {
					t.Fatalf("cancel: %v %v", j, err)
				}
				if _, err := g.svc.Done(context.Background(), task, time.Now(), g.result(task)); !errors.Is(err, ErrJobEnded) {
					t.Errorf("Done after cancel: %v", err)
				}
				return false
			}
			g.submit("job-cancel-0001")
			g.drain(nil, false)
			if canceled.Kind == "" {
				t.Fatal("the stage never ran")
			}
			j := g.job("job-cancel-0001")
			if j.Status != StatusCanceled {
				t.Fatalf("job %s", j.Status)
			}
			if g.ran[TaskCleanup] != 1 || len(g.q.later) != 1 || g.q.later[0].Kind != TaskCleanup || !g.q.later[0].Sweep {
				t.Errorf("cleanup ran %d times, later %v", g.ran[TaskCleanup], g.q.later)
			}
			// No stage after the canceled one ran.
			for _, later := range Stages[stageIndex(st.Kind)+1:] {
				if !later.Detached && g.ran[later.Kind] != 0 && !(later.Join != "" && later.Join == st.Join) {
					t.Errorf("%s ran after the cancel", later.Kind)
				}
			}
			// Every task the job may have, delivered late, does nothing.
			for _, task := range Tasks(j) {
				if _, err := g.svc.Begin(context.Background(), task); !errors.Is(err, ErrJobEnded) {
					t.Errorf("Begin %s after cancel: %v", task.ID(), err)
				}
			}
			if _, err := g.svc.Cancel(context.Background(), j.ID); !errors.Is(err, ErrJobEnded) {
				t.Errorf("second cancel: %v", err)
			}
		})
	}
}

// TestDoneThatCannotBeSavedQueuesNothing: when the result cannot be
// recorded the task fails (to be retried) and nothing after it is queued.
func TestDoneThatCannotBeSavedQueuesNothing(t *testing.T) {
	g := newGraph(t, shape{chunks: 1})
	g.submit("job-save-0001")
	probe, _ := g.q.next(nil)
	g.st.fail = errors.New("redis went away")
	if err := g.deliver(probe); err == nil {
		t.Fatal("Done succeeded without saving")
	}
	if len(g.q.pending) != 0 || g.q.enqueued[TaskPlan] != 0 {
		t.Fatalf("queued after a failed save: %v", g.q.pending)
	}
	if err := g.deliver(probe); err != nil { // the retry
		t.Fatal(err)
	}
	g.drain(nil, false)
	g.checkComplete("job-save-0001")
}

func TestCleanupOnlyForCanceledJobs(t *testing.T) {
	g := newGraph(t, shape{chunks: 1})
	g.submit("job-clean-0001")
	if _, err := g.svc.Begin(context.Background(), Task{Kind: TaskCleanup, JobID: "job-clean-0001"}); !errors.Is(err, ErrNotDue) {
		t.Errorf("cleanup of a running job: %v", err)
	}
	if _, err := g.svc.Begin(context.Background(), Task{Kind: "bogus", JobID: "job-clean-0001"}); !errors.Is(err, ErrUnknownTask) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestStagesTable(t *testing.T) {
	seen := map[TaskKind]bool{}
	for _, s := range Stages {
		if seen[s.Kind] {
			t.Errorf("stage %s twice", s.Kind)
		}
		seen[s.Kind] = true
		if s.Timeout <= 0 || s.FailCode == "" || !s.Status.Valid() {
			t.Errorf("stage %s: timeout %s, fail code %q, status %q", s.Kind, s.Timeout, s.FailCode, s.Status)
		}
		for _, n := range append(slices.Clone(s.Next), s.Join) {
			if _, ok := StageOf(n); n != "" && !ok {
				t.Errorf("stage %s leads to unknown %s", s.Kind, n)
			}
		}
		if s.Join != "" && len(s.Next) > 0 {
			t.Errorf("stage %s both joins and leads on", s.Kind)
		}
	}
	var total float64
	for _, s := range Stages {
		total += s.Weight
	}
	if total != 1 {
		t.Errorf("progress weights add up to %v", total)
	}
}

func TestTaskTimeoutsAndIDs(t *testing.T) {
	enc := Task{Kind: TaskEncode, JobID: "job-1", Chunk: 4, Seconds: 30}
	if got := enc.Timeout(); got != 10*time.Minute+60*time.Minute {
		t.Errorf("encode of 30 s of 1080p: %s", got)
	}
	if got := (Task{Kind: TaskEncode, Seconds: 1e6}).Timeout(); got != MaxTimeout {
		t.Errorf("huge encode: %s", got)
	}
	if got := (Task{Kind: TaskPlan, Seconds: 1e6}).Timeout(); got != time.Minute {
		t.Errorf("plan: %s", got)
	}
	for task, want := range map[Task]string{
		enc: "job-1:encode:4", {Kind: TaskAudio, JobID: "job-1"}: "job-1:audio",
		{Kind: TaskCleanup, JobID: "job-1", Sweep: true}: "job-1:cleanup:sweep",
	} {
		if task.ID() != want {
			t.Errorf("ID %s, want %s", task.ID(), want)
		}
	}
	if enc.Unit() != "chunk:4" || (Task{Kind: TaskAudio}).Unit() != "audio" {
		t.Errorf("units %s %s", enc.Unit(), Task{Kind: TaskAudio}.Unit())
	}
}

// TestStreamMakesTheTitlePlayable: a title of several chunks is
// published from its start as its chunks are encoded (stream tasks, once
// the audio is there too) and is playable before it completes; one of a
// single chunk is published whole, once, by publish.
func TestStreamMakesTheTitlePlayable(t *testing.T) {
	for seed := uint64(0); seed <= 8; seed++ {
		s := shape{audio: seed%2 == 0, chunks: 3}
		t.Run(fmt.Sprintf("seed %d %v", seed, s), func(t *testing.T) {
			g := newGraph(t, s)
			var rng *rand.Rand
			if seed > 0 {
				rng = rand.New(rand.NewPCG(seed, 3))
			}
			// Stream tasks see the job as it is when they run; the job
			// is playable once one has published.
			var playableSeen bool
			g.before = func(task Task) bool {
				if task.Kind != TaskStream {
					return true
				}
				j := g.job("job-live-0001")
				if j.HasAudio && j.Audio == nil && stage(TaskStream).Due(j) {
					t.Errorf("stream due before the audio is encoded")
				}
				playableSeen = playableSeen || j.Live != nil
				return true
			}
			g.submit("job-live-0001")
			g.drain(rng, seed > 4)
			j := g.checkComplete("job-live-0001")
			if seed == 0 && g.side[0] == 0 {
				// In order, the audio and chunk 0 are done before the rest.
				t.Fatal("no stream task published anything")
			}
			if g.q.enqueued[TaskStream] != 0 {
				t.Errorf("%d stream tasks queued; the worker runs them", g.q.enqueued[TaskStream])
			}
			if g.side[0] > 0 {
				if j.PlayableAt == nil || j.FinishedAt.Before(*j.PlayableAt) || !slices.Contains(g.statuses, StatusPlayable) {
					t.Errorf("published early but playable at %v, statuses %v", j.PlayableAt, g.statuses)
				}
				if j.Live == nil || j.Live.Chunks < 1 || j.Live.Chunks >= 3 || j.Live.Seconds != LiveSeconds(j.Plan, j.Live.Chunks) {
					t.Errorf("live %+v", j.Live)
				}
			}
			if j.Timings[string(TaskStream)] == nil && g.side[0] > 0 {
				t.Error("no timing for stream")
			}
		})
	}
	g := newGraph(t, shape{audio: true, chunks: 1})
	g.submit("job-live-0002")
	g.drain(nil, false)
	j := g.checkComplete("job-live-0002")
	if g.side != [2]int{} || j.PlayableAt != nil || slices.Contains(g.statuses, StatusPlayable) {
		t.Errorf("a one-chunk title streamed: %v stream tasks, playable at %v", g.side, j.PlayableAt)
	}
}

func TestPublishable(t *testing.T) {
	p, _ := MakePlan(1000, 25, 1, 4, 1) // 10 chunks of 100 frames
	j := &Job{Plan: &p, HasAudio: true}
	j.Plan.Chunks[0].Segments, j.Plan.Chunks[1].Segments, j.Plan.Chunks[3].Segments = "a", "b", "d"
	if n := Publishable(j); n != 0 {
		t.Errorf("publishable without the audio: %d", n)
	}
	j.Audio = &AudioTrack{}
	if n := Publishable(j); n != 2 || !streamDue(j) {
		t.Errorf("publishable %d, due %v; want 2, true", n, streamDue(j))
	}
	if s := LiveSeconds(j.Plan, 2); s != 8 {
		t.Errorf("2 chunks play %v s", s)
	}
	j.Live = &Live{Chunks: 2}
	if streamDue(j) {
		t.Error("due with nothing new")
	}
	for k := range j.Plan.Chunks {
		j.Plan.Chunks[k].Segments = "x"
	}
	if streamDue(j) {
		t.Error("due for the whole title, which publish publishes")
	}
	if id := (Task{Kind: TaskStream, JobID: "job-1", After: "chunk:3"}).ID(); id != "job-1:stream:chunk:3" {
		t.Errorf("stream task id %s", id)
	}
}
