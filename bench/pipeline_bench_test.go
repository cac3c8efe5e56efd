package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediagate/mediagate/internal/video"
)

// Shapes of the media pipeline benchmarks.
const (
	clipSeconds    = 30 // the clip: 30 s of 1280x720 at 25 frames/s, H.264
	posterRounds   = 3
	posterTimeout  = 60 * time.Second // from an upload to its poster
	jobRounds      = 3
	jobRoundClips  = 6 // uploaded before each busy round: the jobs to work meanwhile
	jobRoundLength = 8 * time.Second
	jobConns       = 64
)

// clips makes n clips of clipSeconds at 720p in dir: one libx264 encode
// (testsrc2, ultrafast, moov after mdat as ffmpeg writes it by default),
// remuxed n times with a different comment, so that each is new content
// (the same bytes again would be stored once and get no job).
func clips(b *testing.B, dir string, n int) []string {
	b.Helper()
	lookPath(b, "ffmpeg")
	ffmpeg := func(args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		argv := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
		if out, err := exec.CommandContext(ctx, "ffmpeg", argv...).CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	master := filepath.Join(dir, "master.mp4")
	ffmpeg("-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=25:duration=%d", clipSeconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", clipSeconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50", "-c:a", "aac", master)
	var out []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("clip-%d.mp4", i))
		ffmpeg("-i", master, "-map", "0", "-c", "copy", "-metadata", "comment=bench clip "+strconv.Itoa(i)+" "+randomHex(4), p)
		out = append(out, p)
	}
	return out
}

// pipelineState is what GET /api/media/{id} says of an item's pipeline.
type pipelineState struct {
	State, Reason, PosterURL string
}

func (s *stack) pipelineState(id string) (pipelineState, error) {
	status, body, _, err := call(http.MethodGet, s.appBase+"/api/media/"+id, nil, -1, "Authorization", "Bearer "+s.token)
	if err != nil || status != http.StatusOK {
		return pipelineState{}, fmt.Errorf("GET the item: %d %v %s", status, err, body)
	}
	var it struct {
		Media *struct {
			State     string `json:"state"`
			Reason    string `json:"reason"`
			PosterURL string `json:"poster_url"`
		} `json:"media"`
	}
	if err := json.Unmarshal(body, &it); err != nil || it.Media == nil {
		return pipelineState{}, fmt.Errorf("GET the item: %v %s", err, body)
	}
	return pipelineState{State: it.Media.State, Reason: it.Media.Reason, PosterURL: it.Media.PosterURL}, nil
}

// uploadFile posts the file at path as the owner (the app's raw-body
// upload, straight to the app) and returns the item's id.
func (s *stack) uploadFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	status, body, _, err := call(http.MethodPost, s.appBase+"/api/media?filename="+url.QueryEscape(filepath.Base(path)), f, fi.Size(),
		"Authorization", "Bearer "+s.token, "Content-Type", "application/octet-stream")
	if err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("upload %s: %d %v %s", path, status, err, body)
	}
	var it struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &it); err != nil || it.ID == "" {
		return "", fmt.Errorf("upload %s: %v %s", path, err, body)
	}
	return it.ID, nil
}

// deleteItem deletes an item as the owner: its blob goes, and its job is
// cancelled (a running one stops).
func (s *stack) deleteItem(id string) error {
	status, body, _, err := call(http.MethodDelete, s.appBase+"/api/media/"+id, nil, -1, "Authorization", "Bearer "+s.token)
	if err != nil || status != http.StatusNoContent {
		return fmt.Errorf("delete %s: %d %v %s", id, status, err, body)
	}
	return nil
}

// waitPipeline polls id's pipeline state every 10 ms until done accepts
// it, for at most timeout.
func (s *stack) waitPipeline(id string, timeout time.Duration, done func(pipelineState) bool) (pipelineState, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.pipelineState(id)
		if err != nil {
			return st, err
		}
		if st.State == "failed" {
			return st, fmt.Errorf("the pipeline failed on %s: %s", id, st.Reason)
		}
		if done(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s: still %+v after %v", id, st, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ffmpegRunning reports whether an ffmpeg or ffprobe the app started is
// running (prlimit execs them, so they are the app's children).
func (s *stack) ffmpegRunning() bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		open, closing := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := st[open+1 : closing]
		f := strings.Fields(st[closing+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == s.app.pid() && (comm == "ffmpeg" || comm == "ffprobe" || comm == "prlimit") {
			return true
		}
	}
	return false
}

// childCPU is the CPU time of the app's children that have ended (cutime
// and cstime of /proc/<pid>/stat): ffmpeg's and ffprobe's.
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0
	}
	cu, _ := strconv.ParseInt(f[13], 10, 64) // field 16
	cs, _ := strconv.ParseInt(f[14], 10, 64) // field 17
	return time.Duration(cu+cs) * clockTick
}

