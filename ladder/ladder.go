// Package ladder defines encoding ladders (rungs of resolution, bitrate and
// codec) and chooses the rungs that fit a given source.
package ladder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rung is one rendition of a ladder. Width is derived from Height and the
// source's display aspect when zero.
type Rung struct {
	Name   string `json:"name"`
	Codec  string `json:"codec"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height"`
	// Bitrate is the rung's nominal video bitrate in bit/s. Rungs are
	// encoded in capped-CRF mode: quality CRF, never above MaxRate over a
	// BufSize window, so the measured average is at most about Bitrate on
	// hard content and lower on easy content.
	Bitrate int `json:"bitrate"`
	MaxRate int `json:"maxrate,omitempty"` // VBV peak in bit/s; default 1.5 × Bitrate
	BufSize int `json:"bufsize,omitempty"` // VBV buffer in bits; default 2 × Bitrate
	// CRF is the constant-quality target; default 23 for H.264, 28 for
	// HEVC, 33 for VP9, 35 for AV1 (lower is better quality).
	CRF int `json:"crf,omitempty"`
	// Preset is an x264-style speed name (ultrafast … veryslow), mapped
	// onto each encoder's own speed setting; default "veryfast".
	Preset string `json:"preset,omitempty"`
	// Profile is the encoder profile: baseline, main or high for H.264
	// (default high), main for HEVC (main10 for an HDR rung), 0 for VP9,
	// main for AV1.
	Profile string `json:"profile,omitempty"`
	// HDR asks for a high-dynamic-range rung (HEVC or AV1 only): 10-bit
	// BT.2020 keeping the master's PQ or HLG transfer. An HDR rung is
	// made only from an HDR master; SDR rungs of an HDR master are
	// tone-mapped to BT.709.
	HDR bool `json:"hdr,omitempty"`
}

// Ladder is an ordered set of rungs plus packaging settings.
type Ladder struct {
	Rungs []Rung `json:"rungs"`
	// SegmentSeconds is the target CMAF segment duration; default 4.
	SegmentSeconds float64 `json:"segment_seconds,omitempty"`
	// ChunkSegments is how many segments one encode chunk covers; 0 (the
	// default) sizes chunks to the workers (see pipeline.AutoChunkSegments).
	ChunkSegments int `json:"chunk_segments,omitempty"`
	// PrerollSeconds, if set, is how long before its start each chunk
	// (but the first) encodes and throws away, so the encoder's rate
	// control reaches the chunk as one encode of the whole title would;
	// unset, each codec's default (DefaultPreroll), the longest of the
	// ladder's codecs. 0 encodes none.
	PrerollSeconds *float64 `json:"preroll_seconds,omitempty"`
	// AudioBitrate is the AAC-LC stereo bitrate in bit/s; default 128000.
	AudioBitrate int `json:"audio_bitrate,omitempty"`
	// Audio, if set, lists the master's audio streams the title carries,
	// in this order, and how they are labelled; unset, every audio stream
	// of the master is carried with its own tags.
	Audio []AudioChoice `json:"audio,omitempty"`
	// Loudness, if set, normalizes every audio track to a target loudness
	// under a true-peak ceiling; unset, the tracks keep the master's
	// loudness (which is measured and recorded either way).
	Loudness *LoudnessTarget `json:"loudness,omitempty"`
	// Subtitles describes the subtitle files sent with the job (SubRip or
	// WebVTT, cue times from the video's first frame), by file name.
	Subtitles []SubtitleFile `json:"subtitles,omitempty"`
	// SkipQuality leaves out the PSNR/SSIM measurement of each rendition,
	// which decodes every chunk a second time.
	SkipQuality bool `json:"skip_quality,omitempty"`
	// Mode is "fixed" (the default: the rungs as given) or "per-title":
	// the rungs (default: the Default ladder's) are candidates, and the
	// resolutions, quality targets and bitrates are chosen for the title
	// from trial encodes (see PerTitle).
	Mode string `json:"mode,omitempty"`
	// QualityFloor and QualityCeiling bound a per-title ladder's quality,
	// in dB PSNR at the top candidate's size: a rung (but the lowest) is
	// lifted to the floor where that costs no more than the fixed rung,
	// and none spends bits above the ceiling. Defaults 30 and 45.
	QualityFloor   float64 `json:"quality_floor,omitempty"`
	QualityCeiling float64 `json:"quality_ceiling,omitempty"`
	// Public publishes the title for anyone to play without a playback
	// token, from the edges and from the origin bucket directly; by
	// default a title is private and plays only through the signed URLs
	// GET /v1/play returns.
	Public bool `json:"public,omitempty"`
	// Priority is "high", "normal" (the default, "") or "low": the
	// queue the job's tasks wait in. Workers take high tasks first, then
	// normal, then low.
	Priority string `json:"priority,omitempty"`
	// Encryption, if set, encrypts the title under a key of its own (see
	// Encryption).
	Encryption *Encryption `json:"encryption,omitempty"`
}

