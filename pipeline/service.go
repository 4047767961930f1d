package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned for a job that does not exist.
var ErrNotFound = errors.New("job not found")

// Store keeps jobs and their progress counters. Implementations notify
// subscribers of a job on every Update and SetCounter.
type Store interface {
	Create(ctx context.Context, j *Job) error
	Get(ctx context.Context, id string) (*Job, error)
	// Update applies fn to the stored job atomically and saves the result;
	// an error from fn aborts the update and is returned.
	Update(ctx context.Context, id string, fn func(*Job) error) (*Job, error)
	// List returns jobs newest first and the total count: tenant's jobs,
	// or every job when tenant is "".
	List(ctx context.Context, tenant string, offset, limit int) ([]*Job, int, error)
	SetCounter(ctx context.Context, id, field string, v float64) error
	Counters(ctx context.Context, id string) (map[string]float64, error)
	// AddDone records that a unit of work (a chunk, the audio) finished and
	// returns how many distinct units have finished.
	AddDone(ctx context.Context, id, unit string) (int64, error)
	// DoneUnits returns the units AddDone recorded.
	DoneUnits(ctx context.Context, id string) (map[string]bool, error)
	// Subscribe delivers a signal whenever the job changes, until ctx ends.
	Subscribe(ctx context.Context, id string) (<-chan struct{}, error)
}

// TaskKind names a pipeline stage task.
type TaskKind string

// The stage tasks, in order.
const (
	TaskProbe TaskKind = "probe"
	TaskPlan  TaskKind = "plan"
	TaskSplit TaskKind = "split"
	// TaskAnalyze chooses a per-title ladder from trial encodes.
	TaskAnalyze TaskKind = "analyze"
	TaskEncode  TaskKind = "encode"
	TaskAudio   TaskKind = "audio"
	TaskPackage TaskKind = "package"
	TaskPublish TaskKind = "publish"
	// TaskCleanup removes a canceled job's intermediate and published
	// objects.
	TaskCleanup TaskKind = "cleanup"
)

// Task is one unit of queued work.
type Task struct {
	Kind  TaskKind `json:"kind"`
	JobID string   `json:"job_id"`
	Chunk int      `json:"chunk,omitempty"`
	// Seconds is the work the task holds, in seconds of 1080p video (an
	// encode's frames over every rung); its timeout grows with it.
	Seconds float64 `json:"seconds,omitempty"`
	// Sweep marks the second, delayed run of a cleanup.
	Sweep bool `json:"sweep,omitempty"`
}

// ID is the task's unique id: the queue refuses a second task with the same
// id, which makes enqueueing a stage idempotent.
func (t Task) ID() string {
	if t.Kind == TaskEncode {
		return t.JobID + ":" + string(t.Kind) + ":" + strconv.Itoa(t.Chunk)
	}
	if t.Sweep {
		return t.JobID + ":" + string(t.Kind) + ":sweep"
	}
	return t.JobID + ":" + string(t.Kind)
}

// Queue runs tasks on workers.
type Queue interface {
	// Enqueue queues t once: enqueueing a task whose ID was already queued
	// is not an error and queues nothing.
	Enqueue(ctx context.Context, t Task) error
	// Drop removes the given tasks if queued and stops them if running.
	Drop(ctx context.Context, tasks []Task) error
	// Requeue queues t afresh, with all its retries, whatever became of an
	// earlier task with its ID (done, skipped, archived after its last
	// retry); a task of that ID still running is left to finish.
	Requeue(ctx context.Context, t Task) error
	// Later queues t to run after d.
	Later(ctx context.Context, t Task, d time.Duration) error
}

// Service drives jobs through the pipeline's state machine.
type Service struct {
	Store Store
	Queue Queue
	Now   func() time.Time
}

// Time returns the current time from Now, or the wall clock in UTC.
func (s *Service) Time() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now()
}

// Submit stores a new job and queues its probe.
func (s *Service) Submit(ctx context.Context, j *Job) error {
	now := s.Time()
	j.Status, j.CreatedAt, j.UpdatedAt = StatusQueued, now, now
	if err := s.Store.Create(ctx, j); err != nil {
		return fmt.Errorf("submit %s: %w", j.ID, err)
	}
	return s.Queue.Enqueue(ctx, Task{Kind: TaskProbe, JobID: j.ID})
}

