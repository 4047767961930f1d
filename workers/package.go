package workers

import (
	"context"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/packager"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/timeline"
)

// Names inside a track folder.
const (
	ffmpegPlaylist = "ffmpeg.m3u8" // ffmpeg's own playlist, read and not published
	mediaPlaylist  = "index.m3u8"
	initName       = "init.mp4"
	segPattern     = "seg_%05d.m4s"
	audioTrack     = "audio"
	masterName     = "master.m3u8"
	mpdName        = "manifest.mpd"
)

// pack joins each rung's chunks without re-encoding, cuts CMAF segments,
// aligns every track to one start and one set of segment boundaries, and
// writes the HLS playlists and DASH MPD.
func (w *Worker) pack(ctx context.Context, r *run) error {
	j := r.job
	if !j.Plan.Readable() || (j.HasAudio && j.Audio == nil) {
		return fmt.Errorf("package %s: the job's encode stage is not complete", j.ID)
	}
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return err
	}
	defer cleanup()
	fps := j.Plan.FPS()
	// Rungs are cut a few at a time: each is mostly S3 transfers and a
	// stream copy.
	tracks := make([]packager.Track, len(j.Renditions))
	var packed atomic.Int64
	steps := float64(2*len(j.Renditions) + 1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(packParallelism)
	for i, rend := range j.Renditions {
		g.Go(func() (err error) {
			if tracks[i], err = w.cutRung(gctx, j, rend, dir, fps); err != nil {
				return err
			}
			w.progress(gctx, r, float64(packed.Add(1))/steps)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Every track starts where the latest video track starts: an encoder
	// that reorders frames presents its first picture a frame or more late
	// (see packager.ShiftDecodeTime), and the first picture of every rung
	// and the first audio sample are presented at that one time.
	var start float64
	for _, tr := range tracks {
		start = max(start, tr.StartSeconds())
	}
	join := j.Plan.ShortTail()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(packParallelism)
	for i := range j.Renditions {
		g.Go(func() error {
			if err := w.finishRung(gctx, j, &tracks[i], filepath.Join(dir, j.Renditions[i].Name), start, join); err != nil {
				return err
			}
			w.progress(gctx, r, float64(packed.Add(1))/steps)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var audio *packager.Track
	if j.HasAudio {
		a, err := w.audioTrack(ctx, j, dir, start, join)
		if err != nil {
			return err
		}
		audio = &a
	}
	manifests := map[string][]byte{masterName: packager.MasterPlaylist(tracks, audio), mpdName: packager.MPD(tracks, audio)}
	if groups := packager.ByCodec(tracks); len(groups) > 1 {
		for _, g := range groups {
			manifests[codecMaster(g[0].Family())] = packager.MasterPlaylist(g, audio)
		}
	}
	if err := w.trickPlay(ctx, j, tracks, dir); err != nil {
		return fmt.Errorf("package %s: trick play: %w", j.ID, err)
	}
	for name, data := range manifests {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		if err := w.Objects.PutFile(ctx, w.Objects.Bucket(), pipeline.PackagedPrefix(j.ID)+name, p, contentType(name), ""); err != nil {
			return err
		}
	}
	_, err = w.done(ctx, r, func(j *pipeline.Job) error {
		for i := range j.Renditions {
			if i >= len(tracks) {
				continue
			}
			r := &j.Renditions[i]
			peak, avg := tracks[i].Bandwidth()
			r.Codecs, r.Bandwidth, r.AverageBandwidth = tracks[i].Codecs, peak, avg
			r.Frames = int64(math.Round(tracks[i].Duration() * fps))
			var q timeline.QualityStats
			for _, c := range j.Plan.Chunks {
				if i < len(c.Quality) {
					q = q.Add(c.Quality[i])
				}
			}
			if q.Frames > 0 {
				r.Quality = &pipeline.Quality{PSNR: round3(q.PSNR()), SSIM: round3(q.SSIM()), Frames: q.Frames}
			}
		}
		return nil
	})
	return err
}

// cutRung joins a rung's encoded chunks and cuts them into CMAF segments
// in dir/{rung}. The track's Start is where ffmpeg put its first picture
// (see trackStart), until alignTrack moves it.
func (w *Worker) cutRung(ctx context.Context, j *pipeline.Job, r pipeline.Rendition, dir string, fps float64) (packager.Track, error) {
	in := filepath.Join(dir, "in-"+r.Name)
	out := filepath.Join(dir, r.Name)
	for _, d := range []string{in, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return packager.Track{}, err
		}
	}
	var files []string
	var durations, inpoints []float64
	for _, c := range j.Plan.Chunks {
		inpoints = append(inpoints, float64(j.Plan.Preroll(c.Index))/fps)
		p := filepath.Join(in, fmt.Sprintf("%05d.mp4", c.Index))
		if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), pipeline.EncodedKey(j.ID, r.Name, c.Index), p); err != nil {
			return packager.Track{}, err
		}
		files = append(files, p)
		durations = append(durations, float64(c.End-c.Start)/fps)
	}
	list := filepath.Join(in, "chunks.ffconcat")
	if err := writeConcat(list, files, durations, inpoints); err != nil {
		return packager.Track{}, err
	}
	args := media.PackageArgs(list, j.Plan.SegmentSeconds, filepath.Join(out, ffmpegPlaylist), initName, filepath.Join(out, segPattern))
	// A stream copy: CPU as for copying, each file as large as an encode's.
	seconds := float64(j.Plan.Frames) / fps
	lim := w.Limits.streamLimits(seconds, 0)
	lim.Output = w.Limits.encodeLimits(0, seconds, []ladder.Rung{r.Rung}).Output
	if err := w.Media.Run(ctx, media.Cmd{Args: args, Limits: lim}); err != nil {
		return packager.Track{}, fmt.Errorf("package %s %s: %w", j.ID, r.Name, err)
	}
	tr, err := readTrack(out)
	if err != nil {
		return packager.Track{}, fmt.Errorf("package %s %s: %w", j.ID, r.Name, err)
	}
	if err := trackStart(out, &tr); err != nil {
		return packager.Track{}, fmt.Errorf("package %s %s: %w", j.ID, r.Name, err)
	}
	tr.Name, tr.Codec, tr.Width, tr.Height, tr.FrameRate = r.Name, r.Codec, r.Width, r.Height, fps
	if c := j.Plan.Conform; c.HDR != "" {
		tr.VideoRange = "SDR"
		if r.HDR {
			tr.VideoRange = strings.ToUpper(c.HDR)
		}
	}
	return tr, nil
}

// finishRung aligns a cut rung to start at start (alignTrack), reads its
// codec string and keyframe ranges, writes its media and I-frame
// playlists and uploads it.
func (w *Worker) finishRung(ctx context.Context, j *pipeline.Job, tr *packager.Track, out string, start float64, join bool) error {
	if err := alignTrack(out, tr, start, join); err != nil {
		return fmt.Errorf("package %s %s: %w", j.ID, tr.Name, err)
	}
	init, err := os.ReadFile(filepath.Join(out, initName))
	if err != nil {
		return err
	}
	if tr.Codecs, err = packager.CodecString(init); err != nil {
		return fmt.Errorf("package %s %s: %w", j.ID, tr.Name, err)
	}
	for _, seg := range tr.Segments {
		data, err := os.ReadFile(filepath.Join(out, seg.URI))
		if err != nil {
			return err
		}
		off, n, err := packager.IFrameRange(data)
		if err != nil {
			return fmt.Errorf("package %s %s: %s: %w", j.ID, tr.Name, seg.URI, err)
		}
		tr.IFrames = append(tr.IFrames, packager.Range{Offset: off, Length: n})
	}
	if err := os.WriteFile(filepath.Join(out, mediaPlaylist), packager.MediaPlaylist(*tr), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, packager.IFramePlaylist), packager.IFramePlaylistFor(*tr), 0o644); err != nil {
		return err
	}
	return w.uploadDir(ctx, out, pipeline.PackagedPrefix(j.ID)+tr.Name+"/")
}

// trackStart reads the timescale of the track ffmpeg wrote in dir and the
// presentation time of its first sample, in that timescale, into
// tr.Timescale and tr.Start.
func trackStart(dir string, tr *packager.Track) error {
	init, err := os.ReadFile(filepath.Join(dir, tr.Init))
	if err != nil {
		return err
	}
	if tr.Timescale, err = packager.InitTimescale(init); err != nil {
		return err
	}
	first, err := os.ReadFile(filepath.Join(dir, tr.Segments[0].URI))
	if err != nil {
		return err
	}
	tr.Start, err = packager.EarliestPresentation(first)
	return err
}

// alignTrack rewrites the track ffmpeg wrote in dir so that it starts at
// start seconds and has the title's segment boundaries: its
// initialization segment loses its edit lists, every media segment's
// decode times move by the same amount, and with join the last segment
// joins the one before it. tr holds what trackStart read; its start,
// segments and sizes are updated to match.
func alignTrack(dir string, tr *packager.Track, start float64, join bool) error {
	// Tracks have timescales of their own (ffmpeg picks 90 kHz for VP9
	// and AV1, a multiple of the frame rate for H.264 and HEVC, the
	// sampling rate for audio); the common start is exact in each for
	// the frame rates Reel outputs.
	at := int64(math.Round(start * float64(tr.Timescale)))
	shift := at - tr.Start
	ip := filepath.Join(dir, tr.Init)
	init, err := os.ReadFile(ip)
	if err != nil {
		return err
	}
	if init, err = packager.DropEditLists(init); err != nil {
		return err
	}
	if err := os.WriteFile(ip, init, 0o644); err != nil {
		return err
	}
	if join && len(tr.Segments) > 1 {
		n := len(tr.Segments)
		a, b := filepath.Join(dir, tr.Segments[n-2].URI), filepath.Join(dir, tr.Segments[n-1].URI)
		prev, err := os.ReadFile(a)
		if err != nil {
			return err
		}
		last, err := os.ReadFile(b)
		if err != nil {
			return err
		}
		if prev, err = packager.JoinSegments(prev, last); err != nil {
			return err
		}
		if err := os.WriteFile(a, prev, 0o644); err != nil {
			return err
		}
		if err := os.Remove(b); err != nil {
			return err
		}
		tr.Segments[n-2].Duration += tr.Segments[n-1].Duration
		tr.Segments = tr.Segments[:n-1]
	}
	for i := range tr.Segments {
		p := filepath.Join(dir, tr.Segments[i].URI)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if data, err = packager.ShiftDecodeTime(data, shift); err != nil {
			return fmt.Errorf("%s: %w", tr.Segments[i].URI, err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		tr.Segments[i].Size = int64(len(data))
	}
	tr.Start = at
	return nil
}

// readTrack reads the segments ffmpeg wrote in dir, with their sizes.
func readTrack(dir string) (packager.Track, error) {
	data, err := os.ReadFile(filepath.Join(dir, ffmpegPlaylist))
	if err != nil {
		return packager.Track{}, err
	}
	segs, err := packager.ParseMediaPlaylist(data)
	if err != nil {
		return packager.Track{}, err
	}
	for i := range segs {
		fi, err := os.Stat(filepath.Join(dir, segs[i].URI))
		if err != nil {
			return packager.Track{}, err
		}
		segs[i].Size = fi.Size()
	}
	return packager.Track{Init: initName, Segments: segs}, nil
}

// audioTrack fetches the audio task's segments, aligns them to start at
// start seconds with the video (alignTrack), and writes and uploads the
// title's audio track.
func (w *Worker) audioTrack(ctx context.Context, j *pipeline.Job, dir string, start float64, join bool) (packager.Track, error) {
	out := filepath.Join(dir, audioTrack)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return packager.Track{}, err
	}
	src := pipeline.EncodedAudioPrefix(j.ID)
	if err := w.Objects.GetFile(ctx, w.Objects.Bucket(), src+ffmpegPlaylist, filepath.Join(out, ffmpegPlaylist)); err != nil {
		return packager.Track{}, err
	}
	data, err := os.ReadFile(filepath.Join(out, ffmpegPlaylist))
	if err != nil {
		return packager.Track{}, err
	}
	segs, err := packager.ParseMediaPlaylist(data)
	if err != nil {
		return packager.Track{}, fmt.Errorf("audio playlist: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(publishParallelism)
	for _, name := range append([]string{initName}, segURIs(segs)...) {
		g.Go(func() error {
			return w.Objects.GetFile(gctx, w.Objects.Bucket(), src+name, filepath.Join(out, name))
		})
	}
	if err := g.Wait(); err != nil {
		return packager.Track{}, err
	}
	tr := packager.Track{Name: audioTrack, Codec: "aac", Codecs: j.Audio.Codecs, Channels: j.Audio.Channels, Init: initName, Segments: segs}
	if err := trackStart(out, &tr); err != nil {
		return packager.Track{}, fmt.Errorf("audio: %w", err)
	}
	if err := alignTrack(out, &tr, start, join); err != nil {
		return packager.Track{}, fmt.Errorf("audio: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, mediaPlaylist), packager.MediaPlaylist(tr), 0o644); err != nil {
		return packager.Track{}, err
	}
	return tr, w.uploadDir(ctx, out, pipeline.PackagedPrefix(j.ID)+audioTrack+"/")
}

// segURIs lists the files of segments.
func segURIs(segs []packager.Segment) []string {
	names := make([]string, len(segs))
	for i, s := range segs {
		names[i] = s.URI
	}
	return names
}

// Cache-Control values of published objects.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheManifest  = "public, max-age=10"
)

// contentType returns the Content-Type of a published file.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".mpd":
		return "application/dash+xml"
	case ".m4s":
		return "video/iso.segment"
	case ".mp4":
		return "video/mp4"
	case ".jpg":
		return "image/jpeg"
	case ".vtt":
		return "text/vtt"
	}
	return "application/octet-stream"
}

// publish copies the packaged title to the origin: media first, then media
// playlists, then the master playlist and MPD, so that a title is visible
// only once whole.
func (w *Worker) publish(ctx context.Context, r *run) error {
	j := r.job
	src := pipeline.PackagedPrefix(j.ID)
	keys, err := w.Objects.List(ctx, w.Objects.Bucket(), src)
	if err != nil {
		return err
	}
	rank := func(k string) int {
		switch base := path.Base(k); {
		case base == masterName || base == mpdName || strings.HasPrefix(base, "master_"):
			return 2
		case strings.HasSuffix(k, ".m3u8"):
			return 1
		}
		return 0
	}
	sort.SliceStable(keys, func(a, b int) bool { return rank(keys[a]) < rank(keys[b]) })
	var published []string
	pub := &publishedSet{HLS: pipeline.PublishedPrefix(j.ID) + masterName, DASH: pipeline.PublishedPrefix(j.ID) + mpdName}
	var copied atomic.Int64
	// Server-side copies of one rank run several at a time; a rank starts
	// once the one before it is whole.
	for group := 0; group <= 2; group++ {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(publishParallelism)
		for _, k := range keys {
			rel := strings.TrimPrefix(k, src)
			if rank(k) != group || path.Base(rel) == ffmpegPlaylist {
				continue
			}
			cache := cacheImmutable
			if rank(k) > 0 || path.Ext(k) == ".vtt" {
				cache = cacheManifest
			}
			pub.add(pipeline.PublishedPrefix(j.ID), rel)
			published = append(published, pipeline.PublishedPrefix(j.ID)+rel)
			g.Go(func() error {
				if err := w.Objects.Copy(gctx, w.Objects.Bucket(), k, w.Objects.OriginBucket(), pipeline.PublishedPrefix(j.ID)+rel, contentType(rel), cache); err != nil {
					return err
				}
				if n := copied.Add(1); n%20 == 0 {
					w.progress(gctx, r, float64(n)/float64(len(keys)))
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	// The pipeline completes the job as it records where the title is,
	// with publish's own timing, so a client that sees the job complete
	// sees all of its timings.
	j, err = w.done(ctx, r, func(j *pipeline.Job) error {
		j.Published = (*pipeline.Published)(pub)
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

// publishParallelism bounds the S3 requests publish (and the audio
// track's size checks) run at once; packParallelism the rungs packaged at
// once.
const (
	publishParallelism = 8
	packParallelism    = 4
)

// publishedSet collects the keys of a title as publish copies them.
type publishedSet pipeline.Published

// codecMaster is the name of a family's own master playlist
// (packager.Track.Family): master_hevc.m3u8, master_hevc_pq.m3u8.
func codecMaster(family string) string { return "master_" + family + ".m3u8" }

// add records a published file (rel, under prefix) that Published lists.
func (p *publishedSet) add(prefix, rel string) {
	switch base, dir := path.Base(rel), path.Dir(rel); {
	case strings.HasPrefix(base, "master_") && strings.HasSuffix(base, ".m3u8"):
		if p.HLSByCodec == nil {
			p.HLSByCodec = map[string]string{}
		}
		p.HLSByCodec[strings.TrimSuffix(strings.TrimPrefix(base, "master_"), ".m3u8")] = prefix + rel
	case base == packager.IFramePlaylist && dir != ".":
		if p.IFrames == nil {
			p.IFrames = map[string]string{}
		}
		p.IFrames[dir] = prefix + rel
	case rel == posterName:
		p.Poster = prefix + rel
	case rel == thumbsDir+"/"+thumbsVTT:
		p.Thumbnails = prefix + rel
	}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
