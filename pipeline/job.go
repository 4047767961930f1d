// Package pipeline holds Reel's domain: the job model and its state machine,
// chunk planning, progress, and the fan-in that starts packaging once every
// chunk and the audio are encoded.
package pipeline

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/timeline"
)

// Status is a job's stage.
type Status string

// Job statuses, in pipeline order.
const (
	StatusQueued Status = "queued"
	// StatusIngesting: a worker fetches the master from the URL the job
	// names (Input.URL) into the masters bucket.
	StatusIngesting Status = "ingesting"
	StatusProbing   Status = "probing"
	StatusSplitting Status = "splitting"
	StatusAnalyzing Status = "analyzing" // per-title ladders: trial encodes
	StatusEncoding  Status = "encoding"
	// StatusPlayable: the chunks encoded so far from the title's start are
	// published and play as a growing title while the rest encode.
	StatusPlayable   Status = "playable"
	StatusPackaging  Status = "packaging"
	StatusPublishing Status = "publishing"
	StatusComplete   Status = "complete"
	StatusFailed     Status = "failed"
	StatusCanceled   Status = "canceled"
)

var order = map[Status]int{
	StatusQueued: 0, StatusIngesting: 1, StatusProbing: 2, StatusSplitting: 3, StatusAnalyzing: 4, StatusEncoding: 5, StatusPlayable: 6,
	StatusPackaging: 7, StatusPublishing: 8, StatusComplete: 9, StatusFailed: 9, StatusCanceled: 9,
}

