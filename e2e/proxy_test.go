package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The faults a faultProxy injects into a connection.
const (
	faultNone      = "none"
	faultDrop      = "drop"      // close both sides after a random number of bytes
	faultReset     = "reset"     // the same, with a TCP reset (SO_LINGER 0)
	faultDelay     = "delay"     // sleep 0–200 ms before forwarding each chunk
	faultDuplicate = "duplicate" // send every request once more on a new connection, the reply discarded
)

// faultProxy forwards TCP connections from a loopback port to a serve.
// While faults are on (startFaults to stopFaults), each new connection
// gets a fault drawn from a seeded random source, and lives at most 0.2–2 s
// so that clients keep opening new ones (HTTP clients keep connections
// alive); other connections pass untouched.
type faultProxy struct {
	t      *testing.T
	name   string
	target string
	ln     net.Listener
	faults atomic.Bool
	wg     sync.WaitGroup

	mu       sync.Mutex
	rng      *rand.Rand
	injected map[string]int
	live     map[*net.TCPConn]bool // client connections open now
	replayed map[string]int        // requests sent twice, by method and path
}

func newFaultProxy(t *testing.T, name, target string, seed int64) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, name: name, target: target, ln: ln, rng: rand.New(rand.NewSource(seed)),
		injected: map[string]int{}, live: map[*net.TCPConn]bool{}, replayed: map[string]int{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *faultProxy) url() string { return "http://" + p.ln.Addr().String() }

// startFaults closes the connections open now and gives every later one
// a fault of its own.
func (p *faultProxy) startFaults() {
	p.faults.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.live {
		c.Close()
	}
}

// stopFaults lets every later connection pass untouched and says what
// was injected.
func (p *faultProxy) stopFaults() string {
	p.faults.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%s: %v, requests sent twice %v", p.name, p.injected, p.replayed)
}

// plan is what happens to one connection.
type plan struct {
	fault    string
	after    int64         // drop and reset: bytes forwarded (both ways) before the fault
	lifetime time.Duration // 0: unlimited
	seed     [2]int64      // delay: the random sources of the two directions
	once     *sync.Once    // drop and reset strike once
}

func (p *faultProxy) draw() plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := plan{fault: faultNone, once: &sync.Once{}}
	if !p.faults.Load() {
		return pl
	}
	switch r := p.rng.Intn(100); {
	case r < 30:
	case r < 45:
		pl.fault = faultDrop
	case r < 60:
		pl.fault = faultReset
	case r < 80:
		pl.fault = faultDelay
	default:
		pl.fault = faultDuplicate
	}
	pl.after = p.rng.Int63n(1 << p.rng.Intn(21)) // log-uniform, up to 1 MiB
	pl.lifetime = time.Duration(200+p.rng.Intn(1800)) * time.Millisecond
	pl.seed = [2]int64{p.rng.Int63(), p.rng.Int63()}
	p.injected[pl.fault]++
	return pl
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(client.(*net.TCPConn), p.draw())
		}()
	}
}

func (p *faultProxy) serve(client *net.TCPConn, pl plan) {
	defer client.Close()
	p.mu.Lock()
	p.live[client] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.live, client)
		p.mu.Unlock()
	}()
	conn, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return // the serve is down: the client sees its connection closed
	}
	server := conn.(*net.TCPConn)
	defer server.Close()
	if pl.lifetime > 0 {
		end := time.AfterFunc(pl.lifetime, func() { client.Close(); server.Close() })
		defer end.Stop()
	}
	var forwarded atomic.Int64
	strike := func() {
		pl.once.Do(func() {
			if pl.fault == faultReset {
				client.SetLinger(0)
				server.SetLinger(0)
			}
			client.Close()
			server.Close()
		})
	}
	var replay *replayer
	if pl.fault == faultDuplicate {
		replay = newReplayer(p)
		defer replay.close()
	}
	copyDir := func(dst, src *net.TCPConn, rng *rand.Rand, tee *replayer) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				data := buf[:n]
				if pl.fault == faultDelay {
					time.Sleep(time.Duration(rng.Int63n(int64(200 * time.Millisecond))))
				}
				if pl.fault == faultDrop || pl.fault == faultReset {
					total := forwarded.Add(int64(n))
					if over := total - pl.after; over > 0 {
						data = data[:max(0, int64(n)-over)]
						dst.Write(data)
						strike()
						return
					}
				}
				if _, err := dst.Write(data); err != nil {
					break
				}
				if tee != nil {
					tee.write(data)
				}
			}
			if err != nil {
				break
			}
		}
		// One side is done: so is the connection (HTTP needs no half-close).
		client.Close()
		server.Close()
	}
	done := make(chan struct{})
	go func() {
		copyDir(client, server, rand.New(rand.NewSource(pl.seed[1])), nil)
		close(done)
	}()
	copyDir(server, client, rand.New(rand.NewSource(pl.seed[0])), replay)
	<-done
}

// replayer parses the client→server bytes of a connection into HTTP
// requests and sends each one once more to the serve, on a connection of
// its own, reading and discarding the reply.
type replayer struct {
	p     *faultProxy
	mu    sync.Mutex
	raw   []byte // every byte the client sent
	pw    *io.PipeWriter
	done  chan struct{}
	sends sync.WaitGroup
}

