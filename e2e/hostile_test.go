package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reel-video/reel/internal/testenv"
	"github.com/reel-video/reel/media"
	"github.com/reel-video/reel/pipeline"
)

// hostileCase is one broken or hostile master and how it must end: refused
// at upload with status and code, failed with one of codes, or complete.
type hostileCase struct {
	name string
	// body makes the request (nil: a multipart upload of file as fileName).
	body     func(t *testing.T, s *devStack) (*http.Response, error)
	file     func(t *testing.T, dir string) []byte
	fileName string
	status   int      // for refusals
	codes    []string // error codes accepted
	complete bool     // a valid master that must go through
	// mayComplete accepts completion as well as a failure with codes.
	mayComplete bool
	// wantName is the stored display name, when it matters.
	wantName string
	// outcome is filled in as the battery runs, for the table.
	outcome, code string
}

const tinyLadder = `{"rungs":[{"height":90,"bitrate":150000}],"skip_quality":true}`

func gen(args ...string) func(t *testing.T, dir string) []byte {
	return func(t *testing.T, dir string) []byte {
		ext := "mp4"
		for i, a := range args {
			if a == "-f" && i+1 < len(args) && i > 0 && !strings.Contains(args[i+1], "lavfi") {
				ext = args[i+1]
			}
		}
		out := filepath.Join(dir, fmt.Sprintf("gen-%d.%s", rand.Int63(), ext))
		testenv.Generate(t, out, args...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
}

func bytesOf(b []byte) func(*testing.T, string) []byte {
	return func(*testing.T, string) []byte { return b }
}

var tinyVideo = []string{"-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p"}

func withArgs(base []string, extra ...string) []string { return append(slices.Clone(base), extra...) }

func cut(f func(*testing.T, string) []byte, share float64) func(*testing.T, string) []byte {
	return func(t *testing.T, dir string) []byte {
		d := f(t, dir)
		return d[:int(float64(len(d))*share)]
	}
}

func y4m(header string, frameBytes int) []byte {
	var b bytes.Buffer
	b.WriteString("YUV4MPEG2 " + header + "\n")
	for range 2 {
		b.WriteString("FRAME\n")
		b.Write(make([]byte, frameBytes))
	}
	return b.Bytes()
}

// raw sends a request and returns the response.
func (s *devStack) raw(method, path, ctype string, body io.Reader, key bool) (*http.Response, error) {
	req, err := http.NewRequest(method, s.api+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	return http.DefaultClient.Do(req)
}

// multipartBody builds a form with the given parts (name, filename, body).
func multipartBody(parts ...[3]string) (string, *bytes.Buffer) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p[0])
		if p[1] != "" {
			cd += `; filename*=UTF-8''` + p[1]
		}
		h.Set("Content-Disposition", cd)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write([]byte(p[2]))
	}
	_ = mw.Close()
	return mw.FormDataContentType(), &b
}