// Terminal reports whether no stage runs after s.
func (s Status) Terminal() bool {
	return s == StatusComplete || s == StatusFailed || s == StatusCanceled
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { _, ok := order[s]; return ok }

// ErrTransition is returned for a move the state machine forbids.
var ErrTransition = errors.New("invalid status transition")

// CanMove reports whether a job may go from one status to another: forward
// only, never out of a terminal status.
func CanMove(from, to Status) bool {
	if from.Terminal() || !to.Valid() || !from.Valid() {
		return false
	}
	return order[to] > order[from]
}

// Error codes a job can fail with.
const (
	CodeInvalidMedia = "invalid_media" // the master cannot be transcoded
	CodeEncodeFailed = "encode_failed" // ffmpeg failed after retries
	CodeInternal     = "internal"      // storage or queue failure after retries
	// CodeSourceUnavailable: the master's URL could not be fetched (not
	// found, refused, not allowed, too large, or failing after retries).
	CodeSourceUnavailable = "source_unavailable"
	// CodeKeyUnavailable: the job asks for encryption and the workers
	// have no master key, or not the one its key was sealed with.
	CodeKeyUnavailable = "key_unavailable"
)

// JobError is why a job failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SourceRef is where the master is stored.
type SourceRef struct {
	// URL, if set, is where the master is fetched from (http or https)
	// before the job is probed; Bucket and Key say where it was put.
	URL    string `json:"url,omitempty"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Name   string `json:"name,omitempty"` // the uploaded file name, for display only
	Size   int64  `json:"size,omitempty"`
}

// SourceInfo is what the probe found in the master.
type SourceInfo struct {
	Format       string  `json:"format"`
	Duration     float64 `json:"duration"`
	Size         int64   `json:"size"`
	VideoCodec   string  `json:"video_codec"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	SAR          string  `json:"sar"`
	FrameRate    string  `json:"frame_rate"`
	FrameRateNum int     `json:"frame_rate_num"`
	FrameRateDen int     `json:"frame_rate_den"`
	PixFmt       string  `json:"pix_fmt"`
	Frames       int64   `json:"frames"`
	AudioCodec   string  `json:"audio_codec,omitempty"`
	AudioChans   int     `json:"audio_channels,omitempty"`
	// AvgFrameRate, FieldOrder (as measured when the stream does not say),
	// Rotation and the color fields are what the conform is derived from.
	AvgFrameRate string `json:"avg_frame_rate,omitempty"`
	FieldOrder   string `json:"field_order,omitempty"`
	Rotation     int    `json:"rotation,omitempty"`
	ColorRange   string `json:"color_range,omitempty"`
	ColorSpace   string `json:"color_space,omitempty"`
	// VideoStart and AudioStart are the streams' first timestamps on Reel's
	// timeline (the master's, less the container's start).
	VideoStart float64 `json:"video_start"`
	AudioStart float64 `json:"audio_start,omitempty"`
	// Seek says the master is read by seeking to each chunk through its
	// index (media.Seekable) instead of being split first (Plan.Seek).
	Seek bool `json:"seek,omitempty"`
	// AudioStream is the master's main audio stream, of AudioStreams.
	AudioStream  int `json:"audio_stream,omitempty"`
	AudioStreams int `json:"audio_streams,omitempty"`
	// AudioTracks are every usable audio stream of the master.
	AudioTracks []SourceAudio `json:"audio_tracks,omitempty"`
	// TextTracks are the master's text subtitle streams.
	TextTracks []SourceText `json:"text_tracks,omitempty"`
	// Captions says the video carries CEA-608/708 closed captions in its
	// pictures, which every H.264 rung carries on.
	Captions bool `json:"captions,omitempty"`
	// Ignored lists the streams left out, as "index:type:codec".
	Ignored []string `json:"ignored_streams,omitempty"`
	// Notes say, in words, what Reel does about this master: deinterlacing,
	// rotation, frame-rate changes, which audio stream it uses.
	Notes []string `json:"notes,omitempty"`
	// Conform is how frames are made uniform; OutputFrames is how many
	// frames every rendition has (estimated for variable-rate masters,
	// corrected once packaged); FirstSlot is the conform's first output
	// slot for variable-rate masters.
	Conform      timeline.Conform `json:"conform"`
	OutputFrames int64            `json:"output_frames"`
	FirstSlot    int64            `json:"first_slot,omitempty"`
}

// Rendition is one rung chosen for this job.
type Rendition struct {
	ladder.Rung
	Frames           int64    `json:"frames"`
	Codecs           string   `json:"codecs,omitempty"`
	Bandwidth        int      `json:"bandwidth,omitempty"`
	AverageBandwidth int      `json:"average_bandwidth,omitempty"`
	Quality          *Quality `json:"quality,omitempty"`
}

// Quality is a rendition's measured fidelity to the source: PSNR (dB, of
// the mean squared error over all frames) and mean SSIM, comparing each
// encoded frame with the conformed source frame scaled to the rendition's
// size by the same scaler the encode used.
type Quality struct {
	PSNR   float64 `json:"psnr"`
	SSIM   float64 `json:"ssim"`
	Frames int64   `json:"frames"`
}

// Published holds the object keys of a published title in the origin
// bucket: its manifests, I-frame playlists and trick-play images.
type Published struct {
	HLS string `json:"hls"`
	// DASH is the MPD; an AES-128 title has none (HLS only).
	DASH string `json:"dash,omitempty"`
	// HLSByCodec holds a master playlist per codec family when the title
	// has more than one, for players that must not switch across codecs.
	HLSByCodec map[string]string `json:"hls_by_codec,omitempty"`
	// IFrames holds each video rendition's I-frame playlist.
	IFrames    map[string]string `json:"iframes,omitempty"`
	Poster     string            `json:"poster,omitempty"`
	Thumbnails string            `json:"thumbnails,omitempty"` // WebVTT track over sprite sheets
	// Caps holds, by height ("720"), a master playlist and an MPD with
	// only the video renditions no taller, for viewers whose plan caps
	// the resolution; a height is there when the title has renditions
	// above it and at or below it.
	Caps map[string]Capped `json:"caps,omitempty"`
}

// Capped is a title's manifests capped at a height.
type Capped struct {
	HLS  string `json:"hls"`
	DASH string `json:"dash,omitempty"`
}

// Outputs are the published title's URLs, the same fields as Published.
type Outputs Published

// Job is one master going through the pipeline. It is stored whole; the
// fast-changing progress counters live beside it (see Store).
type Job struct {
	ID         string        `json:"id"`
	Tenant     string        `json:"tenant"` // the tenant whose API key created it
	Status     Status        `json:"status"`
	Input      SourceRef     `json:"input"`
	Ladder     ladder.Ladder `json:"ladder"`
	Source     *SourceInfo   `json:"source,omitempty"`
	Renditions []Rendition   `json:"renditions"`
	Plan       *Plan         `json:"plan,omitempty"`
	// Analysis is a per-title ladder's trial encodes and choice.
	Analysis *Analysis `json:"analysis,omitempty"`
	HasAudio bool      `json:"has_audio"`
	// AudioTracks are the title's audio renditions once the audio task is
	// done; Audio is the one track of a job whose audio task ran before
	// renditions were listed (read, never written).
	Audio       *AudioTrack  `json:"audio,omitempty"`
	AudioTracks []AudioTrack `json:"audio_tracks,omitempty"`
	// TextTracks are the title's subtitle tracks once the text task is
	// done.
	TextTracks []TextTrack `json:"text_tracks,omitempty"`
	// Sidecars are the subtitle files sent with the job that were read
	// and stored, as WebVTT, for the text task (Ladder.Subtitles says
	// what each is).
	Sidecars []Sidecar `json:"sidecars,omitempty"`
	// Warnings say what of the request was refused while the job went
	// on: a subtitle file that could not be read, and why.
	Warnings []string `json:"warnings,omitempty"`
	// StoredBytes is what the finished title and its master take in the
	// buckets, counted against its tenant's limit until the title is
	// deleted (PurgedAt).
	StoredBytes int64      `json:"stored_bytes,omitempty"`
	PurgedAt    *time.Time `json:"purged_at,omitempty"`
	// Protection is an encrypted title's key, sealed under the
	// operator's master key (Ladder.Encryption asks for it).
	Protection *Protection `json:"protection,omitempty"`
	Published  *Published  `json:"published,omitempty"`
	// Live is the part of the title published while the rest encodes;
	// PlayableAt is when its first part was (the job's move to playable).
	Live       *Live      `json:"live,omitempty"`
	PlayableAt *time.Time `json:"playable_at,omitempty"`
	Error      *JobError  `json:"error,omitempty"`
	// Retries counts the times the job was retried after failing.
	Retries int `json:"retries,omitempty"`
	// Timings holds each stage's time, keyed by stage: upload and the
	// task kinds (probe, analyze, plan, split, encode, audio, package,
	// publish).
	Timings    map[string]*Timing `json:"timings,omitempty"`
	CreatedAt  time.Time          `json:"created_at"`
	UpdatedAt  time.Time          `json:"updated_at"`
	StartedAt  *time.Time         `json:"started_at,omitempty"`
	FinishedAt *time.Time         `json:"finished_at,omitempty"`
}

// Protection is the key an encrypted title is encrypted under: its
// scheme (ladder.Encryption), its key id (32 hex digits) and the key
// itself, sealed under the operator's master key for this job
// (protect.Master.Wrap); it is never stored or shown in the clear.
type Protection struct {
	Scheme     string `json:"scheme"`
	KeyID      string `json:"key_id"`
	WrappedKey string `json:"wrapped_key"`
}

// Encryption says how a title is encrypted, to its owner and players:
// the scheme, the key id (a UUID, as DASH's cenc:default_KID writes it)
// and, for cbcs and cenc, the URL of its W3C ClearKey licence, under a
// playback token as the title's other URLs.
type Encryption struct {
	Scheme  string `json:"scheme"`
	KeyID   string `json:"key_id"`
	Licence string `json:"licence,omitempty"`
}

// EncryptionFor describes job j's encryption to a player, with urlFor
// turning an origin object key into a URL (the licence's, which carries
// the title's token), or nil for a clear title.
func EncryptionFor(j *Job, urlFor func(key string) string) *Encryption {
	p := j.Protection
	if p == nil {
		return nil
	}
	e := &Encryption{Scheme: p.Scheme, KeyID: p.KeyID}
	if len(e.KeyID) == 32 {
		e.KeyID = e.KeyID[:8] + "-" + e.KeyID[8:12] + "-" + e.KeyID[12:16] + "-" + e.KeyID[16:20] + "-" + e.KeyID[20:]
	}
	if p.Scheme != ladder.SchemeAES128 && urlFor != nil {
		e.Licence = urlFor(PublishedPrefix(j.ID) + LicenceName)
	}
	return e
}

// Timing is one stage's time in a job: from its first task's start to
// its last task's end, and the time its tasks ran, summed over tasks run
// at once and over retries.
type Timing struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Seconds is the wall span End - Start.
	Seconds float64 `json:"seconds"`
	// TaskSeconds is the tasks' own time, summed.
	TaskSeconds float64 `json:"task_seconds"`
	Tasks       int     `json:"tasks"`
}

