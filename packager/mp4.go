package packager

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// CodecString returns the RFC 6381 codec string of the video track in an
// MP4 initialization segment, read from its decoder configuration box:
// avc1.PPCCLL (avcC), hvc1.P.C.TL.B (hvcC), vp09.PP.LL.DD (vpcC) or
// av01.P.LLT.DD (av1C). Profile, level, tier and bit depth come from the
// encoded stream, never from a table.
func CodecString(init []byte) (string, error) {
	box, err := findBox(init, []string{"moov", "trak", "mdia", "minf", "stbl", "stsd"})
	if err != nil {
		return "", err
	}
	// stsd: version/flags (4), entry count (4), then sample entries.
	if len(box) < 8 {
		return "", errors.New("codec: stsd too short")
	}
	entries := box[8:]
	if len(entries) < 8 {
		return "", errors.New("codec: no sample entry")
	}
	size := int(binary.BigEndian.Uint32(entries))
	typ := string(entries[4:8])
	// VisualSampleEntry has 78 bytes of fields before its child boxes.
	if size > len(entries) || size < 8+78 {
		return "", errors.New("codec: truncated sample entry")
	}
	children := entries[8+78 : size]
	switch typ {
	case "avc1", "avc3":
		c, err := findBox(children, []string{"avcC"})
		if err != nil {
			return "", err
		}
		if len(c) < 4 || c[0] != 1 {
			return "", errors.New("codec: bad avcC")
		}
		return fmt.Sprintf("%s.%02x%02x%02x", typ, c[1], c[2], c[3]), nil
	case "hvc1", "hev1":
		c, err := findBox(children, []string{"hvcC"})
		if err != nil {
			return "", err
		}
		return hevcString(typ, c)
	case "vp09":
		c, err := findBox(children, []string{"vpcC"})
		if err != nil {
			return "", err
		}
		// Full box: version and flags, then profile, level, and bit depth
		// in the high nibble of the next byte.
		if len(c) < 7 || c[0] != 1 {
			return "", errors.New("codec: bad vpcC")
		}
		return fmt.Sprintf("vp09.%02d.%02d.%02d", c[4], c[5], c[6]>>4), nil
	case "av01":
		c, err := findBox(children, []string{"av1C"})
		if err != nil {
			return "", err
		}
		if len(c) < 4 || c[0] != 0x81 {
			return "", errors.New("codec: bad av1C")
		}
		profile, level := c[1]>>5, c[1]&0x1f
		tier := "M"
		if c[2]&0x80 != 0 {
			tier = "H"
		}
		depth := 8
		if c[2]&0x40 != 0 {
			depth = 10
			if c[2]&0x20 != 0 {
				depth = 12
			}
		}
		return fmt.Sprintf("av01.%d.%02d%s.%02d", profile, level, tier, depth), nil
	}
	return "", fmt.Errorf("codec: sample entry %q is not a supported video codec", typ)
}

// hevcString formats an hvcC box as ISO/IEC 14496-15 Annex E describes:
// profile space and profile, the compatibility flags in reverse bit order,
// tier and level, then the constraint bytes without trailing zeros.
func hevcString(typ string, c []byte) (string, error) {
	if len(c) < 13 || c[0] != 1 {
		return "", errors.New("codec: bad hvcC")
	}
	space := [...]string{"", "A", "B", "C"}[c[1]>>6]
	tier := "L"
	if c[1]&0x20 != 0 {
		tier = "H"
	}
	profile := c[1] & 0x1f
	compat := binary.BigEndian.Uint32(c[2:6])
	var rev uint32
	for i := 0; i < 32; i++ {
		if compat&(1<<i) != 0 {
			rev |= 1 << (31 - i)
		}
	}
	s := fmt.Sprintf("%s.%s%d.%X.%s%d", typ, space, profile, rev, tier, c[12])
	constraints := c[6:12]
	last := len(constraints)
	for last > 0 && constraints[last-1] == 0 {
		last--
	}
	for _, b := range constraints[:last] {
		s += fmt.Sprintf(".%X", b)
	}
	return s, nil
}