// Encryption is how a title is encrypted.
type Encryption struct {
	// Scheme is "cbcs" (CENC with AES-CBC, 1:9 pattern: HLS SAMPLE-AES
	// and DASH, FairPlay, Widevine, PlayReady and ClearKey), "cenc" (CENC
	// with AES-CTR: DASH, Widevine, PlayReady and ClearKey) or "aes-128"
	// (whole segments, HLS only, for players without EME). cbcs and cenc
	// need H.264 or HEVC rungs.
	Scheme string `json:"scheme"`
}

// The encryption schemes.
const (
	SchemeCBCS   = "cbcs"
	SchemeCENC   = "cenc"
	SchemeAES128 = "aes-128"
)

// The job priorities.
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// AudioChoice is one audio stream of the master a job carries.
type AudioChoice struct {
	// Stream is the master's stream index, as ffprobe numbers streams.
	Stream int `json:"stream"`
	// Language (BCP 47: "en", "pt-BR") and Name replace the stream's own
	// language and title tags when set.
	Language string `json:"language,omitempty"`
	Name     string `json:"name,omitempty"`
	// Default marks the track players start with (at most one).
	Default bool `json:"default,omitempty"`
}

// SubtitleFile is a subtitle file sent with a job and what it is.
type SubtitleFile struct {
	// File is the name it is sent under (the multipart part's file name,
	// or the key of the JSON form's "subtitle_files").
	File string `json:"file"`
	// Language (BCP 47: "fr", "pt-BR") is required; Name is what players
	// list it as (default: the language's name).
	Language string `json:"language"`
	Name     string `json:"name,omitempty"`
	// Default marks the track players show without a choice of the
	// viewer; Forced, one that carries only the foreign-language parts;
	// SDH, one for the deaf and hard of hearing.
	Default bool `json:"default,omitempty"`
	Forced  bool `json:"forced,omitempty"`
	SDH     bool `json:"sdh,omitempty"`
}

// MaxSubtitleFiles bounds how many subtitle files a job lists.
const MaxSubtitleFiles = 16

// LoudnessTarget is the loudness a job's audio tracks are normalized to.
type LoudnessTarget struct {
	// Target is the integrated loudness, in LUFS (EBU R 128 / ITU-R
	// BS.1770): -16 for streaming, -23 (EBU) or -24 (ATSC) for broadcast.
	Target float64 `json:"target"`
	// TruePeak is the ceiling for true peaks, in dBTP; default -1.
	TruePeak *float64 `json:"true_peak,omitempty"`
}

// DefaultTruePeak is a loudness target's true-peak ceiling when the job
// gives none, in dBTP.
const DefaultTruePeak = -1.0

// Ceiling is the target's true-peak ceiling in dBTP.
func (t LoudnessTarget) Ceiling() float64 {
	if t.TruePeak == nil {
		return DefaultTruePeak
	}
	return *t.TruePeak
}

