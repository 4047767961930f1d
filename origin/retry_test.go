package origin

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{minio.ErrorResponse{StatusCode: 503, Code: "ServiceUnavailable"}, true},
		{minio.ErrorResponse{StatusCode: 500, Code: "InternalError"}, true},
		{minio.ErrorResponse{StatusCode: 429, Code: "SlowDown"}, true},
		{minio.ErrorResponse{StatusCode: 404, Code: "NoSuchKey"}, false},
		{minio.ErrorResponse{StatusCode: 403, Code: "AccessDenied"}, false},
		{&fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}, false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryStopsOnFinalErrors(t *testing.T) {
	s := &S3{cfg: Config{RetryFor: 5 * time.Second}}
	calls := 0
	err := s.retry(context.Background(), func() error {
		calls++
		return minio.ErrorResponse{StatusCode: 404, Code: "NoSuchKey"}
	})
	if calls != 1 || err == nil {
		t.Errorf("a final error was tried %d times (%v)", calls, err)
	}
	calls = 0
	start := time.Now()
	err = s.retry(context.Background(), func() error {
		calls++
		if calls < 3 {
			return errors.New("connection reset by peer")
		}
		return nil
	})
	if err != nil || calls != 3 || time.Since(start) < 3*time.Second-100*time.Millisecond {
		t.Errorf("transient errors: %d calls, %v, %s", calls, err, time.Since(start))
	}
}