// findBox walks the ISO BMFF box path and returns the payload of the last box.
func findBox(data []byte, path []string) ([]byte, error) {
	for _, name := range path {
		found := false
		for len(data) >= 8 {
			size := uint64(binary.BigEndian.Uint32(data))
			typ := string(data[4:8])
			hdr := uint64(8)
			if size == 1 {
				if len(data) < 16 {
					return nil, errors.New("mp4: truncated box header")
				}
				size, hdr = binary.BigEndian.Uint64(data[8:]), 16
			} else if size == 0 {
				size = uint64(len(data))
			}
			if size < hdr || size > uint64(len(data)) {
				return nil, fmt.Errorf("mp4: box %q has bad size %d", typ, size)
			}
			if typ == name {
				data = data[hdr:size]
				found = true
				break
			}
			data = data[size:]
		}
		if !found {
			return nil, fmt.Errorf("mp4: no %s box", name)
		}
	}
	return data, nil
}

// IFrameRange returns the byte range of a CMAF media segment that holds
// its first movie fragment box and the first sample of that fragment: the
// keyframe an HLS I-frame playlist points at. It reads the trun (and tfhd
// defaults) of the first moof.
func IFrameRange(seg []byte) (offset, length int64, err error) {
	var off int64
	data := seg
	for len(data) >= 8 {
		size := int64(binary.BigEndian.Uint32(data))
		typ := string(data[4:8])
		hdr := int64(8)
		if size == 1 && len(data) >= 16 {
			size, hdr = int64(binary.BigEndian.Uint64(data[8:])), 16
		}
		if size < hdr || size > int64(len(data)) {
			return 0, 0, fmt.Errorf("segment: box %q has bad size %d", typ, size)
		}
		if typ == "moof" {
			first, err := firstSample(data[hdr:size])
			if err != nil {
				return 0, 0, err
			}
			if first.end() > int64(len(seg))-off {
				return 0, 0, errors.New("segment: first sample runs past the end")
			}
			return off, first.end(), nil
		}
		off += size
		data = data[size:]
	}
	return 0, 0, errors.New("segment: no moof box")
}

// sampleSpan is where a fragment's first sample lies, relative to its moof.
type sampleSpan struct{ dataOffset, size int64 }

func (s sampleSpan) end() int64 { return s.dataOffset + s.size }

// firstSample reads the first traf of a moof payload.
func firstSample(moof []byte) (sampleSpan, error) {
	traf, err := findBox(moof, []string{"traf"})
	if err != nil {
		return sampleSpan{}, err
	}
	tfhd, err := findBox(traf, []string{"tfhd"})
	if err != nil {
		return sampleSpan{}, err
	}
	if len(tfhd) < 8 {
		return sampleSpan{}, errors.New("segment: short tfhd")
	}
	var defaultSize int64
	tf := binary.BigEndian.Uint32(tfhd) & 0xffffff
	p := 8 // version/flags, track id
	for _, f := range []struct {
		flag uint32
		n    int
	}{{0x1, 8}, {0x2, 4}, {0x8, 4}, {0x10, 4}} {
		if tf&f.flag == 0 {
			continue
		}
		if len(tfhd) < p+f.n {
			return sampleSpan{}, errors.New("segment: short tfhd")
		}
		if f.flag == 0x10 {
			defaultSize = int64(binary.BigEndian.Uint32(tfhd[p:]))
		}
		p += f.n
	}
	trun, err := findBox(traf, []string{"trun"})
	if err != nil {
		return sampleSpan{}, err
	}
	if len(trun) < 8 {
		return sampleSpan{}, errors.New("segment: short trun")
	}
	flags := binary.BigEndian.Uint32(trun) & 0xffffff
	if binary.BigEndian.Uint32(trun[4:]) == 0 {
		return sampleSpan{}, errors.New("segment: empty trun")
	}
	p = 8
	var s sampleSpan
	if flags&0x1 != 0 {
		if len(trun) < p+4 {
			return sampleSpan{}, errors.New("segment: short trun")
		}
		s.dataOffset = int64(int32(binary.BigEndian.Uint32(trun[p:])))
		p += 4
	}
	if flags&0x4 != 0 {
		p += 4
	}
	if flags&0x100 != 0 {
		p += 4
	}
	s.size = defaultSize
	if flags&0x200 != 0 {
		if len(trun) < p+4 {
			return sampleSpan{}, errors.New("segment: short trun")
		}
		s.size = int64(binary.BigEndian.Uint32(trun[p:]))
	}
	if s.dataOffset <= 0 || s.size <= 0 {
		return sampleSpan{}, errors.New("segment: trun gives no data offset or sample size")
	}
	return s, nil
}
