package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/reel-video/reel/client"
	"github.com/reel-video/reel/ladder"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/webhooks"
)

func runClient(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	var (
		tenant, ladderFile, subs, events, hookJob string
		admin, supportKey, watchFlag, asJSON      bool
		limit                                     int
	)
	cfg, pos, err := load("client", args, stderr, func(fs *flag.FlagSet) {
		fs.Init("reel "+cmd, flag.ContinueOnError)
		fs.StringVar(&tenant, "tenant", "", "keys create: the new key's tenant")
		fs.BoolVar(&admin, "admin", false, "keys create: make an admin key")
		fs.BoolVar(&supportKey, "support", false, "keys create: make a support key, which only looks viewers' events up")
		fs.StringVar(&ladderFile, "ladder", "", "upload: ladder JSON file")
		fs.StringVar(&subs, "subtitles", "", "upload: subtitle files to send with the job, as LANG=FILE,... (SubRip or WebVTT; LANG a BCP 47 tag)")
		fs.BoolVar(&watchFlag, "watch", false, "upload, retry: watch the job until it ends")
		fs.BoolVar(&asJSON, "json", false, "status: print the job as JSON")
		fs.IntVar(&limit, "limit", 20, "jobs, webhooks deliveries: how many to list")
		fs.StringVar(&events, "events", "", "webhooks create: the events to send, comma-separated, of "+strings.Join(webhooks.Events, ", ")+" (default all but job.progress)")
		fs.StringVar(&hookJob, "job", "", "webhooks create: the one job the endpoint hears of (default every job of the tenant); webhooks list: that job's endpoints")
	})
	if err != nil {
		return err
	}
	c := client.New(cfg.API, cfg.APIKey)
	if cmd == "keys" {
		return keys(ctx, c, pos, tenant, admin, supportKey, stdout, stderr)
	}
	if cmd == "webhooks" {
		return hooks(ctx, c, pos, events, hookJob, limit, stdout, stderr)
	}
	need := map[string]int{"upload": 1, "watch": 1, "status": 1, "cancel": 1, "delete-title": 1, "retry": 1, "jobs": 0}[cmd]
	if len(pos) != need {
		fmt.Fprintf(stderr, "reel %s: want %d argument(s), got %d\n\n%s", cmd, need, len(pos), usage)
		return exitCode(2)
	}
	switch cmd {
	case "upload":
		o := client.UploadOptions{
			Resumed: func(offset, size int64) {
				fmt.Fprintf(stderr, "resuming the upload of %s at %d of %d bytes\n", filepath.Base(pos[0]), offset, size)
			},
			Interrupted: func(offset, size int64, err error, wait time.Duration) {
				fmt.Fprintf(stderr, "upload interrupted at %d of %d bytes (%v); resuming in %s\n", offset, size, err, wait)
			},
		}
		if ladderFile != "" {
			data, err := os.ReadFile(ladderFile)
			if err != nil {
				return err
			}
			if _, err := ladder.Parse(data); err != nil {
				return fmt.Errorf("%s: %w", ladderFile, err)
			}
			o.Ladder = data
		}
		if subs != "" {
			if o.Ladder, o.Subtitles, err = withSubtitles(o.Ladder, subs); err != nil {
				return err
			}
		}
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			o.Progress = func(done, total int64) {
				fmt.Fprintf(stderr, "\ruploading %3.0f%%  %d of %d MiB ", 100*float64(done)/float64(total), done>>20, total>>20)
				if done == total {
					fmt.Fprintln(stderr)
				}
			}
		}
		v, err := c.Upload(ctx, pos[0], o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %s queued\n", v.ID)
		if watchFlag {
			return watch(ctx, c, v.ID, stdout)
		}
		return nil
	case "watch":
		return watch(ctx, c, pos[0], stdout)
	case "status":
		v, err := c.Job(ctx, pos[0])
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		printStatus(stdout, v)
		return nil
	case "retry":
		v, err := c.Retry(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %s %s again\n", v.ID, v.Status)
		if watchFlag {
			return watch(ctx, c, v.ID, stdout)
		}
		return nil
	case "cancel":
		v, err := c.Cancel(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %s %s\n", v.ID, v.Status)
		return nil
	case "delete-title":
		v, err := c.DeleteTitle(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %s: title deleted at %s\n", v.ID, v.PurgedAt.Local().Format(time.DateTime))
		return nil
	case "jobs":
		list, err := c.Jobs(ctx, limit, 0, "")
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tPROGRESS\tCREATED\tNAME")
		for _, v := range list.Jobs {
			fmt.Fprintf(tw, "%s\t%s\t%3.0f%%\t%s\t%s\n", v.ID, v.Status, v.Progress.Overall*100, v.CreatedAt.Local().Format(time.DateTime), v.Name)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d of %d jobs\n", len(list.Jobs), list.Total)
		return nil
	}
	return nil
}

// keys runs `reel keys create|list|revoke`.
func keys(ctx context.Context, c *client.Client, pos []string, tenant string, admin, support bool, stdout, stderr io.Writer) error {
	if len(pos) == 0 {
		fmt.Fprintf(stderr, "reel keys: want create, list or revoke\n\n%s", usage)
		return exitCode(2)
	}
	switch {
	case pos[0] == "create" && len(pos) == 1:
		if tenant == "" {
			fmt.Fprintln(stderr, "reel keys create: --tenant NAME is required")
			return exitCode(2)
		}
		secret, k, err := c.CreateKey(ctx, tenant, admin, support)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "key %s for tenant %s (%s); it is shown only now\n", k.ID, k.Tenant, keyRole(k))
		return nil
	case pos[0] == "list" && len(pos) == 1:
		list, err := c.Keys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tROLE\tCREATED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Tenant, keyRole(k), k.Created.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case pos[0] == "revoke" && len(pos) == 2:
		if err := c.RevokeKey(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s revoked\n", pos[1])
		return nil
	}
	fmt.Fprintf(stderr, "reel keys: want `create --tenant NAME [--admin|--support]`, `list` or `revoke ID`\n\n%s", usage)
	return exitCode(2)
}

// keyRole names what a key may do.
func keyRole(k pipeline.Key) string {
	switch {
	case k.Admin:
		return "admin"
	case k.Support:
		return "support"
	}
	return "tenant"
}

func printStatus(w io.Writer, v *pipeline.View) {
	fmt.Fprintf(w, "job       %s\nstatus    %s\nprogress  %.0f%% (chunks %d/%d)\n", v.ID, v.Status, v.Progress.Overall*100, v.Progress.ChunksDone, v.Progress.ChunksTotal)
	if v.Name != "" {
		fmt.Fprintf(w, "name      %s\n", v.Name)
	}
	for _, m := range v.Warnings {
		fmt.Fprintf(w, "warning   %s\n", m)
	}
	if s := v.Source; s != nil {
		fmt.Fprintf(w, "source    %dx%d %s %s fps, %d frames, %.2f s", s.Width, s.Height, s.VideoCodec, s.FrameRate, s.Frames, s.Duration)
		if s.AudioCodec != "" {
			fmt.Fprintf(w, ", audio %s", s.AudioCodec)
		}
		fmt.Fprintln(w)
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  note    %s\n", n)
		}
	}
	for _, r := range v.Renditions {
		fmt.Fprintf(w, "  %-8s %4dx%-4d %-4s %5d kb/s  %3.0f%%", r.Name, r.Width, r.Height, r.Codec, r.Bitrate/1000, r.Progress*100)
		if r.AverageBandwidth > 0 {
			fmt.Fprintf(w, "  %s, measured %d kb/s avg, %d kb/s peak", r.Codecs, r.AverageBandwidth/1000, r.Bandwidth/1000)
		}
		if q := r.Quality; q != nil {
			fmt.Fprintf(w, ", PSNR %.2f dB, SSIM %.4f", q.PSNR, q.SSIM)
		}
		fmt.Fprintln(w)
	}
	if l := v.Live; l != nil && v.Outputs != nil {
		fmt.Fprintf(w, "playable  the first %.1f s while the rest encodes; the title grows until complete\n", l.Seconds)
	}
	if o := v.Outputs; o != nil {
		fmt.Fprintf(w, "hls       %s\ndash      %s\n", o.HLS, o.DASH)
		for _, codec := range ladder.Codecs {
			if u := o.HLSByCodec[codec]; u != "" {
				fmt.Fprintf(w, "hls %-5s %s\n", codec, u)
			}
		}
		if o.Poster != "" {
			fmt.Fprintf(w, "poster    %s\nthumbs    %s\n", o.Poster, o.Thumbnails)
		}
	}
	if v.Error != nil {
		fmt.Fprintf(w, "error     %s: %s\n", v.Error.Code, v.Error.Message)
	}
}

// watch follows a job until it ends: live bars on a terminal, one plain
// line per change otherwise. It returns an error unless the job completes.
func watch(ctx context.Context, c *client.Client, id string, stdout io.Writer) error {
	isTTY := false
	if f, ok := stdout.(*os.File); ok {
		isTTY = term.IsTerminal(int(f.Fd()))
	}
	var bars *barView
	if isTTY {
		bars = newBarView(ctx, stdout)
	}
	var last string
	var v *pipeline.View
	playable := false
	for {
		var err error
		v, err = c.Job(ctx, id)
		if err != nil {
			var ae *client.Error
			if errors.As(err, &ae) {
				return err
			}
			// The API may be restarting: keep trying until ctx ends.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Second):
				continue
			}
		}
		if !playable && v.Live != nil && v.Outputs != nil {
			// Said once: where the title plays while the rest encodes.
			playable = true
			line := fmt.Sprintf("playable while encoding (the first %.1f s so far)\nHLS:  %s\nDASH: %s\n", v.Live.Seconds, v.Outputs.HLS, v.Outputs.DASH)
			if bars != nil {
				_, _ = bars.p.Write([]byte(line))
			} else {
				fmt.Fprint(stdout, line)
			}
		}
		if bars != nil {
			bars.update(v)
		} else if line := plainLine(v); line != last {
			fmt.Fprintln(stdout, line)
			last = line
		}
		if v.Status.Terminal() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if bars != nil {
		bars.done()
	}
	switch v.Status {
	case pipeline.StatusComplete:
		fmt.Fprintf(stdout, "complete\nHLS:  %s\nDASH: %s\n", v.Outputs.HLS, v.Outputs.DASH)
		return nil
	case pipeline.StatusFailed:
		msg := "unknown error"
		if v.Error != nil {
			msg = v.Error.Code + ": " + v.Error.Message
		}
		return fmt.Errorf("job %s failed: %s", id, msg)
	default:
		return fmt.Errorf("job %s was %s", id, v.Status)
	}
}

func plainLine(v *pipeline.View) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %-10s %3.0f%% chunks %d/%d", v.ID, v.Status, v.Progress.Overall*100, v.Progress.ChunksDone, v.Progress.ChunksTotal)
	for _, r := range v.Renditions {
		fmt.Fprintf(&b, " %s=%.0f%%", r.Name, r.Progress*100)
	}
	return b.String()
}

// barView draws one bar for the whole job and one per rendition with mpb.
type barView struct {
	p       *mpb.Progress
	overall *mpb.Bar
	stage   string
	chunks  string
	rungs   map[string]*mpb.Bar
}

const barTotal = 1000

func newBarView(ctx context.Context, w io.Writer) *barView {
	bv := &barView{p: mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(40)), rungs: map[string]*mpb.Bar{}}
	bv.overall = bv.p.AddBar(barTotal,
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%-10s %s", bv.stage, bv.chunks) }, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Name("  ETA "), decor.EwmaETA(decor.ET_STYLE_GO, 30)))
	return bv
}

func (bv *barView) update(v *pipeline.View) {
	bv.stage = string(v.Status)
	bv.chunks = fmt.Sprintf("chunks %d/%d", v.Progress.ChunksDone, v.Progress.ChunksTotal)
	setBar(bv.overall, v.Progress.Overall)
	for _, r := range v.Renditions {
		b, ok := bv.rungs[r.Name]
		if !ok {
			name := fmt.Sprintf("  %-6s %dx%d", r.Name, r.Width, r.Height)
			b = bv.p.AddBar(barTotal, mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace)))
			bv.rungs[r.Name] = b
		}
		setBar(b, r.Progress)
	}
}

