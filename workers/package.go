package workers

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/reel-video/reel/ladder"
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

// pack packages the whole title once every chunk and the audio are
// encoded: it joins the chunks' segments (cut and aligned by each encode,
// cutChunk) into one track per rung, aligns the audio with them, writes
// the HLS playlists and the DASH MPD of the finished title and the
// trick-play files, and stores them under the packaged prefix for
// publish.
func (w *Worker) pack(ctx context.Context, r *run) error {
	j := r.job
	if !j.Plan.Readable() || (j.HasAudio && !j.AudioEncoded()) {
		return fmt.Errorf("package %s: the job's encode stage is not complete", j.ID)
	}
	dir, cleanup, err := w.tempDir(r)
	if err != nil {
		return err
	}
	defer cleanup()
	fps := j.Plan.FPS()
	chunks, err := w.readChunks(ctx, j, len(j.Plan.Chunks), dir)
	if err != nil {
		return err
	}
	tracks, err := titleTracks(chunks)
	if err != nil {
		return fmt.Errorf("package %s: %w", j.ID, err)
	}
	setTargets(j.Plan, tracks)
	markCaptions(j, tracks)
	w.progress(ctx, r, 0.2)
	var audio []packager.Track
	if j.HasAudio {
		if audio, err = w.titleAudio(ctx, j, dir, chunks[0].Start); err != nil {
			return fmt.Errorf("package %s: audio: %w", j.ID, err)
		}
		for i := range audio {
			audio[i].Target = audio[i].TargetDuration()
		}
	}
	files := map[string][]byte{}
	text, err := w.titleText(ctx, j, tracks[0], dir, files)
	if err != nil {
		return fmt.Errorf("package %s: subtitles: %w", j.ID, err)
	}
	w.progress(ctx, r, 0.4)
	if err := w.trickPlay(ctx, j, tracks, chunks, dir); err != nil {
		return fmt.Errorf("package %s: trick play: %w", j.ID, err)
	}
	w.progress(ctx, r, 0.8)
	key, err := w.titleKey(j)
	if err != nil {
		return w.failPermanently(ctx, j.ID, pipeline.CodeKeyUnavailable, fmt.Errorf("package %s: %w", j.ID, err))
	}
	key.protectTracks(tracks, audio)
	maps.Copy(files, manifests(tracks, audio, nil, text...))
	if err := w.putManifests(ctx, files, dir, w.Objects.Bucket(), pipeline.PackagedPrefix(j.ID), "", false); err != nil {
		return err
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

// setTargets gives every video track the EXT-X-TARGETDURATION of the
// whole title from its first playlist on: its longest segment as planned
// (a short tail joins the segment before it), or as cut if longer.
func setTargets(p *pipeline.Plan, tracks []packager.Track) {
	seg := min(p.SegmentFrames, p.Frames)
	if p.ShortTail() {
		seg += p.Frames % p.SegmentFrames
	}
	planned := max(int(math.Round(float64(seg)/p.FPS())), 1)
	for i := range tracks {
		tracks[i].Target = 0
		tracks[i].Target = max(planned, tracks[i].TargetDuration())
	}
}

// markCaptions marks the title's H.264 tracks as carrying the master's
// closed captions (x264 writes them on).
func markCaptions(j *pipeline.Job, tracks []packager.Track) {
	for i := range tracks {
		tracks[i].Captions = j.Source != nil && j.Source.Captions && tracks[i].Codec == ladder.CodecH264
	}
}

// manifests returns the playlists and MPD of a title, by name under its
// folder: each track's media (and, for video, I-frame) playlist, the
// master playlist (and one per codec family when there are several) and
// the MPD, with the subtitle tracks text. With dyn the title is still
// growing: EVENT playlists and a dynamic MPD (without subtitles, which
// the finished title adds).
func manifests(tracks []packager.Track, auds []packager.Track, dyn *packager.Dynamic, text ...packager.TextTrack) map[string][]byte {
	media, iframes, mpd := packager.MediaPlaylist, packager.IFramePlaylistFor, packager.MPD(tracks, auds, text...)
	if dyn != nil {
		media, iframes, mpd = packager.LiveMediaPlaylist, packager.LiveIFramePlaylist, packager.LiveMPD(tracks, auds, *dyn)
	}
	m := map[string][]byte{masterName: packager.MasterPlaylist(tracks, auds, text...), mpdName: mpd}
	// A title encrypted whole-segment (AES-128) is HLS only: DASH has no
	// such scheme that players take.
	dash := tracks[0].Protection == nil || tracks[0].Protection.Scheme != ladder.SchemeAES128
	if !dash {
		delete(m, mpdName)
	}
	if groups := packager.ByCodec(tracks); len(groups) > 1 {
		for _, g := range groups {
			m[codecMaster(g[0].Family())] = packager.MasterPlaylist(g, auds, text...)
		}
	}
	if dyn == nil {
		for height, capped := range capped(tracks) {
			m[capName(height, ".m3u8")] = packager.MasterPlaylist(capped, auds, text...)
			if dash {
				m[capName(height, ".mpd")] = packager.MPD(capped, auds, text...)
			}
		}
	}
	for _, t := range tracks {
		m[t.Name+"/"+mediaPlaylist] = media(t)
		if len(t.IFrames) > 0 {
			m[t.Name+"/"+packager.IFramePlaylist] = iframes(t)
		}
	}
	for _, audio := range auds {
		m[audio.Name+"/"+mediaPlaylist] = media(audio)
	}
	return m
}

// putManifests stores manifests (manifests' result) under prefix in
// bucket, with cache as their Cache-Control: media playlists first, then
// the master playlists and the MPD, which name them.
func (w *Worker) putManifests(ctx context.Context, files map[string][]byte, dir, bucket, prefix, cache string, public bool) error {
	for top := range 2 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(publishParallelism)
		for name, data := range files {
			if strings.Contains(name, "/") == (top == 1) {
				continue
			}
			p := filepath.Join(dir, "manifests", name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			g.Go(func() error { return w.Objects.PutFile(gctx, bucket, prefix+name, p, contentType(name), cache, public) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
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

// audioTracks are the title's audio renditions the audio task encoded;
// a job whose audio task ran before renditions were listed has the one
// stereo track at the top of its encoded audio (legacy).
func audioTracks(j *pipeline.Job) (tracks []pipeline.AudioTrack, legacy bool) {
	if len(j.AudioTracks) > 0 {
		return j.AudioTracks, false
	}
	if j.Audio == nil {
		return nil, false
	}
	a := *j.Audio
	a.Name, a.Codec = audioTrack, "aac"
	return []pipeline.AudioTrack{a}, true
}

// packagerCodec is the codec family of an audio encoder's tracks.
func packagerCodec(encoder string) string {
	if encoder == "eac3" {
		return "ec3"
	}
	return "aac"
}

// audioTrack fetches one audio rendition's segments from the audio task,
// aligns them to start at start seconds with the video (alignTrack), and
// uploads the track (its initialization and media segments) under the
// packaged prefix.
func (w *Worker) audioTrack(ctx context.Context, j *pipeline.Job, a pipeline.AudioTrack, legacy bool, dir string, start float64, join bool) (packager.Track, error) {
	out := filepath.Join(dir, a.Name)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return packager.Track{}, err
	}
	src := pipeline.EncodedAudioPrefix(j.ID) + a.Name + "/"
	if legacy {
		src = pipeline.EncodedAudioPrefix(j.ID)
	}
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
	tr := packager.Track{Name: a.Name, Codec: packagerCodec(a.Codec), Codecs: a.Codecs, Channels: a.Channels, Init: initName, Segments: segs,
		Language: a.Language, Label: a.Label, Role: a.Role, Default: a.Default}
	if err := trackStart(out, &tr); err != nil {
		return packager.Track{}, fmt.Errorf("audio: %w", err)
	}
	if err := alignTrack(out, &tr, start, join); err != nil {
		return packager.Track{}, fmt.Errorf("audio: %w", err)
	}
	key, err := w.titleKey(j)
	if err == nil {
		err = key.encryptTrack(out, &tr)
	}
	if err != nil {
		return packager.Track{}, fmt.Errorf("audio: %w", err)
	}
	if err := os.Remove(filepath.Join(out, ffmpegPlaylist)); err != nil {
		return packager.Track{}, err
	}
	return tr, w.uploadDir(ctx, out, pipeline.PackagedPrefix(j.ID)+a.Name+"/")
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
	// cacheLive is for the manifests of a title still growing, which
	// change as each chunk is published.
	cacheLive = "public, max-age=1"
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

// publishParallelism bounds the S3 requests publish (and the audio
// track's size checks) run at once; packParallelism the rungs packaged at
// once.
const (
	publishParallelism = 8
	packParallelism    = 4
)

// publishedSet collects the keys of a title as publish copies them.
type publishedSet pipeline.Published

// PlaybackCaps are the heights a finished title gets a master playlist
// and an MPD of its own for, holding only the video renditions no taller:
// the resolution caps of viewers' plans.
var PlaybackCaps = []int{480, 720, 1080, 1440}

// capped returns, for each cap of PlaybackCaps that some of the tracks
// are above and some are not, the tracks no taller.
func capped(tracks []packager.Track) map[int][]packager.Track {
	out := map[int][]packager.Track{}
	for _, c := range PlaybackCaps {
		var in []packager.Track
		for _, t := range tracks {
			if t.Height <= c {
				in = append(in, t)
			}
		}
		if len(in) > 0 && len(in) < len(tracks) {
			out[c] = in
		}
	}
	return out
}

// capName is the name of a cap's master playlist or MPD: cap720.m3u8,
// cap720.mpd.
func capName(height int, ext string) string { return "cap" + strconv.Itoa(height) + ext }

// isCap reports a capped master playlist or MPD (capName) at a title's
// root.
func isCap(rel string) bool {
	num, ok := strings.CutPrefix(rel, "cap")
	if !ok {
		return false
	}
	num, ok = strings.CutSuffix(num, ".m3u8")
	if !ok {
		num, ok = strings.CutSuffix(num, ".mpd")
	}
	_, err := strconv.Atoi(num)
	return ok && err == nil
}

// codecMaster is the name of a family's own master playlist
// (packager.Track.Family): master_hevc.m3u8, master_hevc_pq.m3u8.
func codecMaster(family string) string { return "master_" + family + ".m3u8" }

// add records a published file (rel, under prefix) that Published lists.
func (p *publishedSet) add(prefix, rel string) {
	switch base, dir := path.Base(rel), path.Dir(rel); {
	case rel == mpdName:
		p.DASH = prefix + rel
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
	case isCap(rel):
		h, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(rel, "cap"), ".m3u8"), ".mpd"))
		if p.Caps == nil {
			p.Caps = map[string]pipeline.Capped{}
		}
		c := p.Caps[strconv.Itoa(h)]
		if strings.HasSuffix(rel, ".m3u8") {
			c.HLS = prefix + rel
		} else {
			c.DASH = prefix + rel
		}
		p.Caps[strconv.Itoa(h)] = c
	}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