// The loudness targets and ceilings a job may ask for.
const (
	MinLoudnessTarget, MaxLoudnessTarget = -40.0, -5.0
	MinTruePeak, MaxTruePeak             = -9.0, 0.0
)

// MaxAudio bounds how many audio streams a job lists.
const MaxAudio = 16

// Ladder modes.
const (
	ModeFixed    = "fixed"
	ModePerTitle = "per-title"
)

// Per-title quality bounds by default, in dB PSNR.
const (
	DefaultQualityFloor   = 30.0
	DefaultQualityCeiling = 45.0
)

// MaxPrerollSeconds bounds a ladder's preroll_seconds.
const MaxPrerollSeconds = 10.0

// DefaultPreroll is each codec's preroll in seconds when the ladder sets
// none: how long before its start a chunk encodes for the encoder's rate
// control to reach it in the state one encode of the whole title would be
// in (`make bench`'s preroll section measures it). A job whose ladder has
// VP9 or AV1 rungs rounds its preroll up to whole segments (see
// media.KeyframesWhereForced).
var DefaultPreroll = map[string]float64{CodecH264: 1, CodecHEVC: 1, CodecVP9: 4, CodecAV1: 4}

// Preroll is the ladder's preroll in seconds: PrerollSeconds, or the
// longest DefaultPreroll of its rungs' codecs.
func (l Ladder) Preroll() float64 {
	if l.PrerollSeconds != nil {
		return *l.PrerollSeconds
	}
	var p float64
	for _, r := range l.Rungs {
		c := r.Codec
		if c == "" {
			c = CodecH264
		}
		p = max(p, DefaultPreroll[c])
	}
	return p
}

// PerTitle reports whether the ladder is chosen per title.
func (l Ladder) PerTitle() bool { return l.Mode == ModePerTitle }

// Codecs a rung may ask for.
const (
	CodecH264 = "h264" // libx264, avc1 in fMP4
	CodecHEVC = "hevc" // libx265, hvc1 in fMP4
	CodecVP9  = "vp9"  // libvpx-vp9, vp09 in fMP4
	CodecAV1  = "av1"  // libsvtav1, av01 in fMP4
)

// DefaultCRF is each codec's default quality target, and MaxCRF the
// highest its encoder takes.
var (
	DefaultCRF = map[string]int{CodecH264: 23, CodecHEVC: 28, CodecVP9: 33, CodecAV1: 35}
	MaxCRF     = map[string]int{CodecH264: 51, CodecHEVC: 51, CodecVP9: 63, CodecAV1: 63}
)

// Codecs lists the supported codecs in the order manifests list them.
var Codecs = []string{CodecH264, CodecHEVC, CodecVP9, CodecAV1}

// profiles are the encoder profiles each codec accepts; the first is the
// default. SDR output is 8-bit 4:2:0, so only those profiles are offered;
// hdrProfiles are those of the codecs that offer HDR rungs (10-bit 4:2:0).
var (
	profiles = map[string][]string{
		CodecH264: {"high", "main", "baseline"},
		CodecHEVC: {"main"},
		CodecVP9:  {"0"},
		CodecAV1:  {"main"},
	}
	hdrProfiles = map[string][]string{
		CodecHEVC: {"main10"},
		CodecAV1:  {"main"},
	}
)

// profilesFor are the profiles a rung may ask for.
func profilesFor(r Rung) []string {
	if r.HDR {
		return hdrProfiles[r.Codec]
	}
	return profiles[r.Codec]
}

// Defaults applied by Normalize.
const (
	DefaultSegmentSeconds = 4.0
	DefaultChunkSegments  = 3 // when the workers' slots are not known
	DefaultAudioBitrate   = 128000
	DefaultPreset         = "veryfast"
	MaxRungs              = 12
)

