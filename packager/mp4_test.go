package packager

import "testing"

func TestCodecStringRejectsGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("garbage"), {0, 0, 0, 9, 'm', 'o', 'o', 'v', 0}} {
		if _, err := CodecString(in); err == nil {
			t.Errorf("CodecString(%q) succeeded", in)
		}
	}
}

func FuzzCodecString(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'v'})
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = CodecString(data) })
}

func TestIFrameRangeRejectsGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("garbage!"), {0, 0, 0, 8, 'm', 'o', 'o', 'f'}, {0, 0, 0, 99, 'm', 'o', 'o', 'f'}} {
		if _, _, err := IFrameRange(in); err == nil {
			t.Errorf("IFrameRange(%q) succeeded", in)
		}
	}
}

func FuzzIFrameRange(f *testing.F) {
	f.Add([]byte{0, 0, 0, 16, 'm', 'o', 'o', 'f', 0, 0, 0, 8, 't', 'r', 'a', 'f'})
	f.Fuzz(func(t *testing.T, data []byte) {
		off, n, err := IFrameRange(data)
		if err == nil && (off < 0 || n <= 0 || off+n > int64(len(data))) {
			t.Fatalf("range %d+%d outside %d bytes", off, n, len(data))
		}
	})
}
