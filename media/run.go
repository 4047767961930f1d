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
	"slices"
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
	// Prlimit runs a tool under Limits; default "prlimit" (util-linux).
	Prlimit string
	// ProbeLimits bound the probe, the decode checks and idet.
	ProbeLimits Limits
}

// Cmd is one ffmpeg run.
type Cmd struct {
	Args   []string
	Limits Limits
	// OnProgress, if set, gets each -progress report.
	OnProgress func(Progress)
	// Strict stops the run at the first decoded frame the decoder marks
	// damaged (ffmpeg's -xerror) and returns a *CorruptError. Decoders also
	// log errors about data they recover from without a damaged frame (at a
	// joint between pieces, say); those do not stop it.
	Strict bool
	// Decoder is the name the input's video decoder logs under (see
	// DecoderName), to quote its first error in a *CorruptError.
	Decoder string
	// Env is added to the run's environment (EncodeSpec.StatsEnv).
	Env []string
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
	msg := strings.TrimSpace(redact(e.Stderr))
	if msg == "" {
		return fmt.Sprintf("%s: %v", e.Tool, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Tool, e.Err, msg)
}

func (e *ExitError) Unwrap() error { return e.Err }

// transientMarks are what ffmpeg prints when a run failed for a reason
// outside the master: the object store's HTTP connection, the disk, the
// machine.
var transientMarks = []string{"[http @ ", "[https @ ", "[tcp @ ", "[tls @ ", "Connection refused", "Connection reset",
	"timed out", "Server returned", "HTTP error", "Stream ends prematurely", "I/O error", "Input/output error",
	"No space left on device", "Cannot allocate memory", "Broken pipe", "Network is unreachable", "Failed to resolve",
	"Resource temporarily unavailable"}

// transient says whether what ffmpeg printed marks a failure outside the
// master (transientMarks).
func transient(stderr string) bool {
	return slices.ContainsFunc(transientMarks, func(m string) bool { return strings.Contains(stderr, m) })
}

// timestampMarks are what muxers print for timestamps they cannot write.
var timestampMarks = []string{"unknown timestamp", "non monotonically increasing dts", "Invalid timestamps", "pts < dts", "Non-monotonous DTS"}

// Permanent says whether a failed ffmpeg run will fail again the same way
// when retried, and if so returns the MediaError to fail the job with: the
// run ended by itself (not by a signal, a deadline or a limit) with an
// error about the master's own streams, not about the network, the disk
// or memory. where names what failed ("the split", "the audio").
func (e *ExitError) Permanent(where string) (*MediaError, bool) {
	var ee *exec.ExitError
	if !errors.As(e.Err, &ee) || ee.ProcessState == nil || !ee.Exited() || ee.ExitCode() <= 0 {
		return nil, false
	}
	tail := redact(e.Stderr)
	if transient(tail) {
		return nil, false
	}
	line := lastLine(tail)
	for _, m := range timestampMarks {
		if strings.Contains(tail, m) {
			return &MediaError{Code: CodeBadTimestamps, Msg: fmt.Sprintf(
				"%s failed on the master's timestamps (%s), which Reel cannot rebuild; remux or re-export the master (for example with ffmpeg -fflags +genpts -i master -c copy out.mkv) and upload it again", where, line)}, true
		}
	}
	return &MediaError{Code: CodeUnprocessable, Msg: fmt.Sprintf(
		"%s failed on the master (%s) and would fail the same way again; re-export the master in a common format and upload it again", where, line)}, true
}

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

func (r *Runner) command(ctx context.Context, bin string, args []string, lim Limits) *exec.Cmd {
	if la := lim.args(); len(la) > 0 {
		// prlimit sets the limits and execs the tool in its place.
		pl := r.Prlimit
		if pl == "" {
			pl = "prlimit"
		}
		args = append(append(la, "--", bin), args...)
		bin = pl
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	// Its own process group, so a canceled run takes any helper with it;
	// killed with the worker, so a worker that dies leaves no ffmpeg behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	// SVT-AV1 prints its banner to stderr unless told to log errors only.
	cmd.Env = append(os.Environ(), "SVT_LOG=1")
	return cmd
}

// Run runs ffmpeg with c.Args (as built by this package, which ask for
// -progress pipe:1) under c.Limits and calls c.OnProgress, if set, for each
// report. The process is killed when ctx is done. A run stopped by a limit
// returns a *LimitError.
func (r *Runner) Run(ctx context.Context, c Cmd) error {
	args := c.Args
	if c.Strict {
		args = append([]string{"-xerror"}, args...)
	}
	cmd := r.command(ctx, r.ffmpeg(), args, c.Limits)
	cmd.Env = append(cmd.Env, c.Env...)
	stderr := &tailBuffer{n: 4096}
	watch := &lineWatch{prefix: "[" + c.Decoder + " @ "}
	cmd.Stderr = stderr
	if c.Decoder != "" {
		cmd.Stderr = io.MultiWriter(stderr, watch)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return &ExitError{Tool: "ffmpeg", Err: err}
	}
	readProgress(stdout, c.OnProgress)
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ffmpeg stopped: %w", ctx.Err())
		}
		if le := limitError(cmd, c.Limits, stderr.String(), err); le != nil {
			return le
		}
		if tail := stderr.String(); c.Strict && damaged(tail, c.Decoder) {
			line := watch.first()
			if line == "" {
				line = lastLine(tail)
			}
			return &CorruptError{Decoder: c.Decoder, Line: line}
		}
		return &ExitError{Tool: "ffmpeg", Err: err, Stderr: stderr.String()}
	}
	return nil
}