// AddTiming records that one task (or the upload) of stage ran from start
// to end.
func (j *Job) AddTiming(stage string, start, end time.Time) {
	if j.Timings == nil {
		j.Timings = map[string]*Timing{}
	}
	t := j.Timings[stage]
	if t == nil {
		t = &Timing{Start: start, End: end}
		j.Timings[stage] = t
	}
	if start.Before(t.Start) {
		t.Start = start
	}
	if end.After(t.End) {
		t.End = end
	}
	t.Seconds = round3(t.End.Sub(t.Start).Seconds())
	t.TaskSeconds = round3(t.TaskSeconds + end.Sub(start).Seconds())
	t.Tasks++
}

// StageDurations returns each stage's wall span.
func (j *Job) StageDurations() map[string]time.Duration {
	m := make(map[string]time.Duration, len(j.Timings))
	for s, t := range j.Timings {
		m[s] = t.End.Sub(t.Start)
	}
	return m
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Analysis records how a per-title ladder was chosen: trial encodes of
// sampled chunks at several CRFs per candidate size, their bitrate and
// PSNR at the reference size, the convex hull and the chosen points.
type Analysis struct {
	Metric  string         `json:"metric"` // "psnr"
	Width   int            `json:"width"`  // the reference size
	Height  int            `json:"height"`
	Samples []Sample       `json:"samples"`
	Points  []ladder.Trial `json:"points"`
	// Chosen are the ladder's rungs with the bitrate and PSNR the trials
	// predict for them.
	Chosen []ladder.Choice `json:"chosen"`
	// FixedBitrate sums the candidate rungs' own trial bitrates (the
	// fixed ladder), Bitrate the chosen rungs'.
	FixedBitrate float64 `json:"fixed_bitrate"`
	Bitrate      float64 `json:"bitrate"`
	// Seconds is the analysis's wall time.
	Seconds float64 `json:"seconds"`
}

// Sample is a stretch of the title the analysis encoded: the first frames
// of a chunk.
type Sample struct {
	Chunk  int     `json:"chunk"`
	Start  float64 `json:"start"` // seconds
	Frames int64   `json:"frames"`
}

// AudioTrack is one audio rendition of a title (AudioRenditions): a
// stream of the master encoded once for the whole title.
type AudioTrack struct {
	// Name is the rendition's folder in the title: "audio" for a title's
	// only track.
	Name     string `json:"name,omitempty"`
	Stream   int    `json:"stream,omitempty"` // the master's stream index
	Codec    string `json:"codec,omitempty"`  // ffmpeg's encoder: aac or eac3
	Codecs   string `json:"codecs"`           // RFC 6381
	Channels int    `json:"channels"`
	Bitrate  int    `json:"bitrate,omitempty"`
	Language string `json:"language,omitempty"` // BCP 47
	Label    string `json:"label,omitempty"`    // the stream's title
	Role     string `json:"role,omitempty"`     // commentary, description, dub
	Default  bool   `json:"default,omitempty"`
	// Loudness is the track's loudness as the master has it, in the
	// rendition's channels on the title's timeline (EBU R 128).
	Loudness *timeline.Loudness `json:"loudness,omitempty"`
	// Normalized says how the track was brought to the job's loudness
	// target, when it has one.
	Normalized *Normalization `json:"normalized,omitempty"`
}

// Normalization is what loudness normalization did to an audio track.
type Normalization struct {
	// Gain is the gain applied, in dB.
	Gain float64 `json:"gain_db"`
	// Limit, when the gain would have raised the true peaks to the
	// target's ceiling, is the level in dBTP a limiter held them under.
	Limit float64 `json:"limit_dbtp,omitempty"`
	// Loudness is what the encoder was given.
	Loudness timeline.Loudness `json:"loudness"`
}

// SourceAudio is one audio stream of the master.
type SourceAudio struct {
	Stream   int    `json:"stream"`
	Codec    string `json:"codec"`
	Channels int    `json:"channels"`
	Language string `json:"language,omitempty"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
	Default  bool   `json:"default,omitempty"`
}

// SourceText is one text subtitle stream of the master.
type SourceText struct {
	Stream   int    `json:"stream"`
	Codec    string `json:"codec"`
	Language string `json:"language,omitempty"`
	Name     string `json:"name,omitempty"`
	Default  bool   `json:"default,omitempty"`
	Forced   bool   `json:"forced,omitempty"`
	// SDH marks subtitles for the deaf and hard of hearing (captions).
	SDH bool `json:"sdh,omitempty"`
}

// Sidecar is a subtitle file sent with a job, stored as WebVTT.
type Sidecar struct {
	File string `json:"file"` // as sent: its entry in Ladder.Subtitles
	Key  string `json:"key"`  // in the masters bucket
	Cues int    `json:"cues"`
}

// HasText says whether the job's title gets subtitle tracks: the master
// has text subtitle streams, or subtitle files came with it.
func (j *Job) HasText() bool {
	return len(j.Sidecars) > 0 || j.Source != nil && len(j.Source.TextTracks) > 0
}

// TextTrack is one subtitle track of a title: WebVTT made from a text
// subtitle stream of the master or from a file sent with the job, on
// the title's timeline.
type TextTrack struct {
	// Name is the track's folder in the title: text_K, K its place among
	// the master's text streams and then the files.
	Name string `json:"name"`
	// Stream is the master's stream index, or File the file's name.
	Stream   *int   `json:"stream,omitempty"`
	File     string `json:"file,omitempty"`
	Language string `json:"language,omitempty"`
	Label    string `json:"label,omitempty"`
	Default  bool   `json:"default,omitempty"`
	Forced   bool   `json:"forced,omitempty"`
	SDH      bool   `json:"sdh,omitempty"`
	// Cues is how many cues the track has.
	Cues int `json:"cues"`
}

// TextName is the folder of the title's subtitle track made from its
// k-th text stream.
func TextName(k int) string { return fmt.Sprintf("text_%d", k) }

// AudioEncoded reports whether a job with audio has it encoded.
func (j *Job) AudioEncoded() bool { return len(j.AudioTracks) > 0 || j.Audio != nil }

// SurroundBitrate is the bit rate of a title's 5.1 E-AC-3 renditions.
const SurroundBitrate = 384000

// AudioRenditions are the audio renditions of a job's title: for every
// audio stream of the master, a stereo AAC track (the standard downmix of
// a surround stream) and, for a stream of 6 channels or more, a 5.1
// E-AC-3 track. The stream marked default (else the first) is the
// default in each codec. A title of one stereo stream keeps the one
// track "audio" it always had.
func AudioRenditions(j *Job) []AudioTrack {
	src := j.Source
	if src == nil || !j.HasAudio {
		return nil
	}
	streams := src.AudioTracks
	if len(streams) == 0 {
		// Probed before every stream was listed: the one it chose.
		streams = []SourceAudio{{Stream: src.AudioStream, Codec: src.AudioCodec, Channels: src.AudioChans, Default: true}}
	}
	def := slices.IndexFunc(streams, func(a SourceAudio) bool { return a.Default })
	if def < 0 {
		def = 0
	}
	l := j.Ladder.Normalize()
	var out []AudioTrack
	for k, a := range streams {
		name := "audio"
		if len(streams) > 1 {
			name = fmt.Sprintf("audio_%d", k)
		}
		t := AudioTrack{Name: name, Stream: a.Stream, Codec: "aac", Codecs: "mp4a.40.2", Channels: 2, Bitrate: l.AudioBitrate,
			Language: a.Language, Label: a.Name, Role: a.Role, Default: k == def}
		out = append(out, t)
		if a.Channels >= 6 {
			t.Name, t.Codec, t.Codecs, t.Channels, t.Bitrate = name+"_51", "eac3", "ec-3", 6, SurroundBitrate
			out = append(out, t)
		}
	}
	return out
}

// Live is the part of a title published while the rest of it encodes:
// the chunks from its start that are encoded, as a growing presentation
// (an HLS EVENT playlist, a dynamic MPD) that becomes the finished title.
type Live struct {
	// Chunks is how many chunks from the title's start are published.
	Chunks int `json:"chunks"`
	// Seconds is how long the published part plays.
	Seconds float64 `json:"seconds"`
	// Since is the wall-clock time the growing title's dynamic MPD puts
	// its start at (availabilityStartTime): when its first part was
	// published, less that part's length.
	Since time.Time `json:"since"`
}

// Playable says the job's title can be played: it is published whole
// (complete), or the first part of it is while the rest encodes.
func (j *Job) Playable() bool {
	return j.Published != nil && (j.Status == StatusComplete || (!j.Status.Terminal() && j.Live != nil))
}

// MasterBytes is the size of the job's master: as uploaded or fetched, or
// as probed.
func (j *Job) MasterBytes() int64 {
	n := j.Input.Size
	if j.Source != nil {
		n = max(n, j.Source.Size)
	}
	return n
}

// Move changes the job's status if the state machine allows it.
func (j *Job) Move(to Status, now time.Time) error {
	if !CanMove(j.Status, to) {
		return fmt.Errorf("%w: %s -> %s", ErrTransition, j.Status, to)
	}
	j.Status = to
	j.UpdatedAt = now
	if j.StartedAt == nil && to != StatusQueued {
		j.StartedAt = &now
	}
	if to == StatusPlayable && j.PlayableAt == nil {
		j.PlayableAt = &now
	}
	if to.Terminal() {
		j.FinishedAt = &now
	}
	return nil
}

// Fail moves the job to failed with a code and message, unless it already
// ended.
func (j *Job) Fail(code, msg string, now time.Time) error {
	if err := j.Move(StatusFailed, now); err != nil {
		return err
	}
	j.Error = &JobError{Code: code, Message: msg}
	return nil
}