func newReplayer(p *faultProxy) *replayer {
	pr, pw := io.Pipe()
	r := &replayer{p: p, pw: pw, done: make(chan struct{})}
	go r.parse(pr)
	return r
}

func (r *replayer) write(b []byte) {
	r.mu.Lock()
	r.raw = append(r.raw, b...)
	r.mu.Unlock()
	r.pw.Write(b)
}

func (r *replayer) close() {
	r.pw.Close()
	<-r.done
	r.sends.Wait()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

func (r *replayer) parse(pr *io.PipeReader) {
	defer close(r.done)
	defer io.Copy(io.Discard, pr) // never block the forwarding
	cr := &countingReader{r: pr}
	br := bufio.NewReader(cr)
	start := 0
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		end := cr.n - br.Buffered()
		r.mu.Lock()
		one := append([]byte(nil), r.raw[start:end]...)
		r.mu.Unlock()
		start = end
		r.sends.Add(1)
		go func() {
			defer r.sends.Done()
			r.send(one, req)
		}()
	}
}

func (r *replayer) send(request []byte, req *http.Request) {
	conn, err := net.DialTimeout("tcp", r.p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(request); err != nil {
		return
	}
	r.p.mu.Lock()
	r.p.replayed[req.Method+" "+req.URL.Path]++
	r.p.mu.Unlock()
	if resp, err := http.ReadResponse(bufio.NewReader(conn), req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestReplicationThroughFaultyNetwork: two serves reach each other only
// through fault-injecting proxies (connections dropped or reset after a
// random number of bytes, delayed, or every request sent twice), and a
// device syncs through one of them, while all three write. After ten
// seconds of faults the network heals, and the three converge: identical
// rows, every change once in every log, sound files.
func TestReplicationThroughFaultyNetwork(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("TRIGSYNC_PROXY_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("fault seed %d (TRIGSYNC_PROXY_SEED=%d replays the same draws)", seed, seed)
	names := []string{"a", "b", "device"}
	nodes := newReplicas(t, noteTable, names...)
	a, b, device := nodes[0], nodes[1], nodes[2]
	addrA, addrB := freeAddr(t), freeAddr(t)
	toA := newFaultProxy(t, "to a", addrA, seed)
	toB := newFaultProxy(t, "to b", addrB, seed+1)
	newServeProcess(t, a, "tok", addrA, "--peer", toB.url(), "--pull-interval", "1s")
	newServeProcess(t, b, "tok", addrB, "--peer", toA.url(), "--pull-interval", "1s")
	syncDevice := func() result {
		return run(t, []string{"TRIGSYNC_TOKEN=tok"}, binary, "sync", device, "--peer", toA.url())
	}

	// The shared row, on every node before the faults.
	shell(t, a, `INSERT INTO note VALUES ('shared', 'from a', 0)`)
	waitFor(t, "the shared row on b and on the device", func() bool {
		syncDevice()
		return noteCount(t, b) == 1 && noteCount(t, device) == 1
	})

	// Faults on: each node writes a row every 100–300 ms and, every third
	// time, edits the shared row (a and the device the same column, b
	// another); the device syncs after each of its writes.
	toA.startFaults()
	toB.startFaults()
	column := map[string]string{"a": "body", "b": "n", "device": "body"}
	inserted := make([]int, len(nodes))
	var syncs, syncFailures atomic.Int32
	errs := make(chan error, 1000)
	deadline := time.Now().Add(10 * time.Second)
	var wg sync.WaitGroup
	for i, db := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(i)))
			for k := 0; time.Now().Before(deadline); k++ {
				sql := fmt.Sprintf(`INSERT INTO note VALUES ('%s-%03d', 'x', %d);`, names[i], k, k)
				if k%3 == 0 {
					sql += fmt.Sprintf(`UPDATE note SET %s = '%s-%d' WHERE id = 'shared';`, column[names[i]], names[i], k)
				}
				if err := shellErr(db, sql); err != nil {
					errs <- err
					return
				}
				inserted[i]++
				if db == device {
					syncs.Add(1)
					if r := syncDevice(); r.code != 0 {
						syncFailures.Add(1)
					}
				}
				time.Sleep(time.Duration(100+rng.Intn(200)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("faults injected: %s; %s", toA.stopFaults(), toB.stopFaults())
	t.Logf("device syncs during the faults: %d, %d of them failed", syncs.Load(), syncFailures.Load())

	rows := 1 + inserted[0] + inserted[1] + inserted[2]
	waitFor(t, fmt.Sprintf("%d rows, the same on all three", rows), func() bool {
		if r := syncDevice(); r.code != 0 {
			return false
		}
		first := noteDump(t, a)
		return strings.Count(first, "\n") == rows && noteDump(t, b) == first && noteDump(t, device) == first
	})
	if r := syncDevice(); r.code != 0 || r.stdout != "sent 0, received 0, conflicts 0, held 0\n" {
		t.Errorf("a sync after convergence: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	for _, db := range nodes {
		checkIntegrity(t, db)
	}
	perOrigin := checkEachChangeOnce(t, nodes...)
	for i, db := range nodes {
		want := inserted[i] + (inserted[i]+2)/3 // the inserts, and an update every third write
		if db == a {
			want++ // the shared row
		}
		if got := perOrigin[nodeID(t, db)]; got != want {
			t.Errorf("changes made on %s: %d in the logs, want %d", filepath.Base(db), got, want)
		}
	}
}
