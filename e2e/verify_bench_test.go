package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingProxy forwards TCP connections from a loopback port to target
// and counts the bytes each way.
type countingProxy struct {
	ln       net.Listener
	up, down atomic.Int64 // client to target, target to client
	wg       sync.WaitGroup
}

func newCountingProxy(tb testing.TB, target string) *countingProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.forward(c, target) }()
		}
	}()
	tb.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *countingProxy) forward(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		n, _ := io.Copy(s, c)
		p.up.Add(n)
		s.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	n, _ := io.Copy(c, s)
	p.down.Add(n)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

func (p *countingProxy) url() string { return "http://" + p.ln.Addr().String() }

// bytes returns what went through so far, both ways.
func (p *countingProxy) bytes() int64 { return p.up.Load() + p.down.Load() }

// BenchmarkTransportVerify1M compares two equal nodes of a million rows
// (benchFill's, each node writing its own), `trigsync verify A --peer URL`
// against B running serve, through a proxy on loopback that counts the
// bytes both ways; then once more after the sqlite3 shell changed one cell
// on B. Only the verify runs are timed.
func BenchmarkTransportVerify1M(b *testing.B) {
	b.StopTimer()
	n := benchRows(b)
	dir := b.TempDir()
	a, bdb := benchPair(b, dir)
	benchFill(b, a, n)
	benchFill(b, bdb, n)
	srv := startBenchServe(b, bdb, nil)
	proxy := newCountingProxy(b, strings.TrimPrefix(srv.url, "http://"))
	summary := func(stdout string) (s struct {
		Equal       bool
		Differences int
		Rows        int
		Requests    int
	}) {
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
			b.Fatalf("verify --json: %v\n%s", err, stdout)
		}
		return s
	}

	cpu0 := srv.cpu(b)
	b.StartTimer()
	p := benchRun(b, nil, binary, "verify", a, "--peer", proxy.url(), "--json")
	b.StopTimer()
	equalBytes, serveCPU := proxy.bytes(), srv.cpu(b)-cpu0
	if s := summary(p.stdout); !s.Equal || s.Rows != n {
		b.Fatalf("equal nodes: %s", p.stdout)
	}
	b.ReportMetric(p.took.Seconds(), "s")
	b.ReportMetric(float64(equalBytes), "bytes")
	b.ReportMetric(float64(summary(p.stdout).Requests), "requests")
	b.ReportMetric((p.state.UserTime() + p.state.SystemTime()).Seconds(), "verify-cpu-s")
	b.ReportMetric(serveCPU.Seconds(), "serve-cpu-s")

	// One cell changed on B, nothing synced.
	id := benchID(n / 3)
	shell(b, bdb, fmt.Sprintf(`UPDATE item SET qty = -1 WHERE id = '%s'`, id))
	before := proxy.bytes()
	b.StartTimer()
	t0 := time.Now()
	r, err := runQuiet([]string{"TRIGSYNC_TOKEN=" + benchToken}, binary, "verify", a, "--peer", proxy.url(), "--json")
	took := time.Since(t0)
	b.StopTimer()
	if err != nil || r.code != 1 || !strings.Contains(r.stdout, `"key":{"id":"t:`+id+`"}`) {
		b.Fatalf("one changed cell: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if s := summary(r.stdout); s.Differences != 1 {
		b.Fatalf("one changed cell: %s", r.stdout)
	}
	b.ReportMetric(took.Seconds(), "one-cell-s")
	b.ReportMetric(float64(proxy.bytes()-before), "one-cell-bytes")
	b.ReportMetric(float64(summary(r.stdout).Requests), "one-cell-requests")
}