// ourCPU is the CPU time the stack's processes and this one have used so
// far, the app's ended children (ffmpeg) included.
func (s *stack) ourCPU() time.Duration {
	var d time.Duration
	for _, f := range s.procs() {
		d += cpuOf(f)
	}
	return d + childCPU(s.app.pid())
}

// otherMeter measures the share of the machine's CPUs that other processes
// (other people's work) used since it was started; extra is CPU of ours
// that the stack does not hold (wrk's).
type otherMeter struct {
	s          *stack
	busy, ours time.Duration
	start      time.Time
}

func (s *stack) otherMeter() otherMeter {
	return otherMeter{s: s, busy: machineBusy(), ours: s.ourCPU(), start: time.Now()}
}

func (m otherMeter) share(extra time.Duration) float64 {
	other := max(0, machineBusy()-m.busy-(m.s.ourCPU()-m.ours)-extra)
	return other.Seconds() / (time.Since(m.start).Seconds() * float64(runtime.NumCPU()))
}

func medianDuration(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// BenchmarkPosterReady is the time from an upload of a 30 s 720p clip
// finished (the API's 201) to its poster being ready (GET /api/media/{id}
// names it, polled every 10 ms), against the baseline of the same
// extraction run directly in this process on the same file, before and
// after each upload: video.Probe then video.Frame at 10% of the duration
// into 1280x720, with the pipeline's own limits and niceness. What the
// pipeline adds is the job's own cost: River picking it up, the check of
// the blob's SHA-256, the database and the store. 3 rounds, each with new
// content; medians (of 3 pipeline runs, of 6 direct ones).
func BenchmarkPosterReady(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := serving(b)
		dir := b.TempDir()
		paths := clips(b, dir, posterRounds)
		waitQuiet(b)
		var direct, pipeline []time.Duration
		extract := func(path string) (probe, frame time.Duration) {
			ctx := context.Background()
			start := time.Now()
			info, err := video.Probe(ctx, path, "video/mp4")
			if err != nil {
				b.Fatalf("probe: %v", err)
			}
			probed := time.Now()
			if err := video.Frame(ctx, path, "video/mp4", info.Duration*0.1, 1280, 720, filepath.Join(dir, "poster.jpg")); err != nil {
				b.Fatalf("frame: %v", err)
			}
			return probed.Sub(start), time.Since(probed)
		}
		var others []float64
		for round, path := range paths {
			meter := s.otherMeter()
			p1, f1 := extract(path)

			id, err := s.uploadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			uploaded := time.Now()
			if _, err := s.waitPipeline(id, posterTimeout, func(st pipelineState) bool { return st.PosterURL != "" }); err != nil {
				b.Fatal(err)
			}
			p := time.Since(uploaded)
			// The rest of the job (thumbnail, faststart) ends before the
			// baseline runs again.
			if _, err := s.waitPipeline(id, posterTimeout, func(st pipelineState) bool { return st.State == "ready" }); err != nil {
				b.Fatal(err)
			}
			p2, f2 := extract(path)
			other := meter.share(0)
			others = append(others, other)
			note(b, "round %d: poster %s after the upload; the same extraction run directly before it %s (probe %s, frame %s), after it %s (probe %s, frame %s); other processes used %.0f%% of the machine meanwhile",
				round, round2(p), round2(p1+f1), round2(p1), round2(f1), round2(p2+f2), round2(p2), round2(f2), 100*other)
			direct, pipeline = append(direct, p1+f1, p2+f2), append(pipeline, p)
			if err := s.deleteItem(id); err != nil {
				b.Fatal(err)
			}
		}
		p, d := medianDuration(pipeline), medianDuration(direct)
		b.Logf("upload finished -> poster ready, 30 s 720p clip: %s (median of %d), the same extraction run directly %s (median of %d): %.2f x",
			round2(p), len(pipeline), round2(d), len(direct), p.Seconds()/d.Seconds())
		return map[string]float64{
			"poster-s":                 p.Seconds(),
			"direct-s":                 d.Seconds(),
			"poster/direct":            p.Seconds() / d.Seconds(),
			"pipeline-minus-direct-ms": ms(p - d),
			"other-cpu-%":              100 * slices.Max(others),
		}
	})
}