// Default returns the default H.264 ladder, after the rungs and bitrates of
// Apple's HLS authoring specification for 16:9 content.
func Default() Ladder {
	return Ladder{Rungs: []Rung{
		{Name: "1080p", Codec: CodecH264, Height: 1080, Bitrate: 6000000},
		{Name: "720p", Codec: CodecH264, Height: 720, Bitrate: 3000000},
		{Name: "540p", Codec: CodecH264, Height: 540, Bitrate: 2000000},
		{Name: "360p", Codec: CodecH264, Height: 360, Bitrate: 730000},
		{Name: "234p", Codec: CodecH264, Height: 234, Bitrate: 145000},
	}}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Parse reads a ladder from JSON, rejecting unknown fields, and validates it.
func Parse(data []byte) (Ladder, error) {
	var l Ladder
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Ladder{}, fmt.Errorf("ladder: invalid JSON: %w", err)
	}
	if dec.More() {
		return Ladder{}, errors.New("ladder: trailing data after the JSON object")
	}
	l = l.Normalize()
	if err := l.Validate(); err != nil {
		return Ladder{}, err
	}
	return l, nil
}

// Normalize fills in documented defaults for zero values.
func (l Ladder) Normalize() Ladder {
	if l.SegmentSeconds == 0 {
		l.SegmentSeconds = DefaultSegmentSeconds
	}
	if l.AudioBitrate == 0 {
		l.AudioBitrate = DefaultAudioBitrate
	}
	if l.Mode == "" {
		l.Mode = ModeFixed
	}
	if l.Priority == PriorityNormal {
		l.Priority = "" // the default, not written
	}
	// A job that sets other options only (audio, loudness, subtitles)
	// gets the default rungs.
	if len(l.Rungs) == 0 {
		l.Rungs = Default().Rungs
	}
	if l.Mode == ModePerTitle {
		if l.QualityFloor == 0 {
			l.QualityFloor = DefaultQualityFloor
		}
		if l.QualityCeiling == 0 {
			l.QualityCeiling = DefaultQualityCeiling
		}
	}
	rungs := make([]Rung, len(l.Rungs))
	for i, r := range l.Rungs {
		if r.Codec == "" {
			r.Codec = CodecH264
		}
		if r.Name == "" && r.Height > 0 {
			r.Name = rungName(r.Height, r.Codec)
			if r.HDR {
				r.Name += "-hdr"
			}
		}
		if r.MaxRate == 0 {
			r.MaxRate = r.Bitrate * 3 / 2
		}
		if r.BufSize == 0 {
			r.BufSize = r.Bitrate * 2
		}
		if r.Preset == "" {
			r.Preset = DefaultPreset
		}
		if r.CRF == 0 {
			r.CRF = DefaultCRF[r.Codec]
		}
		if p := profilesFor(r); r.Profile == "" && len(p) > 0 {
			r.Profile = p[0]
		}
		rungs[i] = r
	}
	l.Rungs = rungs
	return l
}

var presets = map[string]bool{"ultrafast": true, "superfast": true, "veryfast": true, "faster": true, "fast": true, "medium": true, "slow": true, "slower": true, "veryslow": true}

