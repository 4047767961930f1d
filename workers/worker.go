// Package workers runs the pipeline's stage tasks: the asynq handlers that
// probe, split, encode (and cut each chunk into CMAF segments), publish a
// title's first chunks while the rest encode (stream), package and
// publish, running ffmpeg and reporting progress.
package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/protect"
	"github.com/reel-video/reel/queue"
)

// Objects is the object storage the workers need.
type Objects interface {
	Bucket() string
	OriginBucket() string
	PresignGet(ctx context.Context, bucket, key string, d time.Duration) (string, error)
	GetFile(ctx context.Context, bucket, key, path string) error
	// PutFile and Copy write an object; public makes it readable
	// without credentials (titles published with "public": true).
	PutFile(ctx context.Context, bucket, key, path, contentType, cacheControl string, public bool) error
	Stat(ctx context.Context, bucket, key string) (int64, error)
	Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey, contentType, cacheControl string, public bool) error
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	// Usage is the bytes of the objects under prefix.
	Usage(ctx context.Context, bucket, prefix string) (int64, error)
	RemovePrefix(ctx context.Context, bucket, prefix string) error
	PutStream(ctx context.Context, bucket, key string, r io.Reader, contentType string) (int64, error)
}

// Media runs ffmpeg and ffprobe.
type Media interface {
	Probe(ctx context.Context, input string) (*media.ProbeResult, error)
	StartTime(ctx context.Context, path string) (float64, error)
	DecodesCleanly(ctx context.Context, path string, frames int) (bool, error)
	DecodesCleanlyAt(ctx context.Context, master string, seek float64, frames int) (bool, error)
	DetectFieldOrder(ctx context.Context, input string) (string, error)
	HasCaptions(ctx context.Context, input string) (bool, error)
	Run(ctx context.Context, c media.Cmd) error
}

// Worker holds what every handler needs.
type Worker struct {
	Svc     *pipeline.Service
	Objects Objects
	Media   Media
	// WorkDir is where tasks keep their temporary files; default os.TempDir().
	WorkDir string
	Log     *slog.Logger
	// Limits bound each ffmpeg run.
	Limits Limits
	// ProgressEvery is the least time between progress reports; default 500ms.
	ProgressEvery time.Duration
	// Announce, if set, tells the edges that a title was published, with
	// the origin keys of its objects, so they pre-position it.
	Announce func(ctx context.Context, id string, keys []string) error
	// MarkPublic, if set, records that title id (published with
	// "public": true) plays from the edges without a token.
	MarkPublic func(ctx context.Context, id string) error
	// Metrics, if set, records tasks, encode speed and finished jobs.
	Metrics *metrics.Metrics
	// Failed, if set, hears of every failed task run: its kind and job,
	// the retries before it, and whether it was the last (the job fails).
	Failed func(kind, job string, retried int, final bool, err error)
	// Slots, if set, counts the chunk encodes all workers can run at once
	// with their CPUs busy (queue.ParallelEncodes), to size a job's chunks
	// when its ladder leaves chunk_segments at 0.
	Slots func(ctx context.Context) (int, error)
	// Ingest fetches masters given by URL.
	Ingest Ingest
	// Keys, the operator's master key, opens the content keys of
	// encrypted titles; nil, the worker fails jobs that ask for
	// encryption.
	Keys *protect.Master
	// Locks serializes the stream and publish tasks of one title across
	// workers; nil only where one worker process runs them all.
	Locks Locks
}

// run is one task being handled: the task, its job as Begin returned it,
// and when it started.
type run struct {
	task  pipeline.Task
	job   *pipeline.Job
	start time.Time
	// recorded is set once the handler has called done, and after to the
	// job as done returned it.
	recorded bool
	after    *pipeline.Job
}

// handler does one stage's work. It ends by calling done with its result
// (every stage but a detached one), and never touches the store itself.
type handler func(ctx context.Context, r *run) error

