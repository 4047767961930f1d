package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runner runs ffmpeg and ffprobe binaries.
type Runner struct {
	// FFmpeg and FFprobe are the binaries to run; default "ffmpeg", "ffprobe".
	FFmpeg, FFprobe string
}

// Progress is one report from ffmpeg's -progress output.
type Progress struct {
	Frames  int64         // frames written to the first output
	OutTime time.Duration // media time written
}

// ExitError is an ffmpeg or ffprobe run that failed; Stderr holds the tail of
// what the tool printed.
type ExitError struct {
	Tool   string
	Err    error
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("%s: %v", e.Tool, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Tool, e.Err, msg)
}

func (e *ExitError) Unwrap() error { return e.Err }

// tailBuffer keeps the last n bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (r *Runner) ffmpeg() string {
	if r.FFmpeg == "" {
		return "ffmpeg"
	}
	return r.FFmpeg
}

func command(ctx context.Context, bin string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	// Its own process group, so a canceled run takes any helper with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	// SVT-AV1 prints its banner to stderr unless told to log errors only.
	cmd.Env = append(os.Environ(), "SVT_LOG=1")
	return cmd
}

// Run runs ffmpeg with args (as built by this package, which ask for
// -progress pipe:1) and calls onProgress, if not nil, for each report. The
// process is killed when ctx is done.
func (r *Runner) Run(ctx context.Context, args []string, onProgress func(Progress)) error {
	cmd := command(ctx, r.ffmpeg(), args)
	stderr := &tailBuffer{n: 4096}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return &ExitError{Tool: "ffmpeg", Err: err}
	}
	readProgress(stdout, onProgress)
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ffmpeg stopped: %w", ctx.Err())
		}
		return &ExitError{Tool: "ffmpeg", Err: err, Stderr: stderr.String()}
	}
	return nil
}

func readProgress(rd io.Reader, onProgress func(Progress)) {
	sc := bufio.NewScanner(rd)
	var p Progress
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "frame":
			p.Frames, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		case "out_time_us":
			if us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && us >= 0 {
				p.OutTime = time.Duration(us) * time.Microsecond
			}
		case "progress":
			if onProgress != nil {
				onProgress(p)
			}
		}
	}
	_, _ = io.Copy(io.Discard, rd)
}

// output runs bin and returns its stdout.
func (r *Runner) output(ctx context.Context, bin string, args []string) ([]byte, error) {
	if bin == "" {
		bin = "ffprobe"
	}
	cmd := command(ctx, bin, args)
	var out bytes.Buffer
	stderr := &tailBuffer{n: 2048}
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s stopped: %w", bin, ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, &ExitError{Tool: bin, Err: err, Stderr: stderr.String()}
		}
		return nil, err
	}
	return out.Bytes(), nil
}