// Validate reports the first problem with a normalized ladder, naming the field.
func (l Ladder) Validate() error {
	switch l.Priority {
	case "", PriorityHigh, PriorityNormal, PriorityLow:
	default:
		return fmt.Errorf(`ladder: priority %q is not "high", "normal" or "low"`, l.Priority)
	}
	switch l.Mode {
	case ModeFixed:
		if l.QualityFloor != 0 || l.QualityCeiling != 0 {
			return errors.New(`ladder: quality_floor and quality_ceiling apply to "mode": "per-title" only`)
		}
	case ModePerTitle:
		if l.QualityFloor < 15 || l.QualityCeiling > 60 || l.QualityFloor >= l.QualityCeiling {
			return fmt.Errorf("ladder: quality_floor (%g) and quality_ceiling (%g) must be dB PSNR with 15 <= floor < ceiling <= 60", l.QualityFloor, l.QualityCeiling)
		}
	default:
		return fmt.Errorf(`ladder: mode %q is not "fixed" or "per-title"`, l.Mode)
	}
	if len(l.Rungs) == 0 {
		return errors.New("ladder: rungs: at least one rung is required")
	}
	if len(l.Rungs) > MaxRungs {
		return fmt.Errorf("ladder: rungs: at most %d rungs are allowed, got %d", MaxRungs, len(l.Rungs))
	}
	if l.SegmentSeconds < 1 || l.SegmentSeconds > 20 {
		return fmt.Errorf("ladder: segment_seconds must be between 1 and 20, got %g", l.SegmentSeconds)
	}
	if l.ChunkSegments < 0 || l.ChunkSegments > 150 {
		return fmt.Errorf("ladder: chunk_segments must be 0 (sized to the workers) or between 1 and 150, got %d", l.ChunkSegments)
	}
	if p := l.PrerollSeconds; p != nil && (*p < 0 || *p > MaxPrerollSeconds) {
		return fmt.Errorf("ladder: preroll_seconds must be between 0 and %g, got %g", MaxPrerollSeconds, *p)
	}
	if l.AudioBitrate < 32000 || l.AudioBitrate > 512000 {
		return fmt.Errorf("ladder: audio_bitrate must be between 32000 and 512000 bit/s, got %d", l.AudioBitrate)
	}
	if t := l.Loudness; t != nil {
		if !(t.Target >= MinLoudnessTarget && t.Target <= MaxLoudnessTarget) {
			return fmt.Errorf("ladder: loudness.target must be an integrated loudness between %g and %g LUFS (-16 for streaming, -23 or -24 for broadcast), got %g", MinLoudnessTarget, MaxLoudnessTarget, t.Target)
		}
		if c := t.Ceiling(); !(c >= MinTruePeak && c <= MaxTruePeak) {
			return fmt.Errorf("ladder: loudness.true_peak must be a ceiling between %g and %g dBTP (default %g), got %g", MinTruePeak, MaxTruePeak, DefaultTruePeak, c)
		}
	}
	if err := validateSubtitles(l.Subtitles); err != nil {
		return err
	}
	if err := l.validateEncryption(); err != nil {
		return err
	}
	if err := validateAudio(l.Audio); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, r := range l.Rungs {
		where := fmt.Sprintf("ladder: rungs[%d]", i)
		if !nameRE.MatchString(r.Name) {
			return fmt.Errorf("%s: name %q must be 1-32 lowercase letters, digits, '-' or '_'", where, r.Name)
		}
		if seen[r.Name] {
			return fmt.Errorf("%s: name %q is used twice", where, r.Name)
		}
		seen[r.Name] = true
		if _, ok := profiles[r.Codec]; !ok {
			return fmt.Errorf("%s: codec %q is not supported (supported: %s)", where, r.Codec, strings.Join(Codecs, ", "))
		}
		if r.Height < 64 || r.Height > 4320 {
			return fmt.Errorf("%s: height must be between 64 and 4320, got %d", where, r.Height)
		}
		if r.Width != 0 && (r.Width < 64 || r.Width > 7680) {
			return fmt.Errorf("%s: width must be 0 (from aspect) or between 64 and 7680, got %d", where, r.Width)
		}
		if r.Bitrate < 50000 || r.Bitrate > 100000000 {
			return fmt.Errorf("%s: bitrate must be between 50000 and 100000000 bit/s, got %d", where, r.Bitrate)
		}
		if r.MaxRate < r.Bitrate {
			return fmt.Errorf("%s: maxrate (%d) must not be below bitrate (%d)", where, r.MaxRate, r.Bitrate)
		}
		if r.BufSize <= 0 {
			return fmt.Errorf("%s: bufsize must be positive", where)
		}
		if r.CRF < 1 || r.CRF > MaxCRF[r.Codec] {
			return fmt.Errorf("%s: crf must be between 1 and %d for %s, got %d", where, MaxCRF[r.Codec], r.Codec, r.CRF)
		}
		if !presets[r.Preset] {
			return fmt.Errorf("%s: preset %q is not one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow", where, r.Preset)
		}
		if r.HDR && hdrProfiles[r.Codec] == nil {
			return fmt.Errorf("%s: hdr rungs are HEVC or AV1 (10-bit), not %s", where, r.Codec)
		}
		if r.HDR && l.PerTitle() {
			return fmt.Errorf(`%s: hdr rungs are for "mode": "fixed" ladders; a per-title ladder's trial encodes are SDR`, where)
		}
		if !slices.Contains(profilesFor(r), r.Profile) {
			return fmt.Errorf("%s: profile %q is not offered for %s (use one of: %s)", where, r.Profile, r.Codec, strings.Join(profilesFor(r), ", "))
		}
	}
	return nil
}

