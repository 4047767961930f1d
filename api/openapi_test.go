package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/metrics"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/protect"
	"github.com/reel-video/reel/store"
)

// TestOpenAPI checks the description against the server: it is a valid
// OpenAPI 3.1 document; every route the server registers is in it; and
// real requests to every operation it describes, and the server's real
// answers, validate against it (kin-openapi), so neither can drift from
// the other.
func TestOpenAPI(t *testing.T) {
	ctx := context.Background()
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the description is not valid OpenAPI: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %s, want 3.1", doc.OpenAPI)
	}
	// Every route of the server is described.
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`mux\.HandleFunc\("(GET|POST|DELETE|PUT|PATCH) (/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		if p := doc.Paths.Find(m[2]); p == nil || p.GetOperation(m[1]) == nil {
			t.Errorf("%s %s is served but not described", m[1], m[2])
		}
	}

	keys, _ := playtoken.ParseKeys("k1:" + strings.Repeat("ab", 32))
	e := setup(t, 1<<20, func(s *api.Server) {
		rdb := s.Svc.Store.(*store.Redis).C
		s.Metrics = metrics.New()
		s.Webhooks = &store.Webhooks{C: rdb}
		s.WebhookPolicy = &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		s.Signer = &playtoken.Signer{Keys: keys}
		s.KeyMaster, _ = protect.ParseMaster(strings.Repeat("cd", 32))
		s.Origin = &playtoken.Origin{Tokens: &playtoken.Checker{Keys: keys, Zone: playtoken.OriginZone}, Keys: s.ServeKey}
	})
	// Server-sent events are text to the schema.
	openapi3filter.RegisterBodyDecoder("text/event-stream", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
	// So are XML documents (CPIX).
	openapi3filter.RegisterBodyDecoder("application/xml", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	admin := e.newKey(t, "ops", true)
	covered := map[string]bool{}
	call := func(c *http.Client, method, path, ctype string, body []byte, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s: not in the description: %v", method, path, err)
		}
		covered[method+" "+route.Path] = true
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: the request does not match the description: %v", method, path, err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Options: in.Options}
		out.SetBodyBytes(got)
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s %s: the answer (%d %s) does not match the description: %v", method, path, resp.StatusCode, got, err)
		}
		return resp, got
	}
	anon := http.DefaultClient
	call(anon, "GET", "/healthz", "", nil)
	call(anon, "GET", "/v1/openapi.json", "", nil)
	call(admin, "GET", "/metrics", "", nil)

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("ladder", `{"rungs":[{"height":240,"bitrate":300000}]}`)
	fw, _ := mw.CreateFormFile("file", "a.mp4")
	_, _ = fw.Write([]byte("master"))
	_ = mw.Close()
	_, body := call(e.c, "POST", "/v1/jobs", mw.FormDataContentType(), form.Bytes())
	var job struct{ ID string }
	_ = json.Unmarshal(body, &job)
	call(e.c, "POST", "/v1/jobs", "application/json", []byte(`{"source":"ftp://x/y"}`))
	// A finished job's view: renditions, outputs and the source as probed.
	if _, err := e.api.Svc.Store.Update(ctx, job.ID, func(j *pipeline.Job) error {
		j.Status = pipeline.StatusComplete
		j.Source = &pipeline.SourceInfo{Format: "mov,mp4", Duration: 4, VideoCodec: "h264", Width: 640, Height: 360, FrameRate: "24/1"}
		j.Renditions = []pipeline.Rendition{{Rung: ladder.Rung{Name: "240p", Codec: "h264", Width: 426, Height: 240, Bitrate: 300000},
			Frames: 96, Codecs: "avc1.64001e", Bandwidth: 310000, AverageBandwidth: 290000,
			Quality: &pipeline.Quality{PSNR: 41.2, SSIM: 0.98, Frames: 96}}}
		p := "vod/" + j.ID + "/"
		j.Published = &pipeline.Published{HLS: p + "master.m3u8", DASH: p + "manifest.mpd",
			IFrames: map[string]string{"240p": p + "240p/iframes.m3u8"}, Poster: p + "poster.jpg", Thumbnails: p + "thumbs/thumbs.vtt"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	call(e.c, "GET", "/v1/jobs?limit=5", "", nil)
	call(e.c, "GET", "/v1/jobs/"+job.ID, "", nil)
	call(e.c, "GET", "/v1/play/"+job.ID, "", nil)
	call(e.c, "DELETE", "/v1/jobs/"+job.ID, "", nil)
	call(e.c, "DELETE", "/v1/jobs/"+job.ID+"/title", "", nil)
	call(e.c, "GET", "/v1/jobs/"+job.ID+"/events", "", nil)
	call(e.c, "POST", "/v1/jobs/"+job.ID+"/retry", "", nil)
	call(admin, "GET", "/v1/workers", "", nil)
	call(admin, "GET", "/v1/edges", "", nil)
	call(e.c, "GET", "/v1/edges", "", nil)

	_, body = call(admin, "POST", "/v1/keys", "application/json", []byte(`{"tenant":"initech"}`))
	var key struct{ ID string }
	_ = json.Unmarshal(body, &key)
	call(admin, "GET", "/v1/keys", "", nil)
	call(admin, "DELETE", "/v1/keys/"+key.ID, "", nil)

	tus := []string{"Tus-Resumable", "1.0.0"}
	resp, _ := call(e.c, "POST", "/v1/uploads", "", nil, append(tus, "Upload-Length", "10")...)
	loc := resp.Header.Get("Location")
	up := "/v1/uploads/" + loc[strings.LastIndex(loc, "/")+1:]
	call(e.c, "PATCH", up, "application/offset+octet-stream", []byte("12345"), append(tus, "Upload-Offset", "0")...)
	call(e.c, "HEAD", up, "", nil, tus...)
	call(e.c, "DELETE", up, "", nil, tus...)

	recv := "http://127.0.0.1:9/hook"
	_, body = call(e.c, "POST", "/v1/webhooks", "application/json", []byte(`{"url":"`+recv+`","events":["job.completed"]}`))
	var hook struct{ ID string }
	_ = json.Unmarshal(body, &hook)
	call(e.c, "POST", "/v1/webhooks", "application/json", []byte(`{"url":"http://169.254.169.254/"}`))
	call(e.c, "GET", "/v1/webhooks", "", nil)
	call(e.c, "POST", "/v1/webhooks", "application/json", []byte(`{"url":"`+recv+`","job":"`+job.ID+`","events":["job.progress"]}`))
	call(e.c, "GET", "/v1/webhooks?job="+job.ID, "", nil)
	call(e.c, "GET", "/v1/webhooks/"+hook.ID, "", nil)
	call(e.c, "GET", "/v1/webhooks/"+hook.ID+"/deliveries?limit="+strconv.Itoa(10), "", nil)
	call(e.c, "DELETE", "/v1/webhooks/"+hook.ID, "", nil)
	call(anon, "GET", "/t/k1.1.-.AAAA/vod/"+job.ID+"/master.m3u8", "", nil)

	// An encrypted title: its view, where it plays, its CPIX document,
	// its licence under its token, and a key it has none of.
	form.Reset()
	mw = multipart.NewWriter(&form)
	_ = mw.WriteField("ladder", `{"rungs":[{"height":240,"bitrate":300000}],"encryption":{"scheme":"cbcs"}}`)
	fw, _ = mw.CreateFormFile("file", "a.mp4")
	_, _ = fw.Write([]byte("master"))
	_ = mw.Close()
	_, body = call(e.c, "POST", "/v1/jobs", mw.FormDataContentType(), form.Bytes())
	var enc struct{ ID string }
	_ = json.Unmarshal(body, &enc)
	if _, err := e.api.Svc.Store.Update(ctx, enc.ID, func(j *pipeline.Job) error {
		j.Status = pipeline.StatusComplete
		j.Published = &pipeline.Published{HLS: "vod/" + j.ID + "/master.m3u8", DASH: "vod/" + j.ID + "/manifest.mpd"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	call(e.c, "GET", "/v1/jobs/"+enc.ID, "", nil)
	call(e.c, "GET", "/v1/play/"+enc.ID, "", nil)
	call(e.c, "GET", "/v1/jobs/"+enc.ID+"/cpix", "", nil)
	tok := keys.Sign("vod/"+enc.ID+"/", time.Now().Add(time.Hour), playtoken.Bind{})
	call(anon, "POST", "/t/"+tok+"/vod/"+enc.ID+"/licence", "application/json", []byte(`{"kids":["AAAAAAAAAAAAAAAAAAAAAA"],"type":"temporary"}`))
	call(anon, "GET", "/t/"+tok+"/vod/"+enc.ID+"/key", "", nil)

	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !covered[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations no request checked: %v", missing)
	}
}
