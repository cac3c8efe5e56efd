package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The soak: both items at once through nginx, long enough for a leak to show.
const (
	soakDuration = 60 * time.Second
	soakWarm     = 10 * time.Second // before the first RSS reading: caches and pools fill
	soakConns    = 64
	soakBigSize  = 10 << 20
	// soakRSSGrowth is how much the app's RSS may grow over the soak.
	soakRSSGrowth = 32 << 20
)

// soakScript is wrk's Lua: every other request is the 1 KiB item, the rest
// a random Range of the 10 MiB one (at most 1 MiB), all with the viewer's
// session. Each wrk thread seeds its own generator.
const soakScript = `
local small, big, cookie, size = %q, %q, %q, %d
local n = 0
init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
request = function()
  n = n + 1
  if n %% 2 == 0 then
    return wrk.format("GET", small, {["Cookie"] = cookie})
  end
  local from = math.random(0, size - 1)
  local to = math.min(size - 1, from + math.random(0, 1048575))
  return wrk.format("GET", big, {["Cookie"] = cookie, ["Range"] = "bytes=" .. from .. "-" .. to})
end
`

// BenchmarkSoak loads the authorized hop for 60 s on 64 connections through
// nginx, half the requests for the 1 KiB item and half random Ranges (up to
// 1 MiB) of a 10 MiB item. It fails on any socket error or non-2xx answer,
// and when the app's RSS (/proc/<pid>/status VmRSS) grows by more than 32 MiB
// between the end of a 10 s warm-up and the end of the soak.
func BenchmarkSoak(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := serving(b)
		rng := rand.NewChaCha8([32]byte{'s', 'o', 'a', 'k'})
		big, err := s.upload(s.token, "soak.bin", io.LimitReader(rng, soakBigSize), soakBigSize)
		if err != nil {
			b.Fatal(err)
		}
		script := filepath.Join(s.root, "soak.lua")
		lua := fmt.Sprintf(soakScript, s.small.smedia, big.smedia, s.cookie, soakBigSize)
		if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
			b.Fatal(err)
		}
		waitQuiet(b)
		if _, err := runWrkScript(s.base+"/", script, soakConns, soakWarm); err != nil {
			b.Fatalf("warming up: %v", err)
		}
		before, err := rss(s.app.pid())
		if err != nil {
			b.Fatal(err)
		}
		r, err := runWrkScript(s.base+"/", script, soakConns, soakDuration)
		if err != nil {
			b.Fatal(err)
		}
		after, err := rss(s.app.pid())
		if err != nil {
			b.Fatal(err)
		}
		grew := after - before
		b.Logf("soak: %d requests in %s (%.0f req/s, %.1f MiB/s), %d non-2xx, %d socket errors; app RSS %.1f MiB -> %.1f MiB (%+.1f MiB; bound +%d MiB: %s)",
			r.Requests, soakDuration, r.RPS, r.BytesPerSec/(1<<20), r.Non2xx, r.Errors,
			float64(before)/(1<<20), float64(after)/(1<<20), float64(grew)/(1<<20), soakRSSGrowth>>20, verdict(grew <= soakRSSGrowth))
		if r.Non2xx > 0 || r.Errors > 0 {
			b.Fatalf("soak: %d non-2xx answers, %d socket errors:\n%s", r.Non2xx, r.Errors, r.Raw)
		}
		if grew > soakRSSGrowth {
			b.Fatalf("soak: the app's RSS grew by %.1f MiB, more than %d MiB", float64(grew)/(1<<20), soakRSSGrowth>>20)
		}
		return map[string]float64{
			"req/s":          r.RPS,
			"MiB/s":          r.BytesPerSec / (1 << 20),
			"p50-ms":         ms(r.P50),
			"p99-ms":         ms(r.P99),
			"rss-start-MiB":  float64(before) / (1 << 20),
			"rss-end-MiB":    float64(after) / (1 << 20),
			"rss-growth-MiB": float64(grew) / (1 << 20),
		}
	})
}

// runWrkScript is runWrk with a Lua script that makes every request, on 2
// threads; url only names the server.
func runWrkScript(url, script string, conns int, dur time.Duration) (wrkResult, error) {
	return execWrk(url, wrkThreads, conns, dur, "-s", script)
}

// rss is a process's resident set size in bytes, from /proc/<pid>/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// The open-loop shape: each fixed rate is sent for this long per target.
const (
	openLoopDuration = 10 * time.Second
	capacityDuration = 10 * time.Second
)