// Source is what rung selection needs to know about a master.
type Source struct {
	Width, Height int
	// SARNum/SARDen is the sample aspect ratio; 0 means 1:1.
	SARNum, SARDen int
	// HDR says the master is high dynamic range (PQ or HLG): only then
	// are HDR rungs made.
	HDR bool
}

// DisplaySize returns the square-pixel display size of the source.
func (s Source) DisplaySize() (w, h float64) {
	w, h = float64(s.Width), float64(s.Height)
	if s.SARNum > 0 && s.SARDen > 0 {
		w = w * float64(s.SARNum) / float64(s.SARDen)
	}
	return w, h
}

// Select returns the rungs of l that fit src: rungs taller or wider than the
// source's display size are dropped, widths follow the display aspect with
// square pixels, and every dimension is even. If no rung fits, one rung per
// codec at the source's own (even) size is returned with the bitrate of that
// codec's smallest rung. HDR rungs are dropped for an SDR source. Rungs
// come back grouped by codec (in the order of Codecs), SDR before HDR,
// tallest first.
func Select(l Ladder, src Source) ([]Rung, error) {
	if src.Width <= 0 || src.Height <= 0 {
		return nil, fmt.Errorf("ladder: source has no size (%dx%d)", src.Width, src.Height)
	}
	dw, dh := src.DisplaySize()
	aspect := dw / dh
	var out []Rung
	for _, r := range l.Rungs {
		if r.HDR && !src.HDR {
			continue
		}
		w := r.Width
		if w == 0 {
			w = Even(float64(r.Height) * aspect)
		}
		h := Even(float64(r.Height))
		if float64(h) > dh+1 || float64(w) > dw+1 {
			continue
		}
		r.Width, r.Height = w, h
		out = append(out, r)
	}
	if len(out) == 0 {
		// Nothing fits: one rung per codec at the source's own size, with
		// the bitrate of that codec's smallest rung.
		for _, codec := range Codecs {
			var smallest *Rung
			for i, r := range l.Rungs {
				if r.Codec == codec && !r.HDR && (smallest == nil || r.Height < smallest.Height) {
					smallest = &l.Rungs[i]
				}
			}
			if smallest == nil {
				continue
			}
			r := *smallest
			r.Height, r.Width = max(Even(dh), 2), max(Even(dw), 2)
			r.Name = rungName(r.Height, r.Codec)
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ci, cj := slices.Index(Codecs, out[i].Codec), slices.Index(Codecs, out[j].Codec)
		if ci != cj {
			return ci < cj
		}
		if out[i].HDR != out[j].HDR {
			return !out[i].HDR
		}
		return out[i].Height > out[j].Height
	})
	return out, nil
}

// rungName is a rung's default name: "720p" for H.264, "720p-vp9" for
// other codecs, so that rungs of several codecs never share a folder.
func rungName(height int, codec string) string {
	if codec == CodecH264 || codec == "" {
		return fmt.Sprintf("%dp", height)
	}
	return fmt.Sprintf("%dp-%s", height, codec)
}

// Even rounds v to the nearest even integer, at least 2: a size 4:2:0
// video can have.
func Even(v float64) int {
	e := int(math.Round(v/2)) * 2
	if e < 2 {
		e = 2
	}
	return e
}

// languageRE is the shape of a BCP 47 tag: a 2- or 3-letter language and
// subtags; whether the language exists is checked where the tag is used.
var languageRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