// BenchmarkSmediaDuringJobs is /smedia's 1 KiB requests/s (the viewer's
// cookie, as in BenchmarkSmedia1KB: 64 connections, 2 wrk threads) while
// the pipeline works jobs, against the same with the pipeline idle: 3
// rounds of 8 s each way, idle first. Before each busy round 6 new 30 s
// 720p clips are uploaded, more work than the round lasts (the app's one
// worker takes them in turn; some must be left at the end); a sampler
// checks every 100 ms that an ffmpeg or ffprobe of the app is running (at
// least 80% of the samples), and the round's items are deleted after it
// (which stops their jobs). Target: busy at least 0.8 of idle.
func BenchmarkSmediaDuringJobs(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := serving(b)
		paths := clips(b, b.TempDir(), jobRounds*jobRoundClips)
		t := s.targets(s.small, false)[1] // smedia
		if _, err := runWrk(t.url, wrkThreads, jobConns, warmDuration, t.header...); err != nil {
			b.Fatalf("warming up: %v", err)
		}
		waitQuiet(b)
		var idle, busy []float64
		var covered, others []float64
		var ffmpegCPU time.Duration
		var busyWall time.Duration
		for round := range jobRounds {
			// Idle: no job left from the round before.
			for deadline := time.Now().Add(30 * time.Second); s.ffmpegRunning(); {
				if time.Now().After(deadline) {
					b.Fatal("ffmpeg still runs 30 s after the busy round's items were deleted")
				}
				time.Sleep(100 * time.Millisecond)
			}
			meter := s.otherMeter()
			r, err := runWrk(t.url, wrkThreads, jobConns, jobRoundLength, t.header...)
			if err != nil || r.Non2xx > 0 || r.Errors > 0 {
				b.Fatalf("idle round %d: %v\n%s", round, err, r.Raw)
			}
			idle = append(idle, r.RPS)
			idleOther := meter.share(r.CPU)

			var ids []string
			for _, p := range paths[round*jobRoundClips : (round+1)*jobRoundClips] {
				id, err := s.uploadFile(p)
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, id)
			}
			// The first job has started before the load does.
			for deadline := time.Now().Add(10 * time.Second); !s.ffmpegRunning(); {
				if time.Now().After(deadline) {
					b.Fatal("no ffmpeg started within 10 s of the uploads")
				}
				time.Sleep(10 * time.Millisecond)
			}
			cpuBefore := childCPU(s.app.pid())
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var samples, running int
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						samples++
						if s.ffmpegRunning() {
							running++
						}
					}
				}
			}()
			start := time.Now()
			meter = s.otherMeter()
			r, err = runWrk(t.url, wrkThreads, jobConns, jobRoundLength, t.header...)
			busyWall += time.Since(start)
			close(stop)
			wg.Wait()
			if err != nil || r.Non2xx > 0 || r.Errors > 0 {
				b.Fatalf("busy round %d: %v\n%s", round, err, r.Raw)
			}
			busyOther := meter.share(r.CPU)
			others = append(others, idleOther, busyOther)
			busy = append(busy, r.RPS)
			done := 0
			for _, id := range ids {
				if st, err := s.pipelineState(id); err == nil && st.State == "ready" {
					done++
				}
			}
			for _, id := range ids {
				if err := s.deleteItem(id); err != nil {
					b.Fatal(err)
				}
			}
			frac := float64(running) / float64(max(samples, 1))
			covered = append(covered, frac)
			// The ended runs are counted once the app has reaped them.
			for deadline := time.Now().Add(30 * time.Second); s.ffmpegRunning() && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			used := childCPU(s.app.pid()) - cpuBefore
			ffmpegCPU += used
			note(b, "round %d: idle %.0f req/s, busy %.0f req/s (%.3f); ffmpeg ran in %.0f%% of the busy round's samples, %d of %d jobs finished in it, ffmpeg CPU %s; other processes used %.0f%% (idle) and %.0f%% (busy) of the machine",
				round, idle[round], r.RPS, r.RPS/idle[round], 100*frac, done, len(ids), round2(used), 100*idleOther, 100*busyOther)
			// Jobs were left at the end (the worker never waited for one),
			// and ffmpeg ran most of the time: between two runs of a job,
			// and two jobs, the job's own Go work runs (a SHA-256 check,
			// the database), slowly on a loaded machine.
			if done == len(ids) || frac < 0.8 {
				b.Errorf("round %d: %d of %d jobs finished, ffmpeg ran in %.0f%% of the samples: not a round with jobs running throughout", round, done, len(ids), 100*frac)
			}
		}
		var perRound []float64
		var sumIdle, sumBusy float64
		for i := range idle {
			perRound = append(perRound, busy[i]/idle[i])
			sumIdle += idle[i]
			sumBusy += busy[i]
		}
		ratio := sumBusy / sumIdle
		sorted := slices.Clone(perRound)
		slices.Sort(sorted)
		b.Logf("/smedia 1 KiB while jobs run / idle: %.3f (rounds %s; target >= 0.8: %s); idle %.0f req/s, busy %.0f req/s; ffmpeg used %.2f of a CPU meanwhile",
			ratio, ratios(perRound), verdict(ratio >= 0.8), sumIdle/float64(len(idle)), sumBusy/float64(len(busy)), ffmpegCPU.Seconds()/busyWall.Seconds())
		return map[string]float64{
			"idle-req/s":        sumIdle / float64(len(idle)),
			"busy-req/s":        sumBusy / float64(len(busy)),
			"busy/idle":         ratio,
			"busy/idle-median":  sorted[(len(sorted)-1)/2],
			"ffmpeg-cpus":       ffmpegCPU.Seconds() / busyWall.Seconds(),
			"ffmpeg-coverage-%": 100 * slices.Min(covered),
			"other-cpu-%":       100 * slices.Max(others),
		}
	})
}