// BenchmarkOpenLoop1KB measures latency at fixed request rates, sent
// whatever the answers' pace (open loop, vegeta as a library, so that a slow
// answer does not slow the sender and hide its own queueing): first static's
// capacity (wrk, closed loop, 64 connections, 10 s), then 25%, 50% and 75%
// of it for 10 s each to static, to the authorized 1 KiB hop and to the
// stub (a handler that only answers X-Accel-Redirect, behind an nginx of its
// own), reporting p50, p99 and p99.9. Target: at 50%, the hop's p99 within
// 2x static's; the stub's shows what no app behind nginx can beat here.
func BenchmarkOpenLoop1KB(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		s := serving(b)
		waitQuiet(b)
		static := s.base + s.small.public
		if _, err := runWrk(static, wrkThreads, smallLoad.conns, warmDuration); err != nil {
			b.Fatal(err)
		}
		c, err := runWrk(static, wrkThreads, smallLoad.conns, capacityDuration)
		if err != nil {
			b.Fatal(err)
		}
		capacity := c.RPS
		b.Logf("open loop: static's closed-loop capacity %.0f req/s (64 connections, %s)", capacity, capacityDuration)
		out := map[string]float64{"static-capacity-req/s": capacity}
		targets := []struct {
			name string
			t    vegeta.Target
		}{
			{"static", vegeta.Target{Method: http.MethodGet, URL: static}},
			{"smedia", vegeta.Target{Method: http.MethodGet, URL: s.base + s.small.smedia, Header: http.Header{"Cookie": {s.cookie}}}},
			// The do-nothing stub behind its own nginx: what any app behind
			// nginx gets at these rates on this machine.
			{"stub", vegeta.Target{Method: http.MethodGet, URL: s.stubBase + s.small.smedia}},
		}
		type step struct {
			p99  time.Duration
			sent float64 // of the plan
		}
		steps := map[string]step{} // by target and percentage
		for _, pct := range []int{25, 50, 75} {
			rate := int(capacity * float64(pct) / 100)
			for _, t := range targets {
				m := attack(t.t, rate, openLoopDuration)
				ok := m.StatusCodes["200"]
				// A generator that shares the machine with what it loads may
				// fall behind its plan: then the step measured a lower rate
				// than it names, and says so.
				planned := int64(rate) * int64(openLoopDuration/time.Second)
				sent := float64(m.Requests) / float64(planned)
				behind := ""
				if sent < 0.95 {
					behind = "; GENERATOR BEHIND PLAN"
				}
				b.Logf("open loop %2d%% %-6s planned %5d req/s, sent %5.0f req/s (%d of %d, %.2f%s); p50 %-9s p99 %-9s p99.9 %-9s max %-9s (%d answered 200, %d errors)",
					pct, t.name, rate, m.Rate, m.Requests, planned, sent, behind,
					round2(m.Latencies.P50), round2(m.Latencies.P99), round2(m.Latencies.Quantile(0.999)), round2(m.Latencies.Max),
					ok, len(m.Errors))
				note(b, "open loop %2d%% %-6s planned %5d req/s, sent %5.0f req/s (%d of %d planned, %.2f%s)",
					pct, t.name, rate, m.Rate, m.Requests, planned, sent, behind)
				key := fmt.Sprintf("%s-%d%%-", t.name, pct)
				out[key+"planned-req/s"] = float64(rate)
				out[key+"sent-req/s"] = m.Rate
				out[key+"sent/planned"] = sent
				out[key+"p50-ms"] = ms(m.Latencies.P50)
				out[key+"p99-ms"] = ms(m.Latencies.P99)
				out[key+"p99.9-ms"] = ms(m.Latencies.Quantile(0.999))
				out[key+"success"] = m.Success
				steps[key] = step{p99: m.Latencies.P99, sent: sent}
			}
			// The hop's and the stub's p99 against static's at the same
			// planned rate. A step sent below its plan measured a lower rate
			// than it names: its ratio is no verdict on the target.
			static := steps[fmt.Sprintf("static-%d%%-", pct)]
			smedia, stub := steps[fmt.Sprintf("smedia-%d%%-", pct)], steps[fmt.Sprintf("stub-%d%%-", pct)]
			ratio, stubRatio := float64(smedia.p99)/float64(static.p99), float64(stub.p99)/float64(static.p99)
			out[fmt.Sprintf("smedia/static-p99-at-%d%%", pct)] = ratio
			out[fmt.Sprintf("stub/static-p99-at-%d%%", pct)] = stubRatio
			if pct != 50 {
				b.Logf("open loop at %d%%: smedia p99 / static p99 = %.2f, stub p99 / static p99 = %.2f", pct, ratio, stubRatio)
				continue
			}
			v := verdict(ratio <= 2)
			if static.sent < 0.95 || smedia.sent < 0.95 {
				v = "NOT MEASURED: the generator fell behind its plan"
			}
			b.Logf("open loop at 50%%: smedia p99 / static p99 = %.2f (target <= 2: %s), stub p99 / static p99 = %.2f", ratio, v, stubRatio)
			note(b, "open loop at 50%%: smedia p99 / static p99 = %.2f (target <= 2: %s), stub p99 / static p99 = %.2f", ratio, v, stubRatio)
		}
		return out
	})
}

// openLoopConns bounds the generator's connections, and its workers with
// them: each of nginx's two workers has 1,024 connections for clients and
// upstreams together and keeps 128 to the app alive. Unbounded (up to 2,048
// workers, 512 of their connections kept), one slow moment made the
// generator open connections by the hundred, nginx ran out of them and
// opened and closed upstream ones, and loopback's ports filled with
// TIME_WAIT: every later step then timed out at 5 s, static's too, at a few
// percent of its plan. Bounded, a target that cannot keep up holds the
// generator back instead, and its step says so (sent below plan).
const openLoopConns = 256

// attack sends rate requests a second to t for dur, open loop, and returns
// what came back.
func attack(t vegeta.Target, rate int, dur time.Duration) *vegeta.Metrics {
	a := vegeta.NewAttacker(vegeta.Timeout(5*time.Second), vegeta.MaxWorkers(openLoopConns),
		vegeta.Connections(openLoopConns), vegeta.MaxConnections(openLoopConns), vegeta.KeepAlive(true))
	var m vegeta.Metrics
	for r := range a.Attack(vegeta.NewStaticTargeter(t), vegeta.Rate{Freq: rate, Per: time.Second}, dur, "") {
		m.Add(r)
	}
	m.Close()
	return &m
}