// ErrJobEnded is returned by Begin when the job is already complete, failed
// or canceled: the task has nothing to do.
var ErrJobEnded = errors.New("job already ended")

// Begin moves the job to status (if it is not there or past it yet) and
// returns it. A task that finds its job ended gets ErrJobEnded and stops.
func (s *Service) Begin(ctx context.Context, id string, status Status) (*Job, error) {
	return s.Store.Update(ctx, id, func(j *Job) error {
		if j.Status.Terminal() {
			return ErrJobEnded
		}
		if CanMove(j.Status, status) {
			return j.Move(status, s.Time())
		}
		return nil
	})
}

// Next queues the following task(s) after a stage that fans out to one task.
func (s *Service) Next(ctx context.Context, t Task) error {
	return s.Queue.Enqueue(ctx, t)
}

// UnitsTotal is the number of units (chunks and audio) the fan-in waits for.
func UnitsTotal(j *Job) int64 {
	if j.Plan == nil {
		return 0
	}
	n := int64(len(j.Plan.Chunks))
	if j.HasAudio {
		n++
	}
	return n
}

// ChunkUnit and AudioUnit name the units of the fan-in.
func ChunkUnit(k int) string { return "chunk:" + strconv.Itoa(k) }

// AudioUnit is the audio task's unit.
const AudioUnit = "audio"

// UnitDone records a finished unit. When it was the last one, the package
// task is queued; running this twice for the same unit, or for the last two
// units at once, still queues the package task exactly once.
func (s *Service) UnitDone(ctx context.Context, j *Job, unit string) error {
	n, err := s.Store.AddDone(ctx, j.ID, unit)
	if err != nil {
		return fmt.Errorf("fan-in %s %s: %w", j.ID, unit, err)
	}
	if n < UnitsTotal(j) {
		return nil
	}
	return s.Queue.Enqueue(ctx, Task{Kind: TaskPackage, JobID: j.ID})
}

// RecordTiming adds a task's run to the job's timings.
func (s *Service) RecordTiming(ctx context.Context, id, stage string, start, end time.Time) (*Job, error) {
	return s.Store.Update(ctx, id, func(j *Job) error {
		j.AddTiming(stage, start.UTC(), end.UTC())
		return nil
	})
}

// Fail marks the job failed, unless it already ended.
func (s *Service) Fail(ctx context.Context, id, code, msg string) error {
	_, err := s.Store.Update(ctx, id, func(j *Job) error {
		if j.Status.Terminal() {
			return ErrJobEnded
		}
		return j.Fail(code, msg, s.Time())
	})
	if errors.Is(err, ErrJobEnded) {
		return nil
	}
	return err
}

// Cancel ends a job: status canceled, its queued tasks dropped, its running
// tasks stopped. Canceling an ended job is a conflict.
func (s *Service) Cancel(ctx context.Context, id string) (*Job, error) {
	j, err := s.Store.Update(ctx, id, func(j *Job) error {
		if j.Status.Terminal() {
			return fmt.Errorf("%w: job %s is already %s", ErrJobEnded, id, j.Status)
		}
		return j.Move(StatusCanceled, s.Time())
	})
	if err != nil {
		return nil, err
	}
	err = s.Queue.Drop(ctx, Tasks(j))
	// Remove what the job stored, now and once more after any task still
	// stopping has let go.
	cerr := errors.Join(s.Queue.Enqueue(ctx, Task{Kind: TaskCleanup, JobID: id}),
		s.Queue.Later(ctx, Task{Kind: TaskCleanup, JobID: id, Sweep: true}, CleanupSweepAfter))
	if err = errors.Join(err, cerr); err != nil {
		return j, fmt.Errorf("cancel %s: %w", id, err)
	}
	return j, nil
}

// CleanupSweepAfter is when a canceled job's objects are removed a second
// time, after its stopped tasks can no longer write any.
const CleanupSweepAfter = 30 * time.Second

// ErrNotFailed is returned by Retry for a job that did not fail.
var ErrNotFailed = errors.New("only a failed job can be retried")

