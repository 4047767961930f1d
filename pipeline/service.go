package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// ErrUnreplicated is returned by Submit when the store's replicas did not
// confirm a new job in time: a failover of the store could lose it, so
// it is not acknowledged (and is marked failed with CodeUnreplicated).
var ErrUnreplicated = errors.New("not confirmed by the store's replicas")

// ErrUnavailable wraps a store's or queue's error when it cannot serve
// now (unreachable, failing over) and a client should try again shortly.
var ErrUnavailable = errors.New("the job store is unavailable")

// CodeUnreplicated is the error code of a job that Submit refused with
// ErrUnreplicated; retrying the job runs it.
const CodeUnreplicated = "unreplicated"

// Backlog is the work waiting for the workers.
type Backlog struct {
	// Tasks are queued, running or waiting for a retry.
	Tasks int `json:"tasks"`
	// Rate is how many tasks the workers finished a second lately; 0
	// when none finished.
	Rate float64 `json:"tasks_per_second"`
	// Oldest is how long the longest-waiting task has waited.
	Oldest time.Duration `json:"-"`
	// Wait is the estimated time the workers need to get through the
	// tasks queued now.
	Wait time.Duration `json:"-"`
}

// Service drives jobs through the pipeline's state machine.
type Service struct {
	Store Store
	Queue Queue
	Now   func() time.Time
	// Commit, when set, returns once what was written so far for job j
	// (its record, listings, counters and finished units) and the tasks
	// queued for it would survive the loss of the store's and the
	// queue's primary, or an error wrapping ErrUnreplicated. Submit
	// calls it before a job is acknowledged; Done, Fail, Cancel and
	// Retry before the task or request that wrote is: a primary lost
	// before replicating those writes would otherwise take them back
	// while the task's acknowledgement, written after the failover,
	// stays (a chunk marked done in the queue and not in the job).
	Commit func(ctx context.Context, j *Job, t Task) error
	// Notify, if set, hears of a job's lifecycle events (EventCreated,
	// EventCompleted, EventFailed, EventCanceled) once they are
	// committed: webhook deliveries.
	Notify func(ctx context.Context, j *Job, event string)
	// Admission, if set, holds each tenant's jobs beyond its share of
	// running jobs back, their first tasks not yet queued, and queues
	// them one by one as the tenant's running jobs end: one tenant's
	// batch cannot fill the queue ahead of another tenant's job.
	Admission Admission
	// Log hears of what cannot be returned to a caller; default
	// slog.Default().
	Log *slog.Logger
}

// Admission counts each tenant's running jobs against its share and
// keeps the line of its jobs held back (store.Admission).
type Admission interface {
	// Admit counts job id among tenant's running jobs if it has fewer
	// than its share, else holds it at the end of the tenant's line
	// (false).
	Admit(ctx context.Context, tenant, id string) (bool, error)
	// Count counts job id among tenant's running jobs whatever their
	// number.
	Count(ctx context.Context, tenant, id string) error
	// Finish stops counting job id (ended, or canceled while held) and
	// admits the tenant's next held jobs while it has room, returning
	// them in their order.
	Finish(ctx context.Context, tenant, id string) ([]string, error)
	// Running lists tenant's running jobs.
	Running(ctx context.Context, tenant string) ([]string, error)
}

// A job's lifecycle events.
const (
	EventCreated   = "job.created"
	EventCompleted = "job.completed"
	EventFailed    = "job.failed"
	EventCanceled  = "job.canceled"
	// EventProgress: the job moved on to another stage (probing,
	// encoding, playable, packaging, ...), at most once a stage.
	EventProgress = "job.progress"
)

