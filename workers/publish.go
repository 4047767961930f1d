package workers

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
)

// Locks serializes the tasks that write one title's published manifests,
// wherever they run.
type Locks interface {
	// Lock takes the named lock, waiting for it until ctx ends, and
	// returns the function that releases it.
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

// lockTitle takes the lock of job id's published title (without Locks,
// a single worker process, there is none to take) and returns the job as
// it is stored now, read under the lock, and the function that releases
// the lock. A job that ended is ErrJobEnded.
func (w *Worker) lockTitle(ctx context.Context, id string) (*pipeline.Job, func(), error) {
	unlock := func() {}
	if w.Locks != nil {
		var err error
		if unlock, err = w.Locks.Lock(ctx, "title:"+id); err != nil {
			return nil, nil, fmt.Errorf("lock of title %s: %w", id, err)
		}
	}
	j, err := w.Svc.Job(ctx, id)
	if err == nil && j.Status.Terminal() {
		err = pipeline.ErrJobEnded
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return j, unlock, nil
}

// copyItem is one server-side copy into the origin bucket.
type copyItem struct {
	src, dst, cache string
}

// copyAll copies items of job j from the masters bucket to the origin
// bucket, a few at a time, calling done after each.
func (w *Worker) copyAll(ctx context.Context, j *pipeline.Job, items []copyItem, done func()) error {
	if err := w.markPublic(ctx, j); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(publishParallelism)
	for _, it := range items {
		g.Go(func() error {
			if err := w.Objects.Copy(gctx, w.Objects.Bucket(), it.src, w.Objects.OriginBucket(), it.dst, contentType(it.dst), it.cache, j.Ladder.Public); err != nil {
				return err
			}
			if done != nil {
				done()
			}
			return nil
		})
	}
	return g.Wait()
}

// markPublic records, before the first object of a public title is
// published, that the title plays without a token.
func (w *Worker) markPublic(ctx context.Context, j *pipeline.Job) error {
	if !j.Ladder.Public || w.MarkPublic == nil {
		return nil
	}
	if err := w.MarkPublic(ctx, j.ID); err != nil {
		return fmt.Errorf("mark title %s public: %w", j.ID, err)
	}
	return nil
}

// segmentCopies lists the copies that publish the video segments of
// chunks [from, len(chunks)) of job j, and with from 0 every rung's
// initialization segment (the first chunk's).
func segmentCopies(j *pipeline.Job, chunks []chunkSegments, from int) []copyItem {
	dst := pipeline.PublishedPrefix(j.ID)
	var items []copyItem
	for k := from; k < len(chunks); k++ {
		src := j.Plan.Chunks[k].Segments
		for _, tr := range chunks[k].Tracks {
			if k == 0 {
				items = append(items, copyItem{src + tr.Name + "/" + initName, dst + tr.Name + "/" + initName, cacheImmutable})
			}
			for _, s := range tr.Segments {
				items = append(items, copyItem{src + tr.Name + "/" + s.URI, dst + tr.Name + "/" + s.URI, cacheImmutable})
			}
		}
	}
	return items
}

// publish finishes the title on the origin: it copies the video segments
// not yet published, then the packaged files (the audio, if not yet
// published, and the trick-play images; then media playlists and the
// thumbnail track; then the master playlists and the MPD), so that the
// finished title's manifests appear only once all they name is there.
// It holds the title's lock, so a stream task cannot write after it.
func (w *Worker) publish(ctx context.Context, r *run) error {
	j, unlock, err := w.lockTitle(ctx, r.task.JobID)
	if err != nil {
		return err
	}
	defer unlock()
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return err
	}
	defer cleanup()
	chunks, err := w.readChunks(ctx, j, len(j.Plan.Chunks), dir)
	if err != nil {
		return err
	}
	from := 0
	if j.Live != nil {
		from = j.Live.Chunks
	}
	src, dst := pipeline.PackagedPrefix(j.ID), pipeline.PublishedPrefix(j.ID)
	keys, err := w.Objects.List(ctx, w.Objects.Bucket(), src)
	if err != nil {
		return err
	}
	rank := func(rel string) int {
		switch base := path.Base(rel); {
		case base == masterName || base == mpdName || strings.HasPrefix(base, "master_") || isCap(rel):
			return 2
		case strings.HasSuffix(rel, ".m3u8") || path.Ext(rel) == ".vtt":
			return 1
		}
		return 0
	}
	groups := make([][]copyItem, 3)
	groups[0] = segmentCopies(j, chunks, from)
	var published []string
	pub := &publishedSet{HLS: dst + masterName}
	for _, it := range segmentCopies(j, chunks, 0) {
		published = append(published, it.dst)
	}
	for _, k := range keys {
		rel := strings.TrimPrefix(k, src)
		rk := rank(rel)
		cache := cacheImmutable
		if rk > 0 {
			cache = cacheManifest
		}
		pub.add(dst, rel)
		published = append(published, dst+rel)
		if rk == 0 && from > 0 && isAudio(j, rel) {
			continue // published with the title's first chunks
		}
		groups[rk] = append(groups[rk], copyItem{k, dst + rel, cache})
	}
	total := len(groups[0]) + len(groups[1]) + len(groups[2])
	var copied atomic.Int64
	report := func() {
		if n := copied.Add(1); n%20 == 0 {
			w.progress(ctx, r, float64(n)/float64(total))
		}
	}
	// A group starts once the one before it is whole.
	for _, items := range groups {
		if err := w.copyAll(ctx, j, items, report); err != nil {
			return err
		}
	}
	// What the title takes in the origin, and its master, count against
	// its tenant's stored bytes.
	stored, err := w.Objects.Usage(ctx, w.Objects.OriginBucket(), dst)
	if err != nil {
		return err
	}
	// The pipeline completes the job as it records where the title is,
	// with publish's own timing, so a client that sees the job complete
	// sees all of its timings.
	j, err = w.done(ctx, r, func(j *pipeline.Job) error {
		j.Published = (*pipeline.Published)(pub)
		j.StoredBytes = stored + j.MasterBytes()
		return nil
	})
	if err != nil {
		return err
	}
	w.Metrics.Job(string(j.Status), j.FinishedAt.Sub(j.CreatedAt), j.StageDurations())
	if w.Announce != nil {
		// Edges that miss the announcement still fill on first request.
		if err := w.Announce(ctx, j.ID, published); err != nil {
			w.log().Warn("cannot announce the title to the edges", "job", j.ID, "err", err)
		}
	}
	if err := w.Objects.RemovePrefix(ctx, w.Objects.Bucket(), pipeline.WorkPrefix(j.ID)); err != nil {
		w.log().Warn("cannot remove intermediate objects", "job", j.ID, "err", err)
	}
	return nil
}

// stream publishes the chunks encoded so far from the title's start, so
// that it plays while the rest encode: their video segments (with the
// first chunks, every rung's initialization segment and the whole aligned
// audio track), then HLS EVENT playlists and a dynamic MPD that list them
// (media playlists before the master playlists and the MPD). Each later
// run extends them; publish replaces them with the finished title's. It
// holds the title's lock and reads the job under it, so runs never
// shrink what an earlier one published, and none writes after publish.
func (w *Worker) stream(ctx context.Context, r *run) error {
	j, unlock, err := w.lockTitle(ctx, r.task.JobID)
	if err != nil {
		return err
	}
	defer unlock()
	from := 0
	var since time.Time
	if j.Live != nil {
		from, since = j.Live.Chunks, j.Live.Since
	}
	n := pipeline.Publishable(j)
	if n <= from || n >= len(j.Plan.Chunks) {
		return nil // nothing new, or the whole title, which publish does
	}
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return err
	}
	defer cleanup()
	chunks, err := w.readChunks(ctx, j, n, dir)
	if err != nil {
		return err
	}
	tracks, err := titleTracks(chunks)
	if err != nil {
		return fmt.Errorf("stream %s: %w", j.ID, err)
	}
	setTargets(j.Plan, tracks)
	for i := range tracks {
		// The peak so far may fall short of the title's: at least the
		// rung's VBV ceiling.
		tracks[i].PeakFloor = j.Renditions[i].MaxRate
	}
	seconds := pipeline.LiveSeconds(j.Plan, n)
	items := segmentCopies(j, chunks, from)
	var audio []packager.Track
	if j.HasAudio {
		if from == 0 {
			audio, err = w.titleAudio(ctx, j, dir, chunks[0].Start)
			for _, a := range audio {
				for _, name := range append([]string{a.Init}, segURIs(a.Segments)...) {
					rel := a.Name + "/" + name
					items = append(items, copyItem{pipeline.PackagedPrefix(j.ID) + rel, pipeline.PublishedPrefix(j.ID) + rel, cacheImmutable})
				}
			}
		} else {
			audio, err = w.storedAudio(ctx, j, dir)
		}
		if err != nil {
			return fmt.Errorf("stream %s: audio: %w", j.ID, err)
		}
		for i := range audio {
			audio[i] = liveAudio(audio[i], seconds)
		}
	}
	if err := w.copyAll(ctx, j, items, nil); err != nil {
		return err
	}
	now := w.Svc.Time()
	if since.IsZero() {
		// The MPD's anchor: the published part is available as of now.
		since = now.Add(-time.Duration(seconds * float64(time.Second)))
	}
	dyn := &packager.Dynamic{AvailabilityStart: since, Published: now, UpdatePeriod: j.Plan.SegmentSeconds}
	markCaptions(j, tracks)
	key, err := w.titleKey(j)
	if err != nil {
		return w.failPermanently(ctx, j.ID, pipeline.CodeKeyUnavailable, fmt.Errorf("stream %s: %w", j.ID, err))
	}
	key.protectTracks(tracks, audio)
	files := manifests(tracks, audio, dyn)
	if err := w.putManifests(ctx, files, dir, w.Objects.OriginBucket(), pipeline.PublishedPrefix(j.ID), cacheLive, j.Ladder.Public); err != nil {
		return err
	}
	dst := pipeline.PublishedPrefix(j.ID)
	pub := &publishedSet{HLS: dst + masterName}
	for name := range files {
		pub.add(dst, name)
	}
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		if j.Live != nil && j.Live.Chunks >= n {
			return nil
		}
		j.Live = &pipeline.Live{Chunks: n, Seconds: seconds, Since: since}
		j.Published = (*pipeline.Published)(pub)
		return nil
	})
	return err
}

// isAudio reports whether rel, a path in the packaged title, is in one
// of its audio tracks' folders.
func isAudio(j *pipeline.Job, rel string) bool {
	tracks, _ := audioTracks(j)
	return slices.ContainsFunc(tracks, func(a pipeline.AudioTrack) bool { return strings.HasPrefix(rel, a.Name+"/") })
}

// liveAudio is the part of the title's audio track a growing title
// lists: the segments that start before its video ends (seconds), with
// the whole track's peak as the peak.
func liveAudio(a packager.Track, seconds float64) packager.Track {
	peak, _ := a.Bandwidth()
	a.Target = a.TargetDuration()
	a.PeakFloor = peak
	var at float64
	n := 0
	for n < len(a.Segments) && at < seconds-1e-6 {
		at += a.Segments[n].Duration
		n++
	}
	a.Segments = a.Segments[:n]
	return a
}
