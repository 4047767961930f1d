// Package packager writes the adaptive-streaming manifests of a title: HLS
// master and media playlists and a DASH MPD over the same CMAF segments.
package packager

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/grafov/m3u8"
)

// Segment is one CMAF media segment of a track.
type Segment struct {
	URI      string  `json:"uri"` // relative to the track's folder
	Duration float64 `json:"duration"`
	Size     int64   `json:"size"`
}

// Track is one packaged rendition: a folder with an init segment, media
// segments and a media playlist.
type Track struct {
	Name string `json:"name"` // folder and DASH Representation id
	// Codec is the codec family (h264, hevc, vp9, av1, aac): variants of
	// one family form a switching set.
	Codec  string `json:"codec"`
	Codecs string `json:"codecs"` // RFC 6381 codec string
	// VideoRange is the HLS VIDEO-RANGE of a video track: "PQ" or "HLG"
	// for an HDR rung, "SDR" for the other rungs of an HDR master, ""
	// (SDR, not stated) for an SDR master's.
	VideoRange string  `json:"video_range,omitempty"`
	IFrames    []Range `json:"iframes,omitempty"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	FrameRate  float64 `json:"frame_rate,omitempty"`
	Channels   int     `json:"channels,omitempty"`
	// Captions says a video track carries CEA-608 closed captions (CC1) in
	// its pictures' SEI: HLS CLOSED-CAPTIONS, the DASH Accessibility
	// descriptor.
	Captions bool `json:"captions,omitempty"`
	// Language (BCP 47), Label, Default and Role describe an audio
	// track among the title's others: HLS LANGUAGE, NAME, DEFAULT and
	// CHARACTERISTICS, DASH lang, Label and Role. Role is "",
	// "commentary", "description" or "dub".
	Language  string `json:"language,omitempty"`
	Label     string `json:"label,omitempty"`
	Default   bool   `json:"default,omitempty"`
	Role      string `json:"role,omitempty"`
	Timescale int    `json:"timescale"`
	// Start is the presentation time, in Timescale, of the track's first
	// sample: the same instant in every track of a title (see
	// ShiftDecodeTime), which the MPD maps to the period's start.
	Start    int64     `json:"start,omitempty"`
	Init     string    `json:"init"`
	Segments []Segment `json:"segments"`
	// Target, if set, is the track's EXT-X-TARGETDURATION, which a
	// growing track states from its first playlist on (it must not
	// change); else it comes from the segments.
	Target int `json:"target,omitempty"`
	// Protection, if set, is how the track is encrypted.
	Protection *Protection `json:"-"`
	// PeakFloor is a least peak bit rate (bit/s) for the manifests of a
	// track still growing, whose peak so far may fall short of the whole
	// title's: its VBV ceiling.
	PeakFloor int `json:"-"`
}

// Range is a byte range of a segment: the keyframe an I-frame playlist
// entry points at, one per segment.
type Range struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// IFramePlaylist is the name of a track's I-frame playlist.
const IFramePlaylist = "iframes.m3u8"

// Duration is the sum of the track's segment durations.
func (t Track) Duration() float64 {
	var d float64
	for _, s := range t.Segments {
		d += s.Duration
	}
	return d
}

// StartSeconds is the track's Start in seconds.
func (t Track) StartSeconds() float64 {
	if t.Timescale <= 0 {
		return 0
	}
	return float64(t.Start) / float64(t.Timescale)
}

// TargetDuration is the track's EXT-X-TARGETDURATION: its longest
// segment, rounded to whole seconds, and 1 at least.
func (t Track) TargetDuration() int {
	if t.Target > 0 {
		return t.Target
	}
	target := 1
	for _, s := range t.Segments {
		target = max(target, int(math.Round(s.Duration)))
	}
	return target
}

// Bandwidth returns the measured peak and average bitrate (bit/s) of the
// track's media segments. The peak is the peak segment bit rate of RFC
// 8216bis section 4.3.4.2: the highest bit rate of any run of contiguous
// segments lasting 0.5 to 1.5 target durations, so a short segment (a
// title's last) does not count as if its bits were spread over a whole
// one.
func (t Track) Bandwidth() (peak, avg int) {
	peak, avg = t.rates(func(i int) int64 { return t.Segments[i].Size })
	return max(peak, t.PeakFloor), avg
}

// rates returns the peak segment bit rate and the average bit rate of
// size(i) bytes in each segment i. A track too short for any run of 0.5
// target durations has its average as its peak.
func (t Track) rates(size func(i int) int64) (peak, avg int) {
	target := float64(t.TargetDuration())
	var bytes int64
	var dur float64
	for i, s := range t.Segments {
		n := size(i)
		if s.Duration <= 0 || n < 0 {
			continue
		}
		bytes += n
		dur += s.Duration
		// The runs that start at segment i.
		var rb int64
		var rd float64
		for k := i; k < len(t.Segments) && rd < 1.5*target; k++ {
			if m := size(k); m >= 0 && t.Segments[k].Duration > 0 {
				rb, rd = rb+m, rd+t.Segments[k].Duration
			}
			if rd >= 0.5*target && rd <= 1.5*target+1e-9 {
				peak = max(peak, bitrate(rb, rd))
			}
		}
	}
	if dur > 0 {
		avg = bitrate(bytes, dur)
	}
	if peak == 0 {
		peak = avg
	}
	return peak, avg
}

// bitrate is n bytes over d seconds, in bit/s, rounded up.
func bitrate(n int64, d float64) int { return int(math.Ceil(float64(n*8) / d)) }

// DASHBandwidth returns the @bandwidth of the track's Representation for
// an MPD whose @minBufferTime is minBuffer seconds: the least bit rate at
// which, delivered from the start of any segment (each starts with a SAP),
// every segment has arrived by the time it is due for playout when
// playout starts minBuffer seconds after delivery (ISO/IEC 23009-1,
// 5.3.5.2). Segment k, the run from segment i on, is due at minBuffer plus
// the durations of segments i to k-1.
func (t Track) DASHBandwidth(minBuffer float64) int {
	b := t.PeakFloor
	for i := range t.Segments {
		var bits int64
		var due float64 = minBuffer
		for k := i; k < len(t.Segments); k++ {
			bits += t.Segments[k].Size * 8
			if due > 0 {
				b = max(b, int(math.Ceil(float64(bits)/due)))
			}
			due += t.Segments[k].Duration
		}
	}
	return b
}

// ParseMediaPlaylist reads the segments (URI and duration) of an HLS VOD
// media playlist, such as the one ffmpeg's hls muxer writes.
func ParseMediaPlaylist(data []byte) ([]Segment, error) {
	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(data), true)
	if err != nil {
		return nil, fmt.Errorf("media playlist: %w", err)
	}
	if typ != m3u8.MEDIA {
		return nil, errors.New("media playlist: got a master playlist")
	}
	mp := pl.(*m3u8.MediaPlaylist)
	var segs []Segment
	for _, s := range mp.Segments {
		if s == nil {
			continue
		}
		if strings.Contains(s.URI, "/") || strings.Contains(s.URI, "..") {
			return nil, fmt.Errorf("media playlist: segment URI %q is not a plain file name", s.URI)
		}
		segs = append(segs, Segment{URI: s.URI, Duration: s.Duration})
	}
	if len(segs) == 0 {
		return nil, errors.New("media playlist: no segments")
	}
	return segs, nil
}

// MediaPlaylist writes the HLS VOD media playlist of a track (version 7,
// fMP4).
func MediaPlaylist(t Track) []byte { return mediaPlaylist(t, false) }

// LiveMediaPlaylist writes the media playlist of a track still growing:
// an EVENT playlist (RFC 8216bis 4.4.3.5), which later versions only
// extend, without EXT-X-ENDLIST until MediaPlaylist replaces it. Players
// may seek anywhere in what it lists.
func LiveMediaPlaylist(t Track) []byte { return mediaPlaylist(t, true) }

func mediaPlaylist(t Track, live bool) []byte {
	var b strings.Builder
	playlistHead(&b, t, "", live)
	for _, s := range t.Segments {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration, s.URI)
	}
	if !live {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String())
}

// playlistHead writes the tags a media playlist starts with, extra among
// them: a VOD one's, or a live (EVENT) one's.
func playlistHead(b *strings.Builder, t Track, extra string, live bool) {
	fmt.Fprintf(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n", t.TargetDuration())
	typ := "VOD"
	if live {
		typ = "EVENT"
	}
	b.WriteString("#EXT-X-PLAYLIST-TYPE:" + typ + "\n" + extra + "#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(b, "#EXT-X-MAP:URI=%q\n", t.Init)
	writeKey(b, t)
}

// CaptionGroup is the GROUP-ID of the closed captions in the video.
const CaptionGroup = "cc"

// AudioGroup is the GROUP-ID of the title's AAC audio renditions; other
// audio codecs (E-AC-3 surround) get AudioGroup + "-" + their codec.
const AudioGroup = "audio"

// AudioGroups splits audio tracks into renditions groups by codec, AAC
// first (stereo-only players pick it), keeping their order otherwise.
func AudioGroups(audio []Track) [][]Track {
	groups := ByCodec(audio)
	notAAC := func(g []Track) int {
		if g[0].Codec == "aac" {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(groups, func(a, b []Track) int { return notAAC(a) - notAAC(b) })
	return groups
}

// audioGroupID is a group's HLS GROUP-ID.
func audioGroupID(g []Track) string {
	if g[0].Codec == "aac" || g[0].Codec == "" {
		return AudioGroup
	}
	return AudioGroup + "-" + g[0].Codec
}

// defaultIndex is the track of a group players start with: the one marked
// default, else the first that is not a commentary or description.
func defaultIndex(g []Track) int {
	if i := slices.IndexFunc(g, func(t Track) bool { return t.Default }); i >= 0 {
		return i
	}
	if i := slices.IndexFunc(g, func(t Track) bool { return t.Role == "" || t.Role == "dub" }); i >= 0 {
		return i
	}
	return 0
}

// audioNames are the NAMEs of a group's tracks, unique within it: the
// track's label, else its language's English name, else "Main", with the
// role and, where still the same, a number after it.
func audioNames(g []Track) []string {
	names := make([]string, len(g))
	for i, t := range g {
		n := t.Label
		if n == "" {
			n = LanguageName(t.Language)
		}
		if n == "" {
			n = "Main"
		}
		if t.Label == "" && t.Role != "" {
			n += " (" + t.Role + ")"
		}
		names[i] = n
	}
	return numberRepeats(names)
}

// numberRepeats makes names unique among themselves, as NAME must be
// within a rendition group: the second of a name gets " 2" after it, the
// third " 3".
func numberRepeats(names []string) []string {
	seen := map[string]int{}
	for i, n := range names {
		seen[n]++
		if k := seen[n]; k > 1 {
			names[i] = fmt.Sprintf("%s %d", n, k)
		}
	}
	return names
}

// MasterPlaylist writes the HLS master playlist: the audio renditions in
// groups by codec (EXT-X-MEDIA with LANGUAGE, NAME, DEFAULT, AUTOSELECT,
// CHANNELS), then one variant per video track and audio group, the video
// grouped by codec family in the order given, and an I-frame variant per
// video track that has I-frame ranges. BANDWIDTH and AVERAGE-BANDWIDTH
// are measured and include the group's largest audio track. Subtitle
// tracks, if any, form the SUBTITLES group every variant names.
func MasterPlaylist(video []Track, audio []Track, text ...TextTrack) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	writeSessionKey(&b, video)
	type group struct {
		id, codecs string
		peak, avg  int
	}
	var groups []group
	for _, g := range AudioGroups(audio) {
		gr := group{id: audioGroupID(g), codecs: g[0].Codecs}
		def, names := defaultIndex(g), audioNames(g)
		for i, a := range g {
			peak, avg := a.Bandwidth()
			gr.peak, gr.avg = max(gr.peak, peak), max(gr.avg, avg)
			lang := ""
			if a.Language != "" {
				lang = fmt.Sprintf(",LANGUAGE=%q", a.Language)
			}
			fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=%q%s,NAME=%q,DEFAULT=%s,AUTOSELECT=%s", gr.id, lang, names[i],
				yesNo(i == def), yesNo(a.Role != "commentary"))
			if a.Role == "description" {
				b.WriteString(`,CHARACTERISTICS="public.accessibility.describes-video"`)
			}
			fmt.Fprintf(&b, ",CHANNELS=\"%d\",URI=%q\n", max(a.Channels, 1), a.Name+"/index.m3u8")
		}
		groups = append(groups, gr)
	}
	writeTextMedia(&b, text)
	captioned := slices.ContainsFunc(video, func(v Track) bool { return v.Captions })
	if captioned {
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=%q,NAME=\"CC1\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC1\"\n", CaptionGroup)
	}
	if len(groups) == 0 {
		groups = []group{{}}
	}
	for _, family := range ByCodec(video) {
		for _, gr := range groups {
			for _, v := range family {
				peak, avg := v.Bandwidth()
				codecs := v.Codecs
				if gr.codecs != "" {
					codecs += "," + gr.codecs
				}
				fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=%q,RESOLUTION=%dx%d,FRAME-RATE=%.3f",
					peak+gr.peak, avg+gr.avg, codecs, v.Width, v.Height, v.FrameRate)
				if v.VideoRange != "" {
					fmt.Fprintf(&b, ",VIDEO-RANGE=%s", v.VideoRange)
				}
				if gr.id != "" {
					fmt.Fprintf(&b, ",AUDIO=%q", gr.id)
				}
				if len(text) > 0 {
					fmt.Fprintf(&b, ",SUBTITLES=%q", TextGroup)
				}
				if v.Captions {
					fmt.Fprintf(&b, ",CLOSED-CAPTIONS=%q", CaptionGroup)
				}
				fmt.Fprintf(&b, "\n%s/index.m3u8\n", v.Name)
			}
		}
		for _, v := range family {
			if len(v.IFrames) == 0 {
				continue
			}
			peak, avg := v.IFrameBandwidth()
			rng := ""
			if v.VideoRange != "" {
				rng = ",VIDEO-RANGE=" + v.VideoRange
			}
			fmt.Fprintf(&b, "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=%q,RESOLUTION=%dx%d%s,URI=%q\n",
				peak, avg, v.Codecs, v.Width, v.Height, rng, v.Name+"/"+IFramePlaylist)
		}
	}
	return []byte(b.String())
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

// Family names a track's switching set: its codec family, and its video
// range when that is HDR ("hevc", "hevc_pq", "av1_hlg"). A player adapts
// within a family only: never across codecs, nor between SDR and HDR.
func (t Track) Family() string {
	if t.VideoRange == "PQ" || t.VideoRange == "HLG" {
		return t.Codec + "_" + strings.ToLower(t.VideoRange)
	}
	return t.Codec
}

// ByCodec splits tracks into families (Track.Family), keeping their
// order: the switching sets a player adapts within.
func ByCodec(tracks []Track) [][]Track {
	var groups [][]Track
	index := map[string]int{}
	for _, t := range tracks {
		i, ok := index[t.Family()]
		if !ok {
			i = len(groups)
			index[t.Family()] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], t)
	}
	return groups
}

// IFrameBandwidth returns the peak and average bitrate of a track's
// I-frame playlist: keyframe bytes over the time each keyframe stands for.
func (t Track) IFrameBandwidth() (peak, avg int) {
	return t.rates(func(i int) int64 {
		if i >= len(t.IFrames) {
			return -1
		}
		return t.IFrames[i].Length
	})
}

// IFramePlaylistFor writes a track's I-frame playlist: one entry per
// segment, a byte range over the segment's first fragment header and its
// keyframe, lasting until the next keyframe.
func IFramePlaylistFor(t Track) []byte { return iframePlaylist(t, false) }

// LiveIFramePlaylist writes the I-frame playlist of a track still
// growing, an EVENT playlist as LiveMediaPlaylist.
func LiveIFramePlaylist(t Track) []byte { return iframePlaylist(t, true) }

func iframePlaylist(t Track, live bool) []byte {
	var b strings.Builder
	playlistHead(&b, t, "#EXT-X-I-FRAMES-ONLY\n", live)
	for i, r := range t.IFrames {
		if i >= len(t.Segments) {
			break
		}
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n#EXT-X-BYTERANGE:%d@%d\n%s\n", t.Segments[i].Duration, r.Length, r.Offset, t.Segments[i].URI)
	}
	if !live {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String())
}

// MPD writes a static DASH manifest (ISO BMFF live profile, SegmentTemplate
// with SegmentTimeline) over the same segments the HLS playlists list:
// one video adaptation set per codec family, so a player switches only
// within a codec, audio in others, and a text set per subtitle track.
//
// @minBufferTime is the title's longest segment, and each
// Representation's @bandwidth the least bit rate that holds with it
// (Track.DASHBandwidth).
func MPD(video []Track, audio []Track, text ...TextTrack) []byte { return mpd(video, audio, text, nil) }

// Dynamic holds what the MPD of a title still growing states beyond a
// static one's (ISO/IEC 23009-1 5.3.1.2, DASH-IF IOP 4.3): the
// presentation's anchor in wall-clock time, when this version was made,
// and how soon players should load it again.
type Dynamic struct {
	// AvailabilityStart is the wall-clock time of the title's start: a
	// segment ending at t on the title's timeline is available from
	// AvailabilityStart + t. It must stay the same in every version.
	AvailabilityStart time.Time
	Published         time.Time
	// UpdatePeriod is the MPD's minimumUpdatePeriod, in seconds.
	UpdatePeriod float64
}

// LiveMPD writes the MPD of a title still growing: type dynamic, the
// segments published so far in each SegmentTimeline, no time-shift
// buffer limit (every listed segment stays available, so players may
// seek back to the start), and no duration until MPD replaces it with
// the static manifest of the whole title.
func LiveMPD(video []Track, audio []Track, d Dynamic) []byte { return mpd(video, audio, nil, &d) }

func mpd(video []Track, audio []Track, text []TextTrack, dyn *Dynamic) []byte {
	var dur, minBuffer float64
	for _, v := range video {
		dur = max(dur, v.Duration())
		for _, s := range v.Segments {
			minBuffer = max(minBuffer, s.Duration)
		}
	}
	// Whole milliseconds, rounded up, as the MPD states it.
	minBuffer = math.Ceil(minBuffer*1000-1e-6) / 1000
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	profiles := `xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019"`
	if protected(video, audio) {
		profiles = `xmlns:cenc="urn:mpeg:cenc:2013" ` + profiles
	}
	if dyn == nil {
		fmt.Fprintf(&b, `<MPD %s type="static" mediaPresentationDuration="%s" minBufferTime="%s">`+"\n", profiles, isoDuration(dur), isoDuration(minBuffer))
	} else {
		fmt.Fprintf(&b, `<MPD %s type="dynamic" availabilityStartTime="%s" publishTime="%s" minimumUpdatePeriod="%s" minBufferTime="%s">`+"\n",
			profiles, xsDateTime(dyn.AvailabilityStart), xsDateTime(dyn.Published), isoDuration(dyn.UpdatePeriod), isoDuration(minBuffer))
	}
	b.WriteString(`  <Period id="0" start="PT0S">` + "\n")
	groups := ByCodec(video)
	for id, group := range groups {
		maxW, maxH := 0, 0
		for _, v := range group {
			maxW, maxH = max(maxW, v.Width), max(maxH, v.Height)
		}
		// selectionPriority: players that can play several codecs start
		// with the one listed first (H.264 first in the default order).
		fmt.Fprintf(&b, `    <AdaptationSet id="%d" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="%d" maxHeight="%d" par="%s" selectionPriority="%d">`+"\n",
			id, maxW, maxH, par(group[0].Width, group[0].Height), len(groups)-id)
		writeContentProtection(&b, group[0])
		writeColour(&b, group[0].VideoRange)
		if group[0].Captions {
			// DASH-IF IOP 6.4.3: CEA-608 in the video, channel 1.
			b.WriteString(`      <Accessibility schemeIdUri="urn:scte:dash:cc:cea-608:2015" value="CC1"/>` + "\n")
		}
		for _, v := range group {
			fmt.Fprintf(&b, `      <Representation id=%q codecs=%q bandwidth="%d" width="%d" height="%d" frameRate="%s" sar="1:1">`+"\n",
				v.Name, v.Codecs, v.DASHBandwidth(minBuffer), v.Width, v.Height, frameRate(v.FrameRate))
			writeTemplate(&b, v)
			b.WriteString("      </Representation>\n")
		}
		b.WriteString("    </AdaptationSet>\n")
	}
	// One audio adaptation set per track: a player switches language or
	// codec by switching sets. A title with one unlabelled track keeps
	// the plain set it always had.
	id := len(groups)
	for _, g := range AudioGroups(audio) {
		def, names := defaultIndex(g), audioNames(g)
		for i, a := range g {
			described := len(audio) > 1 || a.Language != "" || a.Label != ""
			lang := ""
			if a.Language != "" {
				lang = fmt.Sprintf(` lang=%q`, a.Language)
			}
			fmt.Fprintf(&b, `    <AdaptationSet id="%d" contentType="audio" mimeType="audio/mp4"%s segmentAlignment="true" startWithSAP="1">`+"\n", id, lang)
			id++
			writeContentProtection(&b, a)
			if described {
				role := "alternate"
				switch {
				case a.Role == "commentary" || a.Role == "description" || a.Role == "dub":
					role = a.Role
				case i == def:
					role = "main"
				}
				fmt.Fprintf(&b, `      <Role schemeIdUri="urn:mpeg:dash:role:2011" value=%q/>`+"\n", role)
				if a.Role == "description" {
					// DASH-IF IOP 6.2.5: audio description for the visually impaired.
					b.WriteString(`      <Accessibility schemeIdUri="urn:tva:metadata:cs:AudioPurposeCS:2007" value="1"/>` + "\n")
				}
				fmt.Fprintf(&b, "      <Label>%s</Label>\n", xmlEscape(names[i]))
			}
			fmt.Fprintf(&b, `      <Representation id=%q codecs=%q bandwidth="%d" audioSamplingRate="48000">`+"\n", a.Name, a.Codecs, a.DASHBandwidth(minBuffer))
			writeChannels(&b, a)
			writeTemplate(&b, a)
			b.WriteString("      </Representation>\n    </AdaptationSet>\n")
		}
	}
	writeTextSets(&b, text, id, dur)
	b.WriteString("  </Period>\n</MPD>\n")
	return []byte(b.String())
}