// notify tells Notify, if set, of event.
// An ended job makes room among its tenant's running jobs.
func (s *Service) notify(ctx context.Context, j *Job, event string) {
	if j == nil {
		return
	}
	if event != EventCreated && event != EventProgress {
		s.finish(ctx, j.Tenant, j.ID)
	}
	if s.Notify != nil {
		s.Notify(ctx, j, event)
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// admit says whether job j may queue its first tasks now: always without
// Admission, else when its tenant has room among its running jobs. When
// it has none, the tenant's running jobs that ended without making room
// (a worker lost between the end and Finish) make it first. An
// Admission that cannot answer admits: the job runs, out of turn.
func (s *Service) admit(ctx context.Context, j *Job) bool {
	if s.Admission == nil {
		return true
	}
	ok, err := s.Admission.Admit(ctx, j.Tenant, j.ID)
	if err != nil {
		s.log().Warn("cannot admit a job in its tenant's turn; queuing it now", "job", j.ID, "err", err)
		return true
	}
	if ok {
		return true
	}
	running, err := s.Admission.Running(ctx, j.Tenant)
	if err != nil {
		s.log().Warn("cannot list a tenant's running jobs", "tenant", j.Tenant, "err", err)
		return false
	}
	for _, id := range running {
		r, err := s.Store.Get(ctx, id)
		if errors.Is(err, ErrNotFound) || (err == nil && r.Status.Terminal()) {
			s.finish(ctx, j.Tenant, id)
		}
	}
	// finish may have queued j itself.
	return false
}

// finish makes room among tenant's running jobs where job id was, and
// queues the first tasks of each held job that takes it.
func (s *Service) finish(ctx context.Context, tenant, id string) {
	if s.Admission == nil {
		return
	}
	next := []string{id}
	for len(next) > 0 {
		id, next = next[0], next[1:]
		admitted, err := s.Admission.Finish(ctx, tenant, id)
		if err != nil {
			s.log().Warn("cannot make room for a tenant's held jobs", "tenant", tenant, "job", id, "err", err)
			return
		}
		for _, a := range admitted {
			j, err := s.Store.Get(ctx, a)
			switch {
			case errors.Is(err, ErrNotFound) || (err == nil && j.Status != StatusQueued):
				next = append(next, a) // gone or canceled: its room goes on
				continue
			case err != nil:
				s.log().Warn("cannot read a held job to queue it", "job", a, "err", err)
				continue
			}
			for _, t := range First(j) {
				if err := s.Queue.Enqueue(ctx, t); err != nil {
					s.log().Warn("cannot queue a held job", "job", a, "err", err)
				}
			}
		}
	}
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
	first := First(j)
	if s.admit(ctx, j) {
		for _, t := range first {
			if err := s.Queue.Enqueue(ctx, t); err != nil {
				return err
			}
		}
	}
	if err := s.commit(ctx, j, first[0]); err != nil {
		// Not acknowledged, so not left to run unannounced: failed, with a
		// code that says why, it can be retried or submitted again. (The
		// marking waits for the replicas too, and may be refused alike.)
		msg := "the job was not confirmed by the store's replicas in time and was not accepted; submit it again, or retry this job"
		_, ferr := s.Fail(ctx, j.ID, CodeUnreplicated, msg)
		if errors.Is(ferr, ErrUnreplicated) || errors.Is(ferr, ErrNotFound) {
			// Not confirmed either, or already gone with the primary that
			// held it: either way the job is not acknowledged.
			ferr = nil
		}
		return errors.Join(fmt.Errorf("submit %s: %w", j.ID, err), ferr)
	}
	s.notify(ctx, j, EventCreated)
	return nil
}

// ErrJobEnded is returned by Begin and Done when the job is already
// complete, failed or canceled: the task has nothing to do.
var ErrJobEnded = errors.New("job already ended")

// ErrNotDue is returned by Begin for a detached task whose job is not in
// the status the task is for (a cleanup of a job that was not canceled).
var ErrNotDue = errors.New("the job is not in the status this task is for")

// ErrUnknownTask is returned for a task kind that is not in Stages.
var ErrUnknownTask = errors.New("unknown task kind")

// Begin starts task t: it moves the job to the status of the task's stage
// (if it is not there or past it yet) and returns the job. A task that
// finds its job ended gets ErrJobEnded and stops.
func (s *Service) Begin(ctx context.Context, t Task) (*Job, error) {
	st, ok := StageOf(t.Kind)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTask, t.Kind)
	}
	if st.Detached {
		j, err := s.Store.Get(ctx, t.JobID)
		if err == nil && j.Status != st.Status {
			err = ErrNotDue
		}
		return j, err
	}
	if st.Side {
		j, err := s.Store.Get(ctx, t.JobID)
		if err == nil && j.Status.Terminal() {
			err = ErrJobEnded
		}
		return j, err
	}
	var before Status
	j, err := s.Store.Update(ctx, t.JobID, func(j *Job) error {
		if j.Status.Terminal() {
			return ErrJobEnded
		}
		before = j.Status
		if CanMove(j.Status, st.Status) {
			return j.Move(st.Status, s.Time())
		}
		return nil
	})
	if err == nil {
		s.progressed(ctx, j, before)
	}
	return j, err
}

