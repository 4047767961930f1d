package pipeline

import (
	"slices"
	"strconv"
	"time"
)

// TaskKind names a pipeline stage task.
type TaskKind string

// The stage tasks. Stages holds what each one is.
const (
	// TaskIngest fetches a master given by URL into the masters bucket.
	TaskIngest TaskKind = "ingest"
	TaskProbe  TaskKind = "probe"
	TaskPlan   TaskKind = "plan"
	TaskSplit  TaskKind = "split"
	// TaskAnalyze chooses a per-title ladder from trial encodes.
	TaskAnalyze TaskKind = "analyze"
	TaskEncode  TaskKind = "encode"
	TaskAudio   TaskKind = "audio"
	// TaskText makes WebVTT subtitle tracks of the master's text streams.
	TaskText TaskKind = "text"
	// TaskStream publishes the chunks encoded so far from the title's
	// start, so that it plays while the rest encode.
	TaskStream  TaskKind = "stream"
	TaskPackage TaskKind = "package"
	TaskPublish TaskKind = "publish"
	// TaskCleanup removes a canceled job's intermediate and published
	// objects.
	TaskCleanup TaskKind = "cleanup"
)

// Stage is one kind of task and its place in a job's graph. The graph is
// written down once, in Stages; the service (Begin, Progress, Done,
// Resume, Tasks), the queue's timeouts, the progress view and the
// workers' handler registry all read it.
type Stage struct {
	Kind TaskKind
	// Status is the job's status while the stage's tasks wait and run.
	// For a detached stage it is the status the job must be in.
	Status Status
	// Weight is the stage's share of the job's overall progress; a stage
	// with a weight reports progress in a counter of its own (per chunk
	// for a per-chunk stage). 0: no progress shown.
	Weight float64
	// Timeout bounds one task; PerWork adds to it for every second of
	// 1080p work the task holds (Task.Seconds), so a long chunk is never
	// stopped while healthy.
	Timeout, PerWork time.Duration
	// PerChunk stages run one task per chunk of the plan.
	PerChunk bool
	// Runs, if set, says whether the stage runs for a job at all; a stage
	// that does not is passed over for the stages after it.
	Runs func(j *Job) bool
	// Finished, if set, says from the job alone that the stage's work is
	// recorded; otherwise its counter reaching 1 says so. Resume reads it.
	// Stages that join a fan-in are finished unit by unit.
	Finished func(j *Job) bool
	// Next are the stages queued when this one is done: several fan out.
	// A stage with neither Next nor Join completes the job.
	Next []TaskKind
	// Join is the stage this one fans in to instead: it is queued once
	// every task of every stage joining it is done.
	Join TaskKind
	// FailCode is the job's error code when a task of the stage gives up
	// after its retries.
	FailCode string
	// Detached stages are not part of the job's graph: they record
	// nothing, and Done is not called for them (cleanup).
	Detached bool
	// Each, if set, is a side stage run after every task of this stage is
	// done, beside what follows it (Service.Side).
	Each TaskKind
	// Side stages run beside the graph, after the tasks of a stage whose
	// Each names them, in the worker that ran that task rather than
	// through the queue: Begin leaves the job's status alone, and Done
	// records the result and timing and moves the job to Status, queuing
	// nothing. A side task that finds nothing to do does not call Done;
	// one that fails does not fail the job: the next one, and the later
	// stages, do the same work.
	Side bool
	// Due, for a side stage, says whether it has work for j now; it runs
	// only then.
	Due func(j *Job) bool
}