// writeChannels writes an audio representation's channel configuration:
// for E-AC-3, always 5.1 in Reel, in Dolby's scheme (the ETSI TS 102 366
// channel map of L, C, R, Ls, Rs and LFE, as DASH-IF IOP 9.2.1.2 asks),
// else as a channel count (ISO/IEC 23003-3).
func writeChannels(b *strings.Builder, a Track) {
	if a.Codec == "ec3" {
		b.WriteString(`        <AudioChannelConfiguration schemeIdUri="tag:dolby.com,2014:dash:audio_channel_configuration:2011" value="F801"/>` + "\n")
		return
	}
	fmt.Fprintf(b, `        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="%d"/>`+"\n", a.Channels)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeTemplate writes a track's SegmentTemplate: its segments' times in
// a SegmentTimeline from the track's Start, which presentationTimeOffset
// maps to the period's start.
// cicpTransfer are the transfer characteristics (ITU-T H.273) of the HDR
// video ranges.
var cicpTransfer = map[string]int{"PQ": 16, "HLG": 18}

// writeColour writes the colour descriptors of an HDR adaptation set
// (DASH-IF IOP 10.2: BT.2020 primaries and matrix, the PQ or HLG
// transfer) as EssentialProperty, so a player that cannot show HDR leaves
// the set alone.
func writeColour(b *strings.Builder, videoRange string) {
	tc, ok := cicpTransfer[videoRange]
	if !ok {
		return
	}
	for _, p := range []struct {
		scheme string
		value  int
	}{{"ColourPrimaries", 9}, {"TransferCharacteristics", tc}, {"MatrixCoefficients", 9}} {
		fmt.Fprintf(b, `      <EssentialProperty schemeIdUri="urn:mpeg:mpegB:cicp:%s" value="%d"/>`+"\n", p.scheme, p.value)
	}
}

func writeTemplate(b *strings.Builder, t Track) {
	pto := ""
	if t.Start != 0 {
		pto = fmt.Sprintf(` presentationTimeOffset="%d"`, t.Start)
	}
	fmt.Fprintf(b, `        <SegmentTemplate timescale="%d"%s initialization="%s/%s" media="%s/seg_$Number%%05d$.m4s" startNumber="0">`+"\n",
		t.Timescale, pto, t.Name, t.Init, t.Name)
	b.WriteString("          <SegmentTimeline>\n")
	for i := 0; i < len(t.Segments); {
		d := int64(math.Round(t.Segments[i].Duration * float64(t.Timescale)))
		j := i + 1
		for j < len(t.Segments) && int64(math.Round(t.Segments[j].Duration*float64(t.Timescale))) == d {
			j++
		}
		if i == 0 {
			fmt.Fprintf(b, `            <S t="%d" d="%d"`, t.Start, d)
		} else {
			fmt.Fprintf(b, `            <S d="%d"`, d)
		}
		if j-i > 1 {
			fmt.Fprintf(b, ` r="%d"`, j-i-1)
		}
		b.WriteString("/>\n")
		i = j
	}
	b.WriteString("          </SegmentTimeline>\n        </SegmentTemplate>\n")
}

func isoDuration(sec float64) string { return fmt.Sprintf("PT%.3fS", sec) }

// xsDateTime writes t as an xs:dateTime in UTC, to the millisecond.
func xsDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func frameRate(f float64) string {
	for _, den := range []int{1, 1001} {
		num := f * float64(den)
		if math.Abs(num-math.Round(num)) < 0.01 {
			if den == 1 {
				return fmt.Sprintf("%d", int(math.Round(num)))
			}
			return fmt.Sprintf("%d/%d", int(math.Round(num)), den)
		}
	}
	return fmt.Sprintf("%.3f", f)
}

func par(w, h int) string {
	g := gcd(w, h)
	if g == 0 {
		return "1:1"
	}
	return fmt.Sprintf("%d:%d", w/g, h/g)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Sprites describes thumbnail sprite sheets: Count thumbnails of W×H, one
// every Interval seconds from 0, laid out Cols×Rows per sheet, row by row.
type Sprites struct {
	Count      int
	Interval   float64
	Duration   float64 // of the title: the last cue ends there
	W, H       int
	Cols, Rows int
	// Sheet names sheet i (relative to the VTT file).
	Sheet func(i int) string
}

// ThumbnailsVTT writes the WebVTT thumbnail track of sprite sheets: cue k
// spans [k·Interval, (k+1)·Interval) and points at its tile with a media
// fragment (#xywh=x,y,w,h).
func ThumbnailsVTT(s Sprites) []byte {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	per := s.Cols * s.Rows
	for k := 0; k < s.Count; k++ {
		start := float64(k) * s.Interval
		end := math.Min(start+s.Interval, s.Duration)
		if k == s.Count-1 {
			end = s.Duration
		}
		if end <= start {
			break
		}
		tile := k % per
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(start), vttTime(end), s.Sheet(k/per),
			(tile%s.Cols)*s.W, (tile/s.Cols)*s.H, s.W, s.H)
	}
	return []byte(b.String())
}

// vttTime formats seconds as WebVTT's hh:mm:ss.ttt.
func vttTime(sec float64) string {
	ms := int64(math.Round(sec * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}