func setBar(b *mpb.Bar, f float64) {
	n := int64(f * barTotal)
	if n > b.Current() {
		b.EwmaSetCurrent(n, 500*time.Millisecond)
	}
}

func (bv *barView) done() {
	for _, b := range append([]*mpb.Bar{bv.overall}, mapValues(bv.rungs)...) {
		b.Abort(false)
	}
	bv.p.Wait()
}

func mapValues(m map[string]*mpb.Bar) []*mpb.Bar {
	out := make([]*mpb.Bar, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	return out
}

// withSubtitles adds the subtitle files of the --subtitles flag
// (LANG=FILE,...) to a job's ladder JSON (nil: the default ladder) and
// reads them: the ladder lists each by its base name with its language,
// unless it lists that file already.
func withSubtitles(raw json.RawMessage, flag string) (json.RawMessage, map[string]string, error) {
	l := ladder.Ladder{}
	if len(raw) > 0 {
		var err error
		if l, err = ladder.Parse(raw); err != nil {
			return nil, nil, err
		}
	}
	files := map[string]string{}
	for _, item := range strings.Split(flag, ",") {
		lang, file, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || lang == "" || file == "" {
			return nil, nil, fmt.Errorf("--subtitles: %q is not LANG=FILE (for example fr=film.fr.srt)", item)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("--subtitles: %w", err)
		}
		name := filepath.Base(file)
		if _, dup := files[name]; dup {
			return nil, nil, fmt.Errorf("--subtitles: two files named %s; rename one", name)
		}
		files[name] = string(data)
		if !slices.ContainsFunc(l.Subtitles, func(f ladder.SubtitleFile) bool { return f.File == name }) {
			l.Subtitles = append(l.Subtitles, ladder.SubtitleFile{File: name, Language: lang})
		}
	}
	l = l.Normalize()
	if err := l.Validate(); err != nil {
		return nil, nil, fmt.Errorf("--subtitles: %w", err)
	}
	out, err := json.Marshal(l)
	return out, files, err
}

// hooks runs `reel webhooks create|list|delete|deliveries`.
func hooks(ctx context.Context, c *client.Client, pos []string, events, job string, limit int, stdout, stderr io.Writer) error {
	switch {
	case len(pos) == 2 && pos[0] == "create":
		var evs []string
		for _, e := range strings.Split(events, ",") {
			if e = strings.TrimSpace(e); e != "" {
				evs = append(evs, e)
			}
		}
		e, err := c.CreateJobWebhook(ctx, job, pos[1], evs)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, e.Secret)
		whose := "tenant " + e.Tenant
		if e.Job != "" {
			whose = "job " + e.Job
		}
		fmt.Fprintf(stderr, "webhook %s for %s: %s on %s; verify deliveries with the secret above, shown only now\n",
			e.ID, whose, e.URL, strings.Join(e.Events, ", "))
		return nil
	case len(pos) == 1 && pos[0] == "list":
		list, err := c.Webhooks(ctx)
		if job != "" {
			list, err = c.JobWebhooks(ctx, job)
		}
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tCREATED")
		for _, e := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.URL, strings.Join(e.Events, ","), e.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case len(pos) == 2 && pos[0] == "delete":
		if err := c.DeleteWebhook(ctx, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook %s deleted\n", pos[1])
		return nil
	case len(pos) == 2 && pos[0] == "deliveries":
		list, err := c.WebhookDeliveries(ctx, pos[1], limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT\tTYPE\tJOB\tSTATE\tATTEMPTS\tLAST")
		for _, d := range list {
			last := ""
			if n := len(d.Attempts); n > 0 {
				a := d.Attempts[n-1]
				last = a.At.Local().Format(time.DateTime) + " " + strconv.Itoa(a.Status)
				if a.Error != "" {
					last += " " + a.Error
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", d.EventID, d.Type, d.Job, d.State, len(d.Attempts), last)
		}
		return tw.Flush()
	}
	fmt.Fprintf(stderr, "reel webhooks: want `create URL [--events E,...] [--job ID]`, `list`, `delete ID` or `deliveries ID [--limit N]`\n\n%s", usage)
	return exitCode(2)
}