// progressed tells Notify that job j moved on from status before to
// another stage (not to its end, which has events of its own).
func (s *Service) progressed(ctx context.Context, j *Job, before Status) {
	if j != nil && j.Status != before && !j.Status.Terminal() {
		s.notify(ctx, j, EventProgress)
	}
}

// Progress reports how far task t has come: frames encoded for a
// per-chunk task, a share from 0 to 1 for any other. Stages without a
// progress weight keep no counter.
func (s *Service) Progress(ctx context.Context, t Task, v float64) error {
	if st, _ := StageOf(t.Kind); st.Weight == 0 {
		return nil
	}
	return s.Store.SetCounter(ctx, t.JobID, t.Unit(), v)
}

// Done is what a task's handler calls when its work is done, once. In one
// update of the job it applies result (which may be nil), records the
// task's timing from started, and moves the job on: to the status of the
// stages queued next, or to complete after the last stage. Then it sets
// the task's progress counter to done and queues what follows, or joins
// the fan-in, whose last unit queues the stage after it. A side task's
// Done only records its result and timing and moves the job to its
// status. A duplicate delivery does no harm: the result is applied again,
// and the queue refuses tasks it already has. It returns the job as
// updated.
func (s *Service) Done(ctx context.Context, t Task, started time.Time, result func(*Job) error) (*Job, error) {
	st, ok := StageOf(t.Kind)
	if !ok || st.Detached {
		return nil, fmt.Errorf("%w %q", ErrUnknownTask, t.Kind)
	}
	var queued []Task
	var before Status
	j, err := s.Store.Update(ctx, t.JobID, func(j *Job) error {
		if j.Status.Terminal() {
			return ErrJobEnded
		}
		before = j.Status
		if result != nil {
			if err := result(j); err != nil {
				return err
			}
		}
		now := s.Time()
		j.AddTiming(string(t.Kind), started.UTC(), now)
		queued = nil
		switch {
		case st.Side:
			if CanMove(j.Status, st.Status) {
				return j.Move(st.Status, now)
			}
			return nil
		case st.Join != "":
			return nil
		}
		if len(st.Next) == 0 {
			return j.Move(StatusComplete, now)
		}
		queued = queueAfter(j, st.Next)
		return moveFor(j, queued, now)
	})
	if err != nil || st.Side {
		if err == nil {
			s.progressed(ctx, j, before)
		}
		return j, err
	}
	if st.Weight > 0 {
		v := 1.0
		if st.PerChunk && j.Plan != nil && t.Chunk >= 0 && t.Chunk < len(j.Plan.Chunks) {
			c := j.Plan.Chunks[t.Chunk]
			v = float64(c.End - c.Start)
		}
		if err := s.Store.SetCounter(ctx, j.ID, t.Unit(), v); err != nil {
			return j, err
		}
	}
	if st.Join != "" {
		if err := s.join(ctx, j, t, st.Join); err != nil {
			return j, err
		}
		return j, s.commit(ctx, j, t)
	}
	for _, q := range queued {
		if err := s.Queue.Enqueue(ctx, q); err != nil {
			return j, err
		}
	}
	if err := s.commit(ctx, j, t); err != nil {
		return j, err
	}
	if j.Status == StatusComplete {
		s.notify(ctx, j, EventCompleted)
	}
	s.progressed(ctx, j, before)
	return j, nil
}

// commit runs Commit, if set.
func (s *Service) commit(ctx context.Context, j *Job, t Task) error {
	if s.Commit == nil || j == nil {
		return nil
	}
	return s.Commit(ctx, j, t)
}

// Side lists the side tasks (Stage.Each) that have work once task t is
// done, given the job Done returned. They are not queued: the worker
// that ran t runs them at once, so that they never wait behind the
// queue's longer tasks (a title becomes playable as soon as its first
// chunk is encoded, not once a slot is free). A side task that fails or
// is lost leaves its work to the next one and to the later stages.
func (s *Service) Side(j *Job, t Task) []Task {
	st, ok := StageOf(t.Kind)
	if !ok || st.Each == "" || j == nil || j.Status.Terminal() {
		return nil
	}
	if side := stage(st.Each); side.runs(j) && (side.Due == nil || side.Due(j)) {
		return []Task{{Kind: st.Each, JobID: j.ID, After: t.Unit()}}
	}
	return nil
}