// damaged reports whether a run stopped by -xerror stopped on damaged
// input: a frame the decoder marked, a decode error, or a last word from
// the decoder or its parser (which logs as NULL). A run can also end in
// the demuxer first, with "Invalid data found when processing input",
// when the bitstream filter that reframes the stream's packets (such as
// h264_mp4toannexb) meets the same damage the decoder met: which of the
// two stops the run first depends on thread timing, so both count when
// the decoder or a bitstream filter complained.
func damaged(stderr, decoder string) bool {
	last := lastLine(stderr)
	if strings.Contains(stderr, "corrupt decoded frame") || strings.Contains(stderr, "Error while decoding stream") ||
		strings.HasPrefix(last, "[NULL @ ") || (decoder != "" && strings.HasPrefix(last, "["+decoder+" @ ")) {
		return true
	}
	return strings.HasSuffix(last, "Invalid data found when processing input") &&
		((decoder != "" && strings.Contains(stderr, "["+decoder+" @ ")) || strings.Contains(stderr, "filter failed to receive output packet"))
}

// limitError says which limit stopped a failed run, if one did: the CPU
// time it used, the signal that ended it, or the allocation failure it
// printed.
func limitError(cmd *exec.Cmd, lim Limits, stderr string, err error) *LimitError {
	st := cmd.ProcessState
	if st == nil {
		return nil
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	used := st.UserTime() + st.SystemTime()
	switch {
	case lim.CPU > 0 && (used >= lim.CPU-time.Second || ws.Signal() == syscall.SIGXCPU):
		return &LimitError{Which: "cpu", Limit: lim.CPU.String() + " of CPU time", Err: err}
	case lim.Output > 0 && ws.Signaled() && ws.Signal() == syscall.SIGXFSZ:
		return &LimitError{Which: "output", Limit: fmt.Sprintf("%d MiB per file", lim.Output>>20), Err: err}
	case lim.Memory > 0 && (strings.Contains(stderr, "Cannot allocate memory") || strings.Contains(stderr, "std::bad_alloc") ||
		strings.Contains(stderr, "out of memory") || strings.Contains(stderr, "Out of memory") ||
		strings.Contains(stderr, "failed to map segment") || strings.Contains(stderr, "ENOMEM")):
		return &LimitError{Which: "memory", Limit: fmt.Sprintf("%d MiB", lim.Memory>>20), Err: err}
	}
	return nil
}

// lineWatch remembers the first whole line written to it that starts
// with prefix.
type lineWatch struct {
	prefix string
	mu     sync.Mutex
	part   []byte
	line   string
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.line != "" {
		return len(p), nil
	}
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		l := strings.TrimSpace(string(w.part[:i]))
		w.part = w.part[i+1:]
		if strings.HasPrefix(l, w.prefix) {
			w.line = l
			w.part = nil
			break
		}
	}
	if len(w.part) > 64<<10 {
		w.part = nil
	}
	return len(p), nil
}

func (w *lineWatch) first() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.line
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

// output runs bin under lim and returns its stdout.
func (r *Runner) output(ctx context.Context, bin string, args []string, lim Limits) ([]byte, error) {
	if bin == "" {
		bin = "ffprobe"
	}
	cmd := r.command(ctx, bin, args, lim)
	var out bytes.Buffer
	stderr := &tailBuffer{n: 2048}
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s stopped: %w", bin, ctx.Err())
		}
		if le := limitError(cmd, lim, stderr.String(), err); le != nil {
			return nil, le
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, &ExitError{Tool: bin, Err: err, Stderr: stderr.String()}
		}
		return nil, err
	}
	return out.Bytes(), nil
}