// Stages is the job's graph, in pipeline order:
//
//	                                                           ┌─ text (if any) ──────┐
//	[ingest] → probe → plan → split → [analyze, per-title only] ─┼─ encode chunk 0..N ──┤
//	                                                           └─ audio (if any) ─────┴─ fan-in → package → publish → complete
//	                                                                 │ each encode and audio done, in its worker
//	                                                                 └─ stream: publish the chunks done from the start (playable)
//
// (ingest only for a master given by URL, split only for masters that are not read by seeking: Plan.Seek; stream
// only for titles of several chunks), and cleanup, queued when a job is
// canceled.
var Stages = []Stage{
	{Kind: TaskIngest, Status: StatusIngesting, Timeout: 2 * time.Hour,
		Runs:     func(j *Job) bool { return j.Input.URL != "" },
		Finished: func(j *Job) bool { return j.Input.Key != "" },
		Next:     []TaskKind{TaskProbe}, FailCode: CodeSourceUnavailable},
	{Kind: TaskProbe, Status: StatusProbing, Weight: 0.02, Timeout: 10 * time.Minute,
		Finished: func(j *Job) bool { return j.Source != nil },
		Next:     []TaskKind{TaskPlan}, FailCode: CodeInternal},
	{Kind: TaskPlan, Status: StatusProbing, Timeout: time.Minute,
		Finished: func(j *Job) bool { return j.Plan != nil },
		Next:     []TaskKind{TaskSplit}, FailCode: CodeInternal},
	{Kind: TaskSplit, Status: StatusSplitting, Weight: 0.05, Timeout: 30 * time.Minute,
		// A master read by seeking (Plan.Seek) has no pieces to cut.
		Runs:     func(j *Job) bool { return j.Plan == nil || !j.Plan.Seek },
		Finished: func(j *Job) bool { return j.Plan != nil && len(j.Plan.Pieces) > 0 },
		Next:     []TaskKind{TaskAnalyze}, FailCode: CodeEncodeFailed},
	{Kind: TaskAnalyze, Status: StatusAnalyzing, Timeout: 60 * time.Minute,
		Runs:     func(j *Job) bool { return j.Ladder.PerTitle() && j.Analysis == nil },
		Finished: func(j *Job) bool { return j.Analysis != nil },
		Next:     []TaskKind{TaskAudio, TaskText, TaskEncode}, FailCode: CodeEncodeFailed},
	{Kind: TaskEncode, Status: StatusEncoding, Weight: 0.75, Timeout: 10 * time.Minute, PerWork: 2 * time.Minute,
		PerChunk: true, Join: TaskPackage, Each: TaskStream, FailCode: CodeEncodeFailed},
	{Kind: TaskAudio, Status: StatusEncoding, Weight: 0.05, Timeout: 60 * time.Minute,
		Runs: func(j *Job) bool { return j.HasAudio },
		Join: TaskPackage, Each: TaskStream, FailCode: CodeEncodeFailed},
	// A subtitle stream that cannot be read is left out with a note; the
	// task fails only when it cannot store what it made.
	{Kind: TaskText, Status: StatusEncoding, Timeout: 30 * time.Minute,
		Runs: func(j *Job) bool { return j.HasText() },
		Join: TaskPackage, FailCode: CodeEncodeFailed},
	{Kind: TaskStream, Status: StatusPlayable, Timeout: 10 * time.Minute, Side: true,
		// A title of one chunk is published whole, once.
		Runs: func(j *Job) bool { return j.Plan != nil && len(j.Plan.Chunks) > 1 }, Due: streamDue, FailCode: CodeInternal},
	{Kind: TaskPackage, Status: StatusPackaging, Weight: 0.08, Timeout: 30 * time.Minute,
		Next: []TaskKind{TaskPublish}, FailCode: CodeEncodeFailed},
	{Kind: TaskPublish, Status: StatusPublishing, Weight: 0.05, Timeout: 30 * time.Minute, FailCode: CodeInternal},
	{Kind: TaskCleanup, Status: StatusCanceled, Timeout: 10 * time.Minute, FailCode: CodeInternal, Detached: true},
}

// MaxTimeout caps every task's timeout.
const MaxTimeout = 24 * time.Hour

// StageOf returns the stage of a task kind.
func StageOf(k TaskKind) (Stage, bool) {
	for _, s := range Stages {
		if s.Kind == k {
			return s, true
		}
	}
	return Stage{}, false
}

func stageIndex(k TaskKind) int {
	return slices.IndexFunc(Stages, func(s Stage) bool { return s.Kind == k })
}

func stage(k TaskKind) Stage {
	s, ok := StageOf(k)
	if !ok {
		panic("pipeline: no stage " + string(k))
	}
	return s
}

// runs reports whether the stage runs for j.
func (s Stage) runs(j *Job) bool { return s.Runs == nil || s.Runs(j) }

// Timeout is the time t may run before it is stopped and retried.
func (t Task) Timeout() time.Duration {
	s, _ := StageOf(t.Kind)
	return min(s.Timeout+time.Duration(t.Seconds*float64(s.PerWork)), MaxTimeout)
}

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
	// After is, for a side task, the unit whose task queued it.
	After string `json:"after,omitempty"`
	// Priority is the job's (ladder.Priority): the queue the task waits
	// in.
	Priority string `json:"priority,omitempty"`
}

// ID is the task's unique id: the queue refuses a second task with the same
// id, which makes enqueueing a stage idempotent.
func (t Task) ID() string {
	s, _ := StageOf(t.Kind)
	switch {
	case s.PerChunk:
		return t.JobID + ":" + string(t.Kind) + ":" + strconv.Itoa(t.Chunk)
	case t.Sweep:
		return t.JobID + ":" + string(t.Kind) + ":sweep"
	case s.Side:
		return t.JobID + ":" + string(t.Kind) + ":" + t.After
	}
	return t.JobID + ":" + string(t.Kind)
}

// Unit names what the task adds to its job: its progress counter and, for
// a stage that joins a fan-in, its unit there. One task per chunk is
// "chunk:K" (its counter holds the frames encoded so far); any other is
// the stage's name (its counter runs from 0 to 1).
func (t Task) Unit() string {
	if s, _ := StageOf(t.Kind); s.PerChunk {
		return "chunk:" + strconv.Itoa(t.Chunk)
	}
	return string(t.Kind)
}

// tasks lists the tasks of stage s for job j.
func (s Stage) tasks(j *Job) []Task {
	if !s.PerChunk {
		return []Task{{Kind: s.Kind, JobID: j.ID, Priority: j.Ladder.Priority}}
	}
	if j.Plan == nil {
		return nil
	}
	out := make([]Task, 0, len(j.Plan.Chunks))
	for _, c := range j.Plan.Chunks {
		out = append(out, chunkTask(j, s.Kind, c.Index))
	}
	return out
}