// moveFor moves the job forward to the status of the stages of tasks,
// which are about to be queued.
func moveFor(j *Job, tasks []Task, now time.Time) error {
	for _, t := range tasks {
		if to := stage(t.Kind).Status; CanMove(j.Status, to) {
			if err := j.Move(to, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// join records that t's unit of the fan-in into target finished. When it
// was the last one, the job moves to target's status and target's task is
// queued; running this twice for the same unit, or for the last two units
// at once, still queues it exactly once.
func (s *Service) join(ctx context.Context, j *Job, t Task, target TaskKind) error {
	n, err := s.Store.AddDone(ctx, j.ID, t.Unit())
	if err != nil {
		return fmt.Errorf("fan-in %s %s: %w", j.ID, t.Unit(), err)
	}
	if n < unitsTotal(j, target) {
		return nil
	}
	next := queueAfter(j, []TaskKind{target})
	var before Status
	moved, err := s.Store.Update(ctx, j.ID, func(j *Job) error {
		if j.Status.Terminal() {
			return ErrJobEnded
		}
		before = j.Status
		return moveFor(j, next, s.Time())
	})
	if err != nil {
		return err
	}
	for _, q := range next {
		if err := s.Queue.Enqueue(ctx, q); err != nil {
			return err
		}
	}
	s.progressed(ctx, moved, before)
	return nil
}

// Job returns the job as stored now, for a task that must act on its
// latest state (under a lock of its own) rather than on the one its Begin
// returned.
func (s *Service) Job(ctx context.Context, id string) (*Job, error) { return s.Store.Get(ctx, id) }

// Status returns the job's status.
func (s *Service) Status(ctx context.Context, id string) (Status, error) {
	j, err := s.Store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return j.Status, nil
}

// Fail marks the job failed and returns it, unless it already ended (then
// the job is nil).
func (s *Service) Fail(ctx context.Context, id, code, msg string) (*Job, error) {
	j, err := s.Store.Update(ctx, id, func(j *Job) error {
		if j.Status.Terminal() {
			return ErrJobEnded
		}
		return j.Fail(code, msg, s.Time())
	})
	if errors.Is(err, ErrJobEnded) {
		return nil, nil
	}
	if err != nil {
		return j, err
	}
	if err := s.commit(ctx, j, Task{JobID: id}); err != nil {
		return j, err
	}
	s.notify(ctx, j, EventFailed)
	return j, nil
}

// FailCode is the error code a job fails with when a task of kind gives
// up after its retries.
func FailCode(kind TaskKind) string {
	if st, ok := StageOf(kind); ok {
		return st.FailCode
	}
	return CodeInternal
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
	p := j.Ladder.Priority
	cerr := errors.Join(s.Queue.Enqueue(ctx, Task{Kind: TaskCleanup, JobID: id, Priority: p}),
		s.Queue.Later(ctx, Task{Kind: TaskCleanup, JobID: id, Sweep: true, Priority: p}, CleanupSweepAfter))
	if err = errors.Join(err, cerr, s.commit(ctx, j, Task{Kind: TaskCleanup, JobID: id, Priority: p})); err != nil {
		return j, fmt.Errorf("cancel %s: %w", id, err)
	}
	s.notify(ctx, j, EventCanceled)
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
	if s.Admission != nil {
		// Retried by hand: it runs now, counted with its tenant's.
		if err := s.Admission.Count(ctx, j.Tenant, id); err != nil {
			s.log().Warn("cannot count a retried job among its tenant's running jobs", "job", id, "err", err)
		}
	}
	return j, s.commit(ctx, j, Task{JobID: id})
}

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
	ID         string          `json:"id"`
	Tenant     string          `json:"tenant,omitempty"`
	Status     Status          `json:"status"`
	Name       string          `json:"name,omitempty"`
	Progress   ProgressView    `json:"progress"`
	Source     *SourceInfo     `json:"source,omitempty"`
	Renditions []RenditionView `json:"renditions"`
	// AudioTracks are the title's audio renditions once encoded.
	AudioTracks []AudioTrack `json:"audio_tracks,omitempty"`
	// TextTracks are the title's subtitle tracks once made.
	TextTracks []TextTrack `json:"text_tracks,omitempty"`
	// Warnings say what of the request was refused while the job went on.
	Warnings []string `json:"warnings,omitempty"`
	Outputs  *Outputs `json:"outputs,omitempty"`
	// Encryption says how an encrypted title is encrypted.
	Encryption *Encryption `json:"encryption,omitempty"`
	// StoredBytes is what the finished title and its master take in
	// storage; PurgedAt, when its files were deleted.
	StoredBytes int64      `json:"stored_bytes,omitempty"`
	PurgedAt    *time.Time `json:"purged_at,omitempty"`
	Error       *JobError  `json:"error,omitempty"`
	Retries     int        `json:"retries,omitempty"` // times retried after failing
	// Live is the part of the title that plays while the rest encodes;
	// PlayableAt is when it first did.
	Live       *Live              `json:"live,omitempty"`
	PlayableAt *time.Time         `json:"playable_at,omitempty"`
	Timings    map[string]*Timing `json:"timings,omitempty"`
	// Analysis is a per-title ladder's trial encodes and choice.
	Analysis   *Analysis  `json:"analysis,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Play is the answer to GET /v1/play/{id}: where this client plays the
// title.
type Play struct {
	HLS string `json:"hls"`
	// DASH is the MPD; an AES-128 title has none (HLS only).
	DASH string `json:"dash,omitempty"`
	// HLSByCodec holds a master playlist per codec family, when the title
	// has more than one.
	HLSByCodec map[string]string `json:"hls_by_codec,omitempty"`
	// Encryption says how an encrypted title is encrypted, and where its
	// ClearKey licence is (under this answer's token).
	Encryption *Encryption `json:"encryption,omitempty"`
	// Live says the title is still growing: its playlists are HLS EVENT
	// playlists and its MPD is dynamic until the job completes.
	Live bool `json:"live,omitempty"`
	// Edge is the edge's name, or "origin" when no edge is healthy.
	Edge       string `json:"edge"`
	EdgeZone   string `json:"edge_zone,omitempty"`
	ClientZone string `json:"client_zone,omitempty"`
}

// NewView combines a job with its counters; urlFor turns an origin object
// key into the URL players use.
func NewView(j *Job, counters map[string]float64, urlFor func(key string) string) View {
	v := View{ID: j.ID, Tenant: j.Tenant, Status: j.Status, Name: j.Input.Name, Source: j.Source, Error: j.Error, Retries: j.Retries, Timings: j.Timings, Analysis: j.Analysis,
		PlayableAt: j.PlayableAt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		AudioTracks: j.AudioTracks, TextTracks: j.TextTracks, Warnings: j.Warnings, StoredBytes: j.StoredBytes, PurgedAt: j.PurgedAt}
	if j.Live != nil && j.Status != StatusComplete {
		v.Live = j.Live
	}
	if j.Playable() {
		p := j.Published
		keyURL := urlFor
		urlFor = func(key string) string {
			if key == "" {
				return ""
			}
			return keyURL(key)
		}
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
		for h, c := range p.Caps {
			if o.Caps == nil {
				o.Caps = map[string]Capped{}
			}
			o.Caps[h] = Capped{HLS: urlFor(c.HLS), DASH: urlFor(c.DASH)}
		}
		v.Outputs = o
		v.Encryption = EncryptionFor(j, urlFor)
	} else {
		v.Encryption = EncryptionFor(j, nil)
	}
	st := map[string]float64{}
	for _, stg := range Stages {
		if stg.Weight == 0 {
			continue
		}
		name := string(stg.Kind)
		switch {
		case j.Status == StatusComplete:
			st[name] = 1
		case j.Source != nil && !stg.runs(j):
			st[name] = 1 // known not to run, such as the audio of a silent title
		case stg.PerChunk:
			st[name] = 0
			if j.Plan == nil {
				break
			}
			var encoded float64
			for _, t := range stg.tasks(j) {
				c := j.Plan.Chunks[t.Chunk]
				f := counters[t.Unit()]
				encoded += min(f, float64(c.End-c.Start))
				if f >= float64(c.End-c.Start) {
					v.Progress.ChunksDone++
				}
			}
			if j.Plan.Frames > 0 {
				st[name] = clamp01(encoded / float64(j.Plan.Frames))
			}
		default:
			st[name] = clamp01(counters[name])
		}
		v.Progress.Overall += stg.Weight * st[name]
	}
	if j.Plan != nil {
		v.Progress.ChunksTotal = len(j.Plan.Chunks)
		if j.Status == StatusComplete {
			v.Progress.ChunksDone = v.Progress.ChunksTotal
		}
	}
	v.Progress.Overall = clamp01(v.Progress.Overall)
	v.Progress.Stages = st
	for _, r := range j.Renditions {
		v.Renditions = append(v.Renditions, RenditionView{Rendition: r, Progress: st[string(TaskEncode)]*0.9 + st[string(TaskPackage)]*0.1})
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
