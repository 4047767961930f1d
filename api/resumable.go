package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	expslog "golang.org/x/exp/slog"

	"github.com/reel-video/reel/pipeline"
)

// UploadStore keeps resumable uploads: tusd's S3 store
// (origin.S3.UploadStore) in production.
type UploadStore interface {
	handler.DataStore
	UseIn(composer *handler.StoreComposer)
	AsTerminatableUpload(upload handler.Upload) handler.TerminatableUpload
}

// ResumableConfig configures the tus endpoint.
type ResumableConfig struct {
	// Store keeps the uploads and their records.
	Store   UploadStore
	MaxSize int64
	// Stall ends a PATCH whose client sends nothing for this long; the
	// bytes received so far are kept.
	Stall time.Duration
	// Locker serializes the requests of one upload; it must be shared by
	// every API instance (store.UploadLocker). Default: within this
	// process only.
	Locker handler.Locker
}

// UploadActivity is a resumable upload the store holds and when it last
// received bytes.
type UploadActivity struct {
	ID         string
	LastActive time.Time
}

// Resumable is the tus 1.0 endpoint at /v1/uploads/: POST creates an
// upload, PATCH appends from its offset, HEAD tells the offset to resume
// from, DELETE abandons it. A finished upload becomes a job through
// POST /v1/jobs with {"upload": ID}.
type Resumable struct {
	h      *handler.Handler
	store  UploadStore
	locker handler.Locker
}

// NewResumable builds the tus endpoint over cfg.Store.
func NewResumable(cfg ResumableConfig) (*Resumable, error) {
	st := cfg.Store
	composer := handler.NewStoreComposer()
	st.UseIn(composer)
	locker := cfg.Locker
	if locker == nil {
		locker = memorylocker.New()
	}
	composer.UseLocker(locker)
	stall := cfg.Stall
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	h, err := handler.NewHandler(handler.Config{
		BasePath: "/v1/uploads/", StoreComposer: composer, MaxSize: cfg.MaxSize,
		DisableDownload: true, DisableConcatenation: true, NetworkTimeout: stall,
		// tusd logs every request at info; its warnings and errors are kept.
		Logger: expslog.New(expslog.NewTextHandler(os.Stderr, &expslog.HandlerOptions{Level: expslog.LevelWarn})),
		PreUploadCreateCallback: func(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
			c, _ := ev.Context.Value(callerKey{}).(*callerInfo)
			if c == nil {
				return handler.HTTPResponse{}, handler.FileInfoChanges{}, handler.NewError("unauthorized", "no API key", http.StatusUnauthorized)
			}
			if ev.Upload.SizeIsDeferred || ev.Upload.Size <= 0 {
				return handler.HTTPResponse{}, handler.FileInfoChanges{}, handler.NewError("invalid",
					"send Upload-Length with the file's size (more than 0 bytes); deferred lengths are not accepted", http.StatusBadRequest)
			}
			meta := handler.MetaData{"filename": displayName(ev.Upload.MetaData["filename"]), "tenant": c.Tenant, "key": c.ID}
			return handler.HTTPResponse{}, handler.FileInfoChanges{MetaData: meta}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tus handler: %w", err)
	}
	return &Resumable{h: h, store: st, locker: locker}, nil
}

// Handler serves the endpoint; HEAD, PATCH and DELETE of another tenant's
// upload are answered 404.
func (u *Resumable) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1/uploads"), "/")
		if id != "" && r.Method != http.MethodOptions {
			info, err := u.Info(r.Context(), id)
			if err == nil && !ownsUpload(r, info) {
				err = handler.ErrNotFound
			}
			if err != nil {
				if errors.Is(err, handler.ErrNotFound) {
					w.Header().Set("Tus-Resumable", "1.0.0")
					writeError(w, http.StatusNotFound, "not_found", "no upload with id "+id+"; start a new one")
					return
				}
				writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot read the upload now; try again shortly")
				return
			}
		}
		// tusd reads the caller from the request context in its hooks.
		c := caller(r)
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, &callerInfo{Tenant: c.Tenant, ID: c.ID}))
		jw := &jsonErrors{ResponseWriter: w}
		http.StripPrefix("/v1/uploads", u.h).ServeHTTP(jw, r)
		jw.finish()
	})
}

// jsonErrors turns tusd's plain-text error answers ("ERR_CODE: message")
// into the API's JSON errors; other answers pass through untouched.
type jsonErrors struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (j *jsonErrors) WriteHeader(code int) {
	if code >= 400 && j.status == 0 {
		j.status = code
		return
	}
	j.ResponseWriter.WriteHeader(code)
}

