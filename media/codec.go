package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AVCCodecString returns the RFC 6381 codec string ("avc1.PPCCLL") of the
// H.264 track in an MP4 initialization segment, read from its avcC box.
func AVCCodecString(init []byte) (string, error) {
	box, err := findBox(init, []string{"moov", "trak", "mdia", "minf", "stbl", "stsd"})
	if err != nil {
		return "", err
	}
	// stsd: version/flags (4), entry count (4), then sample entries.
	if len(box) < 8 {
		return "", errors.New("avc: stsd too short")
	}
	entries := box[8:]
	if len(entries) < 8 {
		return "", errors.New("avc: no sample entry")
	}
	size := int(binary.BigEndian.Uint32(entries))
	typ := string(entries[4:8])
	if typ != "avc1" && typ != "avc3" {
		return "", fmt.Errorf("avc: sample entry is %q, not avc1", typ)
	}
	if size > len(entries) || size < 8+78 {
		return "", errors.New("avc: truncated sample entry")
	}
	// VisualSampleEntry has 78 bytes of fields before its child boxes.
	avcC, err := findBox(entries[8+78:size], []string{"avcC"})
	if err != nil {
		return "", err
	}
	if len(avcC) < 4 || avcC[0] != 1 {
		return "", errors.New("avc: bad avcC")
	}
	return fmt.Sprintf("%s.%02x%02x%02x", typ, avcC[1], avcC[2], avcC[3]), nil
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