// handlers maps every stage of pipeline.Stages to its handler.
func (w *Worker) handlers() map[pipeline.TaskKind]handler {
	return map[pipeline.TaskKind]handler{
		pipeline.TaskIngest: w.ingest, pipeline.TaskProbe: w.probe, pipeline.TaskPlan: w.plan, pipeline.TaskSplit: w.split,
		pipeline.TaskAnalyze: w.analyze, pipeline.TaskEncode: w.encode, pipeline.TaskAudio: w.audio, pipeline.TaskText: w.text,
		pipeline.TaskStream: w.stream, pipeline.TaskPackage: w.pack, pipeline.TaskPublish: w.publish, pipeline.TaskCleanup: w.cleanup,
	}
}

// Register adds a handler for every stage of pipeline.Stages to mux.
func (w *Worker) Register(mux *asynq.ServeMux) {
	hs := w.handlers()
	for _, st := range pipeline.Stages {
		h, ok := hs[st.Kind]
		if !ok {
			panic("workers: no handler for stage " + string(st.Kind))
		}
		mux.HandleFunc(queue.Type(st.Kind), w.wrap(st, h))
	}
}

// done hands the task's result to the pipeline, which records it with the
// task's timing and queues what follows (pipeline.Service.Done).
func (w *Worker) done(ctx context.Context, r *run, result func(*pipeline.Job) error) (*pipeline.Job, error) {
	j, err := w.Svc.Done(ctx, r.task, r.start, result)
	if err == nil {
		r.recorded, r.after = true, j
	}
	return j, err
}

// progress reports how far the task has come (pipeline.Service.Progress);
// a report that fails is dropped, the next one will do.
func (w *Worker) progress(ctx context.Context, r *run, v float64) {
	_ = w.Svc.Progress(ctx, r.task, v)
}

// wrap parses the payload, begins the task (which moves the job to the
// stage's status), logs, and turns "job already ended" into success so
// that late or duplicate tasks of a canceled job do nothing.
func (w *Worker) wrap(st pipeline.Stage, h handler) asynq.HandlerFunc {
	kind := st.Kind
	return func(ctx context.Context, at *asynq.Task) error {
		t, err := queue.ParsePayload(at)
		if err != nil {
			return err
		}
		start := time.Now()
		log := w.log().With("task", string(kind), "job", t.JobID)
		if st.PerChunk {
			log = log.With("chunk", t.Chunk)
		}
		retried, _ := asynq.GetRetryCount(ctx)
		r := &run{task: t, start: start}
		r.job, err = w.Svc.Begin(ctx, t)
		if err == nil {
			err = h(ctx, r)
		}
		if err == nil && !st.Detached && !st.Side && !r.recorded {
			err = fmt.Errorf("%s task of job %s ended without recording its result", kind, t.JobID)
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			// Stopped by a cancel of its job: nothing to retry.
			if status, serr := w.Svc.Status(context.WithoutCancel(ctx), t.JobID); serr == nil && status == pipeline.StatusCanceled {
				err = pipeline.ErrJobEnded
			}
		}
		end := time.Now()
		switch {
		case errors.Is(err, pipeline.ErrJobEnded), errors.Is(err, pipeline.ErrNotFound), errors.Is(err, pipeline.ErrNotDue):
			w.Metrics.Task(string(kind), "skipped", retried > 0, end.Sub(start))
			log.Info("job ended; task skipped")
			return nil
		case err != nil:
			w.Metrics.Task(string(kind), "failed", retried > 0, end.Sub(start))
			log.Warn("task failed", "err", err, "elapsed", end.Sub(start).Round(time.Millisecond))
			return err
		}
		w.Metrics.Task(string(kind), "done", retried > 0, end.Sub(start))
		log.Info("task done", "elapsed", end.Sub(start).Round(time.Millisecond))
		for _, side := range w.Svc.Side(r.after, t) {
			w.runSide(ctx, side)
		}
		return nil
	}
}

// runSide runs a side task (pipeline.Stage.Side) at once, in this worker,
// after the task that made it due. Its failure is logged, not returned:
// the task before it is done, and the next side task or the later stages
// do its work.
func (w *Worker) runSide(ctx context.Context, t pipeline.Task) {
	h, ok := w.handlers()[t.Kind]
	if !ok {
		return
	}
	start := time.Now()
	log := w.log().With("task", string(t.Kind), "job", t.JobID, "after", t.After)
	r := &run{task: t, start: start}
	var err error
	if r.job, err = w.Svc.Begin(ctx, t); err == nil {
		err = h(ctx, r)
	}
	end := time.Now()
	switch {
	case errors.Is(err, pipeline.ErrJobEnded), errors.Is(err, pipeline.ErrNotFound):
		w.Metrics.Task(string(t.Kind), "skipped", false, end.Sub(start))
	case err != nil:
		w.Metrics.Task(string(t.Kind), "failed", false, end.Sub(start))
		log.Warn("side task failed; the next one or the later stages do its work", "err", err)
	case r.recorded:
		w.Metrics.Task(string(t.Kind), "done", false, end.Sub(start))
		log.Info("task done", "elapsed", end.Sub(start).Round(time.Millisecond))
	}
}