func hostileCases(dir string) []*hostileCase {
	hls := "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nfile:///etc/passwd\n#EXTINF:2.0,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n"
	unsupported := func(t *testing.T, dir string) []byte {
		// An AVI whose video codec tag no decoder knows.
		d := gen(withArgs(tinyVideo[:6], "-c:v", "mpeg4", "-vtag", "XVID", "-f", "avi")...)(t, dir)
		return bytes.ReplaceAll(bytes.ReplaceAll(d, []byte("XVID"), []byte("QQQQ")), []byte("FMP4"), []byte("QQQQ"))
	}
	corrupt := func(t *testing.T, dir string) []byte {
		d := gen("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p")(t, dir)
		testenv.CorruptMiddle(d)
		return d
	}
	sampleBomb := func(t *testing.T, dir string) []byte {
		d := gen(withArgs(tinyVideo, "-movflags", "+faststart")...)(t, dir)
		if i := bytes.Index(d, []byte("stsz")); i >= 0 {
			copy(d[i+12:], []byte{0x7f, 0xff, 0xff, 0xf0}) // sample count
		}
		return d
	}
	hugeBox := func(t *testing.T, dir string) []byte {
		d := gen(withArgs(tinyVideo, "-movflags", "+faststart")...)(t, dir)
		if i := bytes.Index(d, []byte("mdat")); i >= 4 {
			copy(d[i-4:], []byte{0xff, 0xff, 0xff, 0xf0})
		}
		return d
	}
	return []*hostileCase{
		// Refused at upload.
		{name: "zero bytes", file: bytesOf([]byte{}), fileName: "empty.mp4", status: 400, codes: []string{"invalid"}},
		{name: "multipart without a file part", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			ct, b := multipartBody([3]string{"ladder", "", tinyLadder})
			return s.raw("POST", "/v1/jobs", ct, b, true)
		}, status: 400, codes: []string{"invalid"}},
		{name: "two file parts", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			ct, b := multipartBody([3]string{"file", "a.mp4", "x"}, [3]string{"file", "b.mp4", "y"})
			return s.raw("POST", "/v1/jobs", ct, b, true)
		}, status: 400, codes: []string{"invalid"}},
		{name: "wrong content type (text/plain)", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			return s.raw("POST", "/v1/jobs", "text/plain", strings.NewReader("hello"), true)
		}, status: 415, codes: []string{"unsupported_media_type"}},
		{name: "no content type", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			return s.raw("POST", "/v1/jobs", "", strings.NewReader("hello"), true)
		}, status: 415, codes: []string{"unsupported_media_type"}},
		{name: "multipart without a boundary", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			return s.raw("POST", "/v1/jobs", "multipart/form-data", strings.NewReader("--x\r\n"), true)
		}, status: 400, codes: []string{"invalid"}},
		{name: "body over the upload limit", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			go func() {
				// The API may close the request early: every write
				// can fail, the first one too.
				w, err := mw.CreateFormFile("file", "big.mp4")
				if err == nil {
					_, err = io.CopyN(w, zeros{}, faultMaxUpload+1<<20)
				}
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			return s.raw("POST", "/v1/jobs", mw.FormDataContentType(), pr, true)
		}, status: 413, codes: []string{"too_large"}},
		{name: "upload that stalls", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.api, "http://"))
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { conn.Close() })
			fmt.Fprintf(conn, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\nabc", s.key)
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			return http.ReadResponse(bufio.NewReader(conn), nil)
		}, status: 408, codes: []string{"upload_stalled"}},
		{name: "invalid ladder part", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			ct, b := multipartBody([3]string{"ladder", "", `{"rungs":[{"height":-1}]}`}, [3]string{"file", "a.mp4", "x"})
			return s.raw("POST", "/v1/jobs", ct, b, true)
		}, status: 400, codes: []string{"invalid_ladder"}},
		{name: "subtitle file the ladder does not list", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			ct, b := multipartBody([3]string{"ladder", "", tinyLadder}, [3]string{"subtitles", "fr.srt", "1\n00:00:00,500 --> 00:00:01,000\nx\n"}, [3]string{"file", "a.mp4", "x"})
			return s.raw("POST", "/v1/jobs", ct, b, true)
		}, status: 400, codes: []string{"invalid_subtitles"}},
		{name: "S3 source with ..", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			return s.raw("POST", "/v1/jobs", "application/json", strings.NewReader(`{"source":"s3://reel-masters/../../etc/passwd"}`), true)
		}, status: 400, codes: []string{"invalid"}},
		{name: "S3 source in another bucket", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			return s.raw("POST", "/v1/jobs", "application/json", strings.NewReader(`{"source":"s3://reel-origin/vod/x"}`), true)
		}, status: 400, codes: []string{"invalid"}},
		{name: "no API key", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			ct, b := multipartBody([3]string{"file", "a.mp4", "x"})
			return s.raw("POST", "/v1/jobs", ct, b, false)
		}, status: 401, codes: []string{"unauthorized"}},
		{name: "tus upload over the limit", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			req, _ := http.NewRequest("POST", s.api+"/v1/uploads/", nil)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Upload-Length", strconv.Itoa(faultMaxUpload+1))
			return s.c.Do(req)
		}, status: 413, codes: []string{"too_large"}},

		// Failed jobs with a specific code.
		{name: "text file", file: bytesOf([]byte("this is not a video\nat all\n")), fileName: "notes.txt", codes: []string{media.CodeUnsupportedFormat, media.CodeUnreadable}},
		{name: "random bytes", file: func(*testing.T, string) []byte {
			b := make([]byte, 1<<20)
			rand.New(rand.NewSource(7)).Read(b)
			return b
		}, fileName: "random.mp4", codes: []string{media.CodeUnreadable}},
		{name: "truncated MP4, moov at the end (lost)", file: cut(gen(tinyVideo...), 0.6), fileName: "cut.mp4", codes: []string{media.CodeTruncated}},
		{name: "truncated MP4, moov at the start", file: cut(gen(withArgs(tinyVideo, "-movflags", "+faststart")...), 0.5), fileName: "cut-faststart.mp4", codes: []string{media.CodeTruncated}},
		{name: "MP4 whose sample table claims 2 billion samples", file: sampleBomb, fileName: "bomb.mp4", codes: []string{media.CodeUnreadable}},
		{name: "audio only", file: gen("-f", "lavfi", "-i", "sine", "-t", "2", "-c:a", "aac"), fileName: "song.m4a", codes: []string{media.CodeNoVideo}},
		{name: "subtitles only", file: func(t *testing.T, dir string) []byte {
			srt := filepath.Join(dir, "s.srt")
			_ = os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,000\nhello\n"), 0o644)
			return gen("-i", srt, "-c:s", "srt", "-f", "matroska")(t, dir)
		}, fileName: "subs.mkv", codes: []string{media.CodeNoVideo}},
		{name: "a single PNG image", file: gen("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", "-f", "image2", "-c:v", "png"), fileName: "still.png", codes: []string{media.CodeUnsupportedFormat}},
		{name: "a single JPEG image named .mp4", file: gen("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg"), fileName: "still.mp4", codes: []string{media.CodeUnsupportedFormat}},
		{name: "absurd declared size (Y4M 20000x20000)", file: bytesOf(y4m("W20000 H20000 F25:1 Ip A1:1 C420jpeg", 100)), fileName: "huge.y4m", codes: []string{media.CodeBadDimensions, media.CodeUnreadable}},
		// ffmpeg reads a Y4M rate of 0 as 25 fps.
		{name: "zero frame rate (Y4M F0:1)", file: bytesOf(y4m("W64 H64 F0:1 Ip A1:1 C420jpeg", 64*64*3/2)), fileName: "zero.y4m", codes: []string{media.CodeBadFrameRate}, mayComplete: true},
		{name: "huge frame rate (Y4M 100000 fps)", file: bytesOf(y4m("W64 H64 F100000:1 Ip A1:1 C420jpeg", 64*64*3/2)), fileName: "fast.y4m", codes: []string{media.CodeBadFrameRate}},
		{name: "corrupt frames mid-stream", file: corrupt, fileName: "corrupt.mp4", codes: []string{media.CodeCorrupt}},
		{name: "unsupported video codec (AVI tag QQQQ)", file: unsupported, fileName: "odd.avi", codes: []string{media.CodeUnsupportedCodec}},
		{name: "HLS playlist named .mp4 (local-file read trick)", file: bytesOf([]byte(hls)), fileName: "trick.mp4", codes: []string{media.CodeUnsupportedFormat}},
		{name: "ffconcat script naming a local file", file: bytesOf([]byte("ffconcat version 1.0\nfile '/etc/passwd'\n")), fileName: "list.mov", codes: []string{media.CodeUnsupportedFormat}},

		// Odd but valid: these go through.
		{name: "moov at the end (not faststart)", file: gen(tinyVideo...), fileName: "moov-end.mp4", complete: true},
		// The last box may claim to run past the end; ffmpeg reads to the end.
		{name: "MP4 whose last box claims 4 GB", file: hugeBox, fileName: "box.mp4", complete: true},
		{name: "several video streams", file: gen("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i", "smptehdbars=size=160x90:rate=25",
			"-t", "2", "-map", "0:v", "-map", "1:v", "-c:v", "libx264", "-pix_fmt", "yuv420p"), fileName: "two.mp4", complete: true},
		{name: "name with path separators and ..", file: gen(tinyVideo...), fileName: "..%2F..%2Fetc%2Fpasswd.mp4", complete: true, wantName: "passwd.mp4"},
		{name: "name with a newline and non-UTF-8 bytes", file: gen(tinyVideo...), fileName: "evil%0Aname%FF%FE.mp4", complete: true, wantName: "evilname_.mp4"},
		// A broken subtitle file is refused (a warning on the job) and the
		// video goes on.
		{name: "subtitle file that is binary, beside a valid master", body: func(t *testing.T, s *devStack) (*http.Response, error) {
			ct, b := multipartBody([3]string{"ladder", "", strings.TrimSuffix(tinyLadder, "}") + `,"subtitles":[{"file":"fr.srt","language":"fr"}]}`},
				[3]string{"subtitles", "fr.srt", "\x00\x01\x02PNG"}, [3]string{"file", "a.mp4", string(gen(tinyVideo...)(t, dir))})
			return s.raw("POST", "/v1/jobs", ct, b, true)
		}, complete: true},
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestHostileInputs(t *testing.T) {
	f := startFaults(t)
	dir := t.TempDir()
	cases := hostileCases(dir)
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	jobs := map[*hostileCase]string{}
	for _, c := range cases {
		var resp *http.Response
		var err error
		if c.body != nil {
			resp, err = c.body(t, f.devStack)
		} else {
			ct, b := multipartBody([3]string{"ladder", "", tinyLadder}, [3]string{"file", c.fileName, string(c.file(t, dir))})
			resp, err = f.raw("POST", "/v1/jobs", ct, b, true)
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m struct {
			ID    string
			Name  string
			Error struct{ Code, Message string }
		}
		jerr := json.Unmarshal(data, &m)
		if c.status != 0 {
			c.outcome, c.code = strconv.Itoa(resp.StatusCode), m.Error.Code
			if resp.StatusCode != c.status || jerr != nil || (len(c.codes) > 0 && !slices.Contains(c.codes, m.Error.Code)) || m.Error.Message == "" && c.codes != nil {
				t.Errorf("%s: %d %s, want %d %v", c.name, resp.StatusCode, data, c.status, c.codes)
			}
			continue
		}
		if resp.StatusCode != 201 {
			t.Errorf("%s: upload answered %d %s", c.name, resp.StatusCode, data)
			continue
		}
		if strings.ContainsAny(m.Name, "/\\\n\r") || !utf8.ValidString(m.Name) || (c.wantName != "" && m.Name != c.wantName) {
			t.Errorf("%s: stored name %q, want %q", c.name, m.Name, c.wantName)
		}
		jobs[c] = m.ID
	}
	// Every job ends, quickly, the way its case says.
	deadline := time.Now().Add(5 * time.Minute)
	for _, c := range cases {
		id, ok := jobs[c]
		if !ok {
			continue
		}
		v := f.awaitEnd(t, id, time.Until(deadline))
		c.outcome = string(v.Status)
		if v.Error != nil {
			c.code = v.Error.Code
		}
		switch {
		case c.complete && v.Status != pipeline.StatusComplete:
			t.Errorf("%s: %s %+v, want complete", c.name, v.Status, v.Error)
		case c.mayComplete && v.Status == pipeline.StatusComplete:
		case !c.complete && (v.Status != pipeline.StatusFailed || v.Error == nil || !slices.Contains(c.codes, v.Error.Code)):
			t.Errorf("%s: %s %+v, want failed with %v", c.name, v.Status, v.Error, c.codes)
		case !c.complete && strings.Contains(v.Error.Message, "retries"):
			t.Errorf("%s: retried a master that cannot work: %s", c.name, v.Error.Message)
		}
		if v.Status == pipeline.StatusFailed {
			// The master of a failed job is kept for inspection.
			if _, err := f.s3.Stat(context.Background(), f.s3.Bucket(), pipeline.MasterKey(id)); err != nil {
				t.Errorf("%s: master gone: %v", c.name, err)
			}
		}
		if c.name == "several video streams" && !strings.Contains(strings.Join(v.Source.Notes, " "), "streams left out") {
			t.Errorf("%s: notes %v", c.name, v.Source.Notes)
		}
	}
	// The workers still serve.
	if n := len(f.workers(t)); n != 2 {
		t.Errorf("%d workers after the battery", n)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| # | input | outcome | error code |\n|---|---|---|---|\n")
	for i, c := range cases {
		fmt.Fprintf(&table, "| %d | %s | %s | %s |\n", i+1, c.name, c.outcome, c.code)
	}
	t.Logf("battery:\n%s", table.String())
	if p := os.Getenv("REEL_BATTERY_TABLE"); p != "" {
		_ = os.WriteFile(p, []byte(table.String()), 0o644)
	}
}