// validLanguage says whether tag has the shape of a BCP 47 tag.
func validLanguage(tag string) bool { return languageRE.MatchString(tag) && len(tag) <= 35 }

// checkName checks a track's name, which manifests quote: at most 64
// characters, no control characters or double quotes.
func checkName(where, name string) error {
	if utf8.RuneCountInString(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || r == '"' }) {
		return fmt.Errorf("%s: name must be at most 64 characters, without control characters or double quotes", where)
	}
	return nil
}

// validateSubtitles checks a job's list of subtitle files.
func validateSubtitles(list []SubtitleFile) error {
	if len(list) > MaxSubtitleFiles {
		return fmt.Errorf("ladder: subtitles: at most %d files, got %d", MaxSubtitleFiles, len(list))
	}
	files, defaults := map[string]bool{}, 0
	for i, f := range list {
		where := fmt.Sprintf("ladder: subtitles[%d]", i)
		if f.File == "" || len(f.File) > 255 || strings.ContainsAny(f.File, "/\\") || f.File == "." || f.File == ".." ||
			strings.ContainsFunc(f.File, unicode.IsControl) {
			return fmt.Errorf("%s: file must be the file's name as sent (at most 255 bytes, no path, no control characters), got %q", where, f.File)
		}
		if files[f.File] {
			return fmt.Errorf("%s: file %q is listed twice", where, f.File)
		}
		files[f.File] = true
		if !validLanguage(f.Language) {
			return fmt.Errorf("%s: language %q is not a BCP 47 tag such as \"en\" or \"pt-BR\"; every subtitle file needs one", where, f.Language)
		}
		if err := checkName(where, f.Name); err != nil {
			return err
		}
		if f.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return errors.New("ladder: subtitles: at most one file may be the default")
	}
	return nil
}

// validateAudio checks a job's list of audio streams.
func validateAudio(list []AudioChoice) error {
	if len(list) > MaxAudio {
		return fmt.Errorf("ladder: audio: at most %d streams, got %d", MaxAudio, len(list))
	}
	streams, defaults := map[int]bool{}, 0
	for i, a := range list {
		where := fmt.Sprintf("ladder: audio[%d]", i)
		if a.Stream < 0 || a.Stream > 9999 {
			return fmt.Errorf("%s: stream must be the master's stream index (0 or more), got %d", where, a.Stream)
		}
		if streams[a.Stream] {
			return fmt.Errorf("%s: stream %d is listed twice", where, a.Stream)
		}
		streams[a.Stream] = true
		if a.Language != "" && !validLanguage(a.Language) {
			return fmt.Errorf("%s: language %q is not a BCP 47 tag such as \"en\" or \"pt-BR\"", where, a.Language)
		}
		if err := checkName(where, a.Name); err != nil {
			return err
		}
		if a.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return errors.New("ladder: audio: at most one stream may be the default")
	}
	return nil
}

// validateEncryption checks the scheme, and that cbcs and cenc have
// codecs whose samples they can encrypt (H.264 and HEVC: subsample
// encryption keeps their NAL headers clear).
func (l Ladder) validateEncryption() error {
	e := l.Encryption
	if e == nil {
		return nil
	}
	if l.Public {
		return errors.New(`ladder: encryption: a public title plays without a token, and an encrypted title's key is given only under one: leave out "public" or "encryption"`)
	}
	switch e.Scheme {
	case SchemeCBCS, SchemeCENC:
		for i, r := range l.Rungs {
			if r.Codec != CodecH264 && r.Codec != CodecHEVC {
				return fmt.Errorf(`ladder: encryption: scheme %q encrypts H.264 and HEVC rungs only, and rungs[%d] is %s: use "aes-128" (HLS) or leave that rung out`, e.Scheme, i, r.Codec)
			}
		}
	case SchemeAES128:
	default:
		return fmt.Errorf(`ladder: encryption.scheme %q is not "cbcs", "cenc" or "aes-128"`, e.Scheme)
	}
	return nil
}
