package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeAnswersPullsWhileItPulls: while a serve pulls from a peer, that
// peer can pull from it. The peer is a stand-in that, when asked for its
// changes, first asks the serve for the serve's changes — what a second
// serve pulling at the same moment does. Until bd21a53 a pull held the
// puller's write lock while it waited for the peer's answer, and a pull
// handler waited for its own write lock: two serves pulling from each
// other at once waited on each other until the 10 s busy timeout, again at
// every retry, and applications writing beside them failed with "database
// is locked" meanwhile.
func TestServeAnswersPullsWhileItPulls(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a")
	addr := freeAddr(t)
	const peerID = "0123456789abcdef0123456789abcdef"
	type answer struct {
		status int
		body   string
		took   time.Duration
	}
	answers := make(chan answer, 1)
	var asked atomic.Bool
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/health":
			fmt.Fprintf(w, `{"node_id": %q, "format": 1, "metadata_version": 2}`, peerID)
		case "/v1/cursor":
			fmt.Fprint(w, `{"through": 0}`)
		case "/v1/changes":
			if !asked.Swap(true) {
				req, _ := http.NewRequest("GET", "http://"+addr+"/v1/changes?peer="+peerID+"&after=0&limit=10", nil)
				req.Header.Set("Authorization", "Bearer tok")
				start := time.Now()
				resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
				a := answer{took: time.Since(start)}
				if err != nil {
					a.body = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					a.status, a.body = resp.StatusCode, string(b)
				}
				answers <- a
			}
			fmt.Fprint(w, `{"changes": [], "through": 0, "epoch_end": true}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer peer.Close()
	newServeProcess(t, nodes[0], "tok", addr, "--peer", peer.URL, "--pull-interval", "1h")
	select {
	case a := <-answers:
		if a.status != http.StatusOK || a.took > 5*time.Second {
			t.Fatalf("the serve answered a pull made while it pulled after %v: %d %s", a.took.Round(time.Millisecond), a.status, a.body)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the serve never pulled from its peer")
	}
}

// TestMutualPushOfLargeBatches: two serves, each with the other as peer,
// start with 20,000 changes the other lacks (one source transaction of
// 10 MB each) and push them to each other at the same moment: each push is
// a stream of 20 chunks that the receiver applies in one transaction, and
// both converge within seconds. With one database connection per process
// (internal/sqlitedb.MaxConns = 1) they deadlocked: each held its only
// connection in the apply transaction of the other's push while its own
// push body waited for that connection to read its next chunk.
//
// The pushes meet on purpose: each serve reaches its peer through a gate
// that holds the first push until the other push has reached its gate too.
func TestMutualPushOfLargeBatches(t *testing.T) {
	nodes := newReplicas(t, noteTable, "a", "b")
	a, b := nodes[0], nodes[1]
	const rows = 20000
	for _, n := range []struct{ db, prefix string }{{a, "a"}, {b, "b"}} {
		shell(t, n.db, fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)
			INSERT INTO note SELECT '%s-' || x, hex(randomblob(500)), x FROM i;`, rows, n.prefix))
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	barrier := newPushBarrier(t, 2)
	gateA, gateB := barrier.gate(t, addrA), barrier.gate(t, addrB)
	start := time.Now()
	newServeProcess(t, a, "tok", addrA, "--peer", "http://"+gateB, "--pull-interval", "1h")
	newServeProcess(t, b, "tok", addrB, "--peer", "http://"+gateA, "--pull-interval", "1h")
	waitFor(t, fmt.Sprintf("%d rows on both nodes", 2*rows), func() bool {
		return noteCount(t, a) == 2*rows && noteCount(t, b) == 2*rows
	})
	t.Logf("converged %v after the serves started", time.Since(start).Round(time.Millisecond))
	if !barrier.met() {
		t.Error("the two pushes did not meet: the test did not test what it says")
	}
	if da, db := noteDump(t, a), noteDump(t, b); da != db {
		t.Fatal("the nodes hold different rows")
	}
	checkEachChangeOnce(t, a, b)
}

// pushBarrier makes pushes meet: its gates forward TCP connections to a
// serve, but when a client starts a push (POST /v1/changes) the gate takes
// the first 2 MB of it (a few chunks: enough for the receiver to start
// applying) and then stops reading, so the sender's stream stalls mid-way,
// until n pushes have arrived or 20 s have passed. After that everything
// passes.
type pushBarrier struct {
	mu      sync.Mutex
	open    chan struct{}
	opened  bool
	arrived chan struct{}
}

func newPushBarrier(t *testing.T, n int) *pushBarrier {
	b := &pushBarrier{open: make(chan struct{}), arrived: make(chan struct{}, n)}
	go func() {
		timeout := time.After(20 * time.Second)
		for range n {
			select {
			case <-b.arrived:
			case <-timeout:
				t.Log("pushBarrier: not every push arrived within 20 s; letting them through")
				b.release()
				return
			}
		}
		b.mu.Lock()
		b.opened = true
		b.mu.Unlock()
		b.release()
	}()
	return b
}

func (b *pushBarrier) release() {
	select {
	case <-b.open:
	default:
		close(b.open)
	}
}

// met says whether the gate opened because all the pushes arrived.
func (b *pushBarrier) met() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened
}

// gate listens on a loopback port and forwards to target; it returns its
// address.
func (b *pushBarrier) gate(t *testing.T, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go b.forward(client, target)
		}
	}()
	return ln.Addr().String()
}

func (b *pushBarrier) forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { io.Copy(client, server); client.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			data := buf[:n]
			if bytes.Contains(data, []byte("POST /v1/changes")) {
				select {
				case <-b.open:
				default:
					held := append([]byte(nil), data...)
					for len(held) < 2<<20 && err == nil {
						n, err = client.Read(buf)
						held = append(held, buf[:n]...)
					}
					b.arrived <- struct{}{}
					<-b.open
					data = held
				}
			}
			if _, err := server.Write(data); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