func (j *jsonErrors) Write(p []byte) (int, error) {
	if j.status != 0 {
		if len(j.body) < 4096 {
			j.body = append(j.body, p...)
		}
		return len(p), nil
	}
	return j.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (tusd sets
// read deadlines through it).
func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }

func (j *jsonErrors) finish() {
	if j.status == 0 {
		return
	}
	code, msg, ok := strings.Cut(strings.TrimSpace(string(j.body)), ": ")
	if !ok {
		code, msg = "", strings.TrimSpace(string(j.body))
	}
	switch code {
	case "ERR_MAX_SIZE_EXCEEDED":
		code, msg = "too_large", "the upload is larger than the limit (REEL_MAX_UPLOAD_BYTES)"
	case "ERR_UPLOAD_NOT_FOUND":
		code = "not_found"
	case "ERR_MISMATCHED_OFFSET":
		code, msg = "conflict", "Upload-Offset is not the upload's offset; HEAD the upload and send from its Upload-Offset"
	case "":
		code = "invalid"
	default:
		code = strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	}
	if msg == "" {
		msg = http.StatusText(j.status)
	}
	j.ResponseWriter.Header().Del("Content-Length")
	writeError(j.ResponseWriter, j.status, code, msg)
}

// callerInfo is the caller as tusd's hooks see it.
type callerInfo struct{ Tenant, ID string }

func ownsUpload(r *http.Request, info handler.FileInfo) bool {
	c := caller(r)
	return c.Admin || (c.Tenant != "" && info.MetaData["tenant"] == c.Tenant)
}

// Info returns an upload's record.
func (u *Resumable) Info(ctx context.Context, id string) (handler.FileInfo, error) {
	up, err := u.store.GetUpload(ctx, id)
	if err != nil {
		return handler.FileInfo{}, err
	}
	return up.GetInfo(ctx)
}

// jobForUpload is the id of the job made from an upload: the same upload
// always makes the same job, so a client that lost the answer can ask again.
func jobForUpload(uploadID string) string {
	return uuid.NewSHA1(uploadNamespace, []byte(uploadID)).String()
}

var uploadNamespace = uuid.MustParse("6f1c2a4e-8f0b-4d7e-9b7a-2a7f3c1d5e90")

// createFromResumable makes the job of a finished resumable upload.
func (s *Server) createFromResumable(w http.ResponseWriter, r *http.Request, req createRequest) {
	if s.Resumable == nil {
		writeError(w, http.StatusNotFound, "not_found", "resumable uploads are not enabled on this server")
		return
	}
	info, err := s.Resumable.Info(r.Context(), req.Upload)
	if err == nil && !ownsUpload(r, info) {
		err = handler.ErrNotFound
	}
	if errors.Is(err, handler.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no upload with id "+req.Upload)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if info.Offset != info.Size {
		writeError(w, http.StatusConflict, "upload_incomplete",
			fmt.Sprintf("upload %s has %d of %d bytes; finish it (PATCH from offset %d) first", req.Upload, info.Offset, info.Size, info.Offset))
		return
	}
	id := jobForUpload(info.ID)
	if j, err := s.Svc.Store.Get(r.Context(), id); err == nil {
		s.writeView(w, r, http.StatusOK, j)
		return
	}
	l, err := parseLadder(req.Ladder)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_ladder", err.Error())
		return
	}
	src := pipeline.SourceRef{Bucket: info.Storage["Bucket"], Key: info.Storage["Key"], Name: info.MetaData["filename"], Size: info.Size}
	if src.Bucket == "" || !strings.HasPrefix(src.Key, pipeline.UploadsPrefix) {
		s.fail(w, r, fmt.Errorf("upload %s has no storage location", info.ID))
		return
	}
	s.submitWith(w, r, &pipeline.Job{ID: id, Tenant: info.MetaData["tenant"], Ladder: l, Input: src}, req.SubtitleFiles)
}

// Expired is what an expiry sweep did.
type Expired struct {
	Uploads int   // abandoned uploads removed
	Bytes   int64 // bytes they had received
	Kept    int   // uploads seen and kept: active, or a job's master
}

// Expire removes the uploads in list that received nothing since before
// and are not a job's master (hasJob says whether the job made from a
// finished upload exists): their record, their data and the parts of
// their multipart upload, which is aborted. An upload whose lock is held
// (a transfer in progress) is left for the next sweep.
func (u *Resumable) Expire(ctx context.Context, list []UploadActivity, before time.Time, hasJob func(ctx context.Context, jobID string) (bool, error)) (Expired, error) {
	var rep Expired
	for _, a := range list {
		if a.LastActive.After(before) {
			rep.Kept++
			continue
		}
		info, err := u.Info(ctx, a.ID)
		if errors.Is(err, handler.ErrNotFound) {
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("upload %s: %w", a.ID, err)
		}
		if info.Offset == info.Size {
			ok, err := hasJob(ctx, jobForUpload(info.ID))
			if err != nil {
				return rep, err
			}
			if ok {
				rep.Kept++
				continue
			}
		}
		removed, err := u.terminate(ctx, a.ID)
		if err != nil {
			return rep, fmt.Errorf("expire upload %s: %w", a.ID, err)
		}
		if removed {
			rep.Uploads++
			rep.Bytes += info.Offset
		} else {
			rep.Kept++
		}
	}
	return rep, nil
}

// terminate removes upload id under its lock; false when a transfer
// holds the lock.
func (u *Resumable) terminate(ctx context.Context, id string) (bool, error) {
	lock, err := u.locker.NewLock(id)
	if err != nil {
		return false, err
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	err = lock.Lock(lctx, func() {})
	cancel()
	if errors.Is(err, handler.ErrLockTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer func() { _ = lock.Unlock() }()
	up, err := u.store.GetUpload(ctx, id)
	if errors.Is(err, handler.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, u.store.AsTerminatableUpload(up).Terminate(ctx)
}
