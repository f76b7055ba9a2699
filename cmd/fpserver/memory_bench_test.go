package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guanaco-fp/guanaco/internal/testenv"
)

// BenchmarkMemory runs fpserver as its own process and reports its resident
// memory, goroutines and heap in use (from its /metrics, after a garbage
// collection): at rest, holding
// 2,000 idle TLS connections (1,000 HTTP/1.1 and 1,000 HTTP/2, each after one
// request), after those close, and after GUANACO_BENCH_REQUESTS (default
// 1,000,000) keep-alive HTTP/2 requests from h2load followed by a minute at
// rest. Growth that does not come back shows as the difference between the
// first and the last figures. GUANACO_BENCH_HEAP_PROFILE=FILE saves the heap
// profile taken while the 2,000 connections are open.
//
//	go test -run '^$' -bench Memory -benchtime 1x ./cmd/fpserver
func BenchmarkMemory(b *testing.B) {
	h2load := testenv.RequireTool(b, "h2load")
	requests := 1000000
	if s := os.Getenv("GUANACO_BENCH_REQUESTS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			requests = n
		}
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "fpserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "serve", "-data", filepath.Join(dir, fmt.Sprint("data", i)), "-https", "127.0.0.1:0",
			"-https-h1", "", "-http", "", "-debug", "127.0.0.1:0", "-log-format", "json",
			"-max-captures-per-conn", "-1", "-max-captures-per-minute", "-1", "-idle-timeout", "10m")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		addrs := map[string]string{}
		sc := bufio.NewScanner(stderr)
		listening := regexp.MustCompile(`"msg":"listening","listener":"([a-z0-9-]+)","addr":"([^"]+)"`)
		for (addrs["https"] == "" || addrs["debug"] == "") && sc.Scan() { // -http3 (on by default) is logged too
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addrs[m[1]] = m[2]
			}
		}
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
		if addrs["https"] == "" || addrs["debug"] == "" {
			cancel()
			b.Fatalf("fpserver did not report its addresses: %v", addrs)
		}
		m := &memProbe{url: "http://" + addrs["debug"] + "/metrics", gc: "http://" + addrs["debug"] + "/debug/pprof/heap?gc=1"}
		report := func(stage string) {
			s, err := m.sample()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(s.rss/(1<<20), stage+"_rss_MiB")
			b.ReportMetric(s.heap/(1<<20), stage+"_heap_MiB")
			b.ReportMetric(s.goroutines, stage+"_goroutines")
			b.Logf("%-16s rss %6.1f MiB  heap in use %6.1f MiB  goroutines %5.0f", stage, s.rss/(1<<20), s.heap/(1<<20), s.goroutines)
		}
		time.Sleep(time.Second)
		report("start")

		conns, err := openIdle(addrs["https"], 1000, 1000)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		report("idle2000")
		if path := os.Getenv("GUANACO_BENCH_HEAP_PROFILE"); path != "" {
			if err := saveHeapProfile("http://"+addrs["debug"]+"/debug/pprof/heap", path); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		time.Sleep(3 * time.Second)
		report("closed")

		out, err := exec.Command(h2load, "-n", strconv.Itoa(requests), "-c", "32", "-m", "16", "https://"+addrs["https"]+"/api/clean").CombinedOutput()
		if err != nil {
			b.Fatalf("h2load: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), fmt.Sprintf("%d succeeded", requests)) {
			b.Fatalf("h2load did not complete every request:\n%s", out)
		}
		report("loaded")
		time.Sleep(time.Minute)
		report("rested")
		cancel()
		_ = cmd.Wait()
	}
}

// openIdle opens h1 HTTP/1.1 and h2 HTTP/2 connections to addr, sends one
// request on each and leaves them open; at most 32 handshakes at a time (the
// server admits 64 pending handshakes per client address).
func openIdle(addr string, h1, h2 int) ([]io.Closer, error) {
	var mu sync.Mutex
	var out []io.Closer
	var firstErr error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < h1+h2; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(useH2 bool) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openOne(addr, useH2)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			out = append(out, c)
		}(i >= h1)
	}
	wg.Wait()
	return out, firstErr
}

func openOne(addr string, useH2 bool) (io.Closer, error) {
	var protos http.Protocols
	if useH2 {
		protos.SetHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}, Protocols: &protos} //nolint:gosec // our own self-signed server
	cc, err := tr.NewClientConn(context.Background(), "https", addr)
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/api/clean", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		cc.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		cc.Close()
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	if got := resp.ProtoMajor; got != map[bool]int{true: 2, false: 1}[useH2] {
		cc.Close()
		return nil, fmt.Errorf("HTTP/%d, want HTTP/2 %v", got, useH2)
	}
	return cc, nil
}

// saveHeapProfile writes the heap profile served at url to path.
func saveHeapProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// memProbe reads a process's memory figures from its Prometheus metrics,
// after a garbage collection (pprof's heap endpoint with gc=1 runs one), so
// heap figures are live data, not garbage awaiting collection.
type memProbe struct{ url, gc string }

type memSample struct{ rss, heap, goroutines float64 }

func (m *memProbe) sample() (memSample, error) {
	gc, err := http.Get(m.gc)
	if err != nil {
		return memSample{}, err
	}
	_, _ = io.Copy(io.Discard, gc.Body)
	gc.Body.Close()
	resp, err := http.Get(m.url)
	if err != nil {
		return memSample{}, err
	}
	defer resp.Body.Close()
	var s memSample
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "process_resident_memory_bytes":
			dst = &s.rss
		case "go_memstats_heap_inuse_bytes":
			dst = &s.heap
		case "go_goroutines":
			dst = &s.goroutines
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(value, 64); err != nil {
			return s, fmt.Errorf("metric %s: %w", name, err)
		}
		found++
	}
	if found != 3 {
		return s, fmt.Errorf("%s: %d of 3 memory metrics", m.url, found)
	}
	return s, sc.Err()
}