// cleanup removes a canceled job's intermediate objects and anything it
// published. The master is kept: it is the user's upload.
func (w *Worker) cleanup(ctx context.Context, r *run) error {
	j := r.job
	return errors.Join(w.Objects.RemovePrefix(ctx, w.Objects.Bucket(), pipeline.WorkPrefix(j.ID)),
		w.Objects.RemovePrefix(ctx, w.Objects.OriginBucket(), pipeline.PublishedPrefix(j.ID)))
}

// ErrorHandler fails the job when a task gives up: a permanent error, or
// the last retry.
func (w *Worker) ErrorHandler() asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, at *asynq.Task, err error) {
		t, perr := queue.ParsePayload(at)
		if perr != nil {
			return
		}
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		final := errors.Is(err, asynq.SkipRetry) || retried >= maxRetry
		if w.Failed != nil {
			w.Failed(string(t.Kind), t.JobID, retried, final, err)
		}
		if !final {
			return
		}

		code := pipeline.FailCode(t.Kind)
		var inv *invalidMedia
		if errors.As(err, &inv) {
			code = inv.code
		}
		msg := fmt.Sprintf("%s task failed after %d retries: %v", t.Kind, retried, err)
		if j, err := w.Svc.Fail(context.Background(), t.JobID, code, msg); err != nil {
			w.log().Error("cannot mark job failed", "job", t.JobID, "err", err)
		} else if j != nil && j.FinishedAt != nil {
			w.Metrics.Job(string(j.Status), j.FinishedAt.Sub(j.CreatedAt), j.StageDurations())
		}
	})
}

func (w *Worker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default().With("component", "worker")
	}
	return w.Log
}

func (w *Worker) tempDir(r *run) (string, func(), error) {
	t := r.task
	base := w.WorkDir
	if base == "" {
		base = os.TempDir()
	}
	name := "reel-" + t.JobID + "-" + string(t.Kind) + "-"
	if st, _ := pipeline.StageOf(t.Kind); st.PerChunk {
		name += strconv.Itoa(t.Chunk) + "-"
	}
	dir, err := os.MkdirTemp(base, name)
	if err != nil {
		return "", nil, fmt.Errorf("work dir: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// IsFailure says whether a task's error counts against its retries:
// Redis failing over (unreachable, or no replica yet to confirm the
// task's writes) is not the task's failure, so it is retried for as long
// as that lasts and never fails the job.
func IsFailure(err error) bool {
	return !errors.Is(err, pipeline.ErrUnavailable) && !errors.Is(err, pipeline.ErrUnreplicated)
}

// invalidMedia is a permanent failure caused by the master itself.
type invalidMedia struct {
	code string
	err  error
}

func (e *invalidMedia) Error() string   { return e.err.Error() }
func (e *invalidMedia) Unwrap() []error { return []error{e.err, asynq.SkipRetry} }

// failPermanently marks the job failed now and returns an error asynq will
// not retry.
func (w *Worker) failPermanently(ctx context.Context, id, code string, err error) error {
	if _, ferr := w.Svc.Fail(ctx, id, code, err.Error()); ferr != nil {
		return ferr
	}
	if code != pipeline.CodeInternal && code != pipeline.CodeEncodeFailed {
		return &invalidMedia{code, err}
	}
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

// throttle returns a progress callback that reports at most every
// ProgressEvery.
func (w *Worker) throttle(report func(media.Progress)) func(media.Progress) {
	every := w.ProgressEvery
	if every == 0 {
		every = 500 * time.Millisecond
	}
	var last time.Time
	return func(p media.Progress) {
		if time.Since(last) < every {
			return
		}
		last = time.Now()
		report(p)
	}
}