// chunkTask is the task of chunk k, with its work in seconds of 1080p
// video over every rung.
func chunkTask(j *Job, kind TaskKind, k int) Task {
	t := Task{Kind: kind, JobID: j.ID, Chunk: k, Priority: j.Ladder.Priority}
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

// queueAfter lists the tasks to queue for the stages kinds, passing over
// the stages that do not run for j. A fan-in none of whose stages runs is
// passed over as well.
func queueAfter(j *Job, kinds []TaskKind) []Task {
	var out []Task
	joins := map[TaskKind]bool{}
	for _, k := range kinds {
		s := stage(k)
		if !s.runs(j) {
			if s.Join != "" {
				joins[s.Join] = true
			}
			out = append(out, queueAfter(j, s.Next)...)
			continue
		}
		out = append(out, s.tasks(j)...)
		if s.Join != "" {
			joins[s.Join] = true
		}
	}
	for target := range joins {
		if unitsTotal(j, target) == 0 {
			out = append(out, queueAfter(j, []TaskKind{target})...)
		}
	}
	return out
}

// unitsTotal is the number of tasks the fan-in into target waits for.
func unitsTotal(j *Job, target TaskKind) int64 {
	var n int64
	for _, s := range Stages {
		if s.Join == target && s.runs(j) {
			n += int64(len(s.tasks(j)))
		}
	}
	return n
}

// Tasks lists every task the job has or may have, for dropping them when
// it is canceled.
func Tasks(j *Job) []Task {
	var ts []Task
	for _, s := range Stages {
		if s.Detached || s.Side {
			continue
		}
		ts = append(ts, s.tasks(j)...)
	}
	return ts
}

// Publishable is how many chunks from the title's start can be published
// now: those whose segments are stored, up to the first that is not,
// once the audio (if any) is encoded too.
func Publishable(j *Job) int {
	if j.Plan == nil || (j.HasAudio && !j.AudioEncoded()) {
		return 0
	}
	n := 0
	for n < len(j.Plan.Chunks) && j.Plan.Chunks[n].Segments != "" {
		n++
	}
	return n
}

// LiveSeconds is how long the first n chunks of the title play.
func LiveSeconds(p *Plan, n int) float64 {
	if p == nil || n <= 0 || p.FPS() <= 0 {
		return 0
	}
	return float64(p.Chunks[min(n, len(p.Chunks))-1].End) / p.FPS()
}

// streamDue says whether a stream task can publish more of the job now:
// more chunks are publishable than are published, and not yet all of
// them (the package and publish stages publish the whole title).
func streamDue(j *Job) bool {
	n := Publishable(j)
	published := 0
	if j.Live != nil {
		published = j.Live.Chunks
	}
	return n > published && j.Plan != nil && n < len(j.Plan.Chunks)
}

// First returns a new job's first tasks: those of the first stage that
// runs for it.
func First(j *Job) []Task { return queueAfter(j, []TaskKind{Stages[0].Kind}) }

// Resume returns the status a failed job goes back to and the tasks that
// finish it, given the fan-in units done and its progress counters:
// walking the graph from the start, the first stages whose work is not
// recorded, and for a fan-in only its units not done.
func Resume(j *Job, done map[string]bool, counters map[string]float64) (Status, []Task) {
	kinds := []TaskKind{Stages[0].Kind}
	for len(kinds) > 0 {
		slices.SortFunc(kinds, func(a, b TaskKind) int { return stageIndex(a) - stageIndex(b) })
		kinds = slices.Compact(kinds)
		var todo []Task
		var next []TaskKind
		joins := map[TaskKind]bool{}
		for _, k := range kinds {
			s := stage(k)
			switch {
			case !s.runs(j):
				next = append(next, s.Next...)
				if s.Join != "" {
					joins[s.Join] = true
				}
			case s.Join != "":
				joins[s.Join] = true
				for _, t := range s.tasks(j) {
					if !done[t.Unit()] {
						todo = append(todo, t)
					}
				}
			case s.Finished != nil && s.Finished(j), s.Finished == nil && counters[string(s.Kind)] >= 1:
				next = append(next, s.Next...)
			default:
				todo = append(todo, s.tasks(j)...)
			}
		}
		if len(todo) > 0 {
			status := stage(todo[0].Kind).Status
			switch {
			case todo[0].Kind == First(j)[0].Kind:
				status = StatusQueued
			case j.Live != nil && CanMove(status, StatusPlayable):
				status = StatusPlayable // its first part is still published
			}
			return status, todo
		}
		for target := range joins {
			next = append(next, target)
		}
		kinds = next
	}
	// Every stage's work is recorded, yet the job failed: the last stage
	// runs again.
	last := Stages[0]
	for _, s := range Stages {
		if !s.Detached && !s.Side {
			last = s
		}
	}
	return last.Status, last.tasks(j)
}