// Retry re-runs a failed job from where it stopped: the stage that failed
// and every unit of work not yet done, nothing that finished.
func (s *Service) Retry(ctx context.Context, id string) (*Job, error) {
	counters, err := s.Store.Counters(ctx, id)
	if err != nil {
		return nil, err
	}
	done, err := s.Store.DoneUnits(ctx, id)
	if err != nil {
		return nil, err
	}
	var tasks []Task
	j, err := s.Store.Update(ctx, id, func(j *Job) error {
		if j.Status != StatusFailed {
			return fmt.Errorf("%w: job %s is %s", ErrNotFailed, id, j.Status)
		}
		var status Status
		status, tasks = Resume(j, done, counters)
		j.Status, j.Error, j.FinishedAt, j.UpdatedAt = status, nil, nil, s.Time()
		j.Retries++
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		if err := s.Queue.Requeue(ctx, t); err != nil {
			return j, fmt.Errorf("retry %s: %w", id, err)
		}
	}
	return j, nil
}

// Resume returns the status a failed job goes back to and the tasks that
// finish it, given the units done and its progress counters.
func Resume(j *Job, done map[string]bool, counters map[string]float64) (Status, []Task) {
	switch {
	case j.Source == nil:
		return StatusQueued, []Task{{Kind: TaskProbe, JobID: j.ID}}
	case j.Plan == nil:
		return StatusProbing, []Task{{Kind: TaskPlan, JobID: j.ID}}
	case len(j.Plan.Pieces) == 0:
		return StatusSplitting, []Task{{Kind: TaskSplit, JobID: j.ID}}
	case j.Ladder.PerTitle() && j.Analysis == nil:
		return StatusSplitting, []Task{{Kind: TaskAnalyze, JobID: j.ID}}
	}
	var tasks []Task
	for _, c := range j.Plan.Chunks {
		if !done[ChunkUnit(c.Index)] {
			tasks = append(tasks, EncodeTask(j, c.Index))
		}
	}
	if j.HasAudio && !done[AudioUnit] {
		tasks = append(tasks, Task{Kind: TaskAudio, JobID: j.ID})
	}
	switch {
	case len(tasks) > 0:
		return StatusEncoding, tasks
	case counters[CounterPackage] < 1:
		return StatusPackaging, []Task{{Kind: TaskPackage, JobID: j.ID}}
	}
	return StatusPublishing, []Task{{Kind: TaskPublish, JobID: j.ID}}
}

// EncodeTask is the encode task of chunk k, with its work in seconds of
// 1080p video over every rung.
func EncodeTask(j *Job, k int) Task {
	t := Task{Kind: TaskEncode, JobID: j.ID, Chunk: k}
	if j.Plan == nil || k < 0 || k >= len(j.Plan.Chunks) || j.Plan.FPS() <= 0 {
		return t
	}
	c := j.Plan.Chunks[k]
	var pixels float64
	for _, r := range j.Renditions {
		pixels += max(float64(r.Width*r.Height)/(1920*1080), 0.1)
	}
	t.Seconds = float64(c.End-c.Start+j.Plan.Preroll(k)) / j.Plan.FPS() * pixels
	return t
}

// Tasks lists every task the job has or may have.
func Tasks(j *Job) []Task {
	ts := []Task{{Kind: TaskProbe, JobID: j.ID}, {Kind: TaskPlan, JobID: j.ID}, {Kind: TaskSplit, JobID: j.ID}, {Kind: TaskAnalyze, JobID: j.ID},
		{Kind: TaskAudio, JobID: j.ID}}
	if j.Plan != nil {
		for _, c := range j.Plan.Chunks {
			ts = append(ts, Task{Kind: TaskEncode, JobID: j.ID, Chunk: c.Index})
		}
	}
	return append(ts, Task{Kind: TaskPackage, JobID: j.ID}, Task{Kind: TaskPublish, JobID: j.ID})

}

// Counter fields kept beside a job.
const (
	CounterProbe   = "probe"
	CounterSplit   = "split"
	CounterAudio   = "audio"
	CounterPackage = "package"
	CounterPublish = "publish"
)

// ChunkCounter holds the frames encoded so far in chunk k.
func ChunkCounter(k int) string { return "chunk:" + strconv.Itoa(k) }

// stage weights of the overall progress.
var weights = []struct {
	stage string
	w     float64
}{{"probe", 0.02}, {"split", 0.05}, {"encode", 0.75}, {"audio", 0.05}, {"package", 0.08}, {"publish", 0.05}}

// ProgressView is a job's progress, each value in 0..1.
type ProgressView struct {
	Overall     float64            `json:"overall"`
	Stages      map[string]float64 `json:"stages"`
	ChunksDone  int                `json:"chunks_done"`
	ChunksTotal int                `json:"chunks_total"`
}

// RenditionView is a rendition with its progress.
type RenditionView struct {
	Rendition
	Progress float64 `json:"progress"`
}

// View is the job as the API shows it.
type View struct {
	ID         string             `json:"id"`
	Tenant     string             `json:"tenant,omitempty"`
	Status     Status             `json:"status"`
	Name       string             `json:"name,omitempty"`
	Progress   ProgressView       `json:"progress"`
	Source     *SourceInfo        `json:"source,omitempty"`
	Renditions []RenditionView    `json:"renditions"`
	Outputs    *Outputs           `json:"outputs,omitempty"`
	Error      *JobError          `json:"error,omitempty"`
	Retries    int                `json:"retries,omitempty"` // times retried after failing
	Timings    map[string]*Timing `json:"timings,omitempty"`
	// Analysis is a per-title ladder's trial encodes and choice.
	Analysis   *Analysis  `json:"analysis,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// NewView combines a job with its counters; urlFor turns an origin object
// key into the URL players use.
func NewView(j *Job, counters map[string]float64, urlFor func(key string) string) View {
	v := View{ID: j.ID, Tenant: j.Tenant, Status: j.Status, Name: j.Input.Name, Source: j.Source, Error: j.Error, Retries: j.Retries, Timings: j.Timings, Analysis: j.Analysis,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
	if j.Published != nil && j.Status == StatusComplete {
		p := j.Published
		o := &Outputs{HLS: urlFor(p.HLS), DASH: urlFor(p.DASH)}
		if p.Poster != "" {
			o.Poster = urlFor(p.Poster)
		}
		if p.Thumbnails != "" {
			o.Thumbnails = urlFor(p.Thumbnails)
		}
		urls := func(keys map[string]string) map[string]string {
			if len(keys) == 0 {
				return nil
			}
			m := make(map[string]string, len(keys))
			for k, key := range keys {
				m[k] = urlFor(key)
			}
			return m
		}
		o.HLSByCodec, o.IFrames = urls(p.HLSByCodec), urls(p.IFrames)
		v.Outputs = o
	}
	st := map[string]float64{}
	for _, w := range weights {
		st[w.stage] = clamp01(counters[w.stage])
	}
	var encoded float64
	if j.Plan != nil {
		v.Progress.ChunksTotal = len(j.Plan.Chunks)
		for _, c := range j.Plan.Chunks {
			f := counters[ChunkCounter(c.Index)]
			encoded += min(f, float64(c.End-c.Start))
			if f >= float64(c.End-c.Start) {
				v.Progress.ChunksDone++
			}
		}
		if j.Plan.Frames > 0 {
			st["encode"] = clamp01(encoded / float64(j.Plan.Frames))
		}
	}
	if !j.HasAudio && j.Source != nil {
		st["audio"] = 1
	}
	if j.Status == StatusComplete {
		for k := range st {
			st[k] = 1
		}
	}
	for _, w := range weights {
		v.Progress.Overall += w.w * st[w.stage]
	}
	v.Progress.Overall = clamp01(v.Progress.Overall)
	v.Progress.Stages = st
	for _, r := range j.Renditions {
		v.Renditions = append(v.Renditions, RenditionView{Rendition: r, Progress: st["encode"]*0.9 + st["package"]*0.1})
	}
	if v.Renditions == nil {
		v.Renditions = []RenditionView{}
	}
	return v
}

func clamp01(f float64) float64 { return max(0, min(1, f)) }

// ValidID reports whether id looks like a job id Reel issues.
func ValidID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	return strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyz-") == ""
}
