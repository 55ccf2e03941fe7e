package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetryAfterHonoured: a proxy in front of a serve answers the first
// two requests with 503 and Retry-After: 1; sync asks again no sooner
// than a second after each, completes, and its change reaches the hub.
func TestRetryAfterHonoured(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "device")
	hub, dev := nodes[0], nodes[1]
	target, err := url.Parse(startServe(t, hub, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var at []time.Time
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		if n <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"error": "overloaded: held by the test", "overloaded": true}`)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	shell(t, dev, `INSERT INTO note VALUES ('d', 'from the device', 1)`)
	r := run(t, []string{"TRIGSYNC_TOKEN=tok"}, binary, "sync", dev, "--peer", proxy.URL, "--timeout", "1m")
	if r.code != 0 || r.stdout != "sent 1, received 0, conflicts 0, held 0\n" {
		t.Fatalf("sync through the proxy: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= 2; i++ {
		if gap := at[i].Sub(at[i-1]); gap < time.Second {
			t.Errorf("request %d came %s after a 503 with Retry-After: 1", i+1, gap)
		}
	}
	if got := noteDump(t, hub); got != "'d'|'from the device'|1\n" {
		t.Fatalf("hub: %q", got)
	}
}

// TestServeOverloaded: a serve with --max-concurrent 1 whose one slot a
// push holds (its body not ended) answers a sync with 503 and
// Retry-After, counted in /metrics; the sync waits, and completes once
// the slot is free, within its --timeout.
func TestServeOverloaded(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub", "device")
	hub, dev := nodes[0], nodes[1]
	base := startServe(t, hub, "tok", "--listen", "127.0.0.1:0", "--max-concurrent", "1")

	body, feed := io.Pipe()
	defer feed.Close() // the serve stops cleanly only once the push ends
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/changes", body)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	if _, err := io.WriteString(feed, `{"node": "`+strings.Repeat("ab", 16)+`"}`+"\n"); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "the push to hold the slot", func() bool {
		code, _ := get(t, base+"/v1/cursor?peer="+strings.Repeat("cd", 16), "tok")
		return code == http.StatusServiceUnavailable
	})

	shell(t, dev, `INSERT INTO note VALUES ('d', 'from the device', 1)`)
	synced := make(chan result, 1)
	go func() {
		r, err := runQuiet([]string{"TRIGSYNC_TOKEN=tok", "TRIGSYNC_LOG_LEVEL=debug"}, binary, "sync", dev, "--peer", base, "--timeout", "1m")
		if err != nil {
			r.stderr, r.code = err.Error(), -1
		}
		synced <- r
	}()
	overloaded := regexp.MustCompile(`(?m)^trigsync_overloaded_total (\d+)$`)
	waitFor(t, "the hub to refuse a request", func() bool {
		select {
		case r := <-synced:
			t.Fatalf("sync ended while the slot was held: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
		default:
		}
		_, m := get(t, base+"/metrics", "tok")
		n := overloaded.FindStringSubmatch(m)
		return n != nil && n[1] != "0" && n[1] != "1" // the probe's, and the sync's

	})
	feed.Close()
	if code := <-held; code != http.StatusOK {
		t.Fatalf("the push holding the slot: %d", code)
	}
	r := <-synced
	if r.code != 0 || r.stdout != "sent 1, received 0, conflicts 0, held 0\n" {
		t.Fatalf("sync while overloaded: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "status: 503") {
		t.Errorf("sync did not log a retry after a 503:\n%s", r.stderr)
	}
	if got := noteCount(t, hub); got != 1 {
		t.Fatalf("hub has %d rows", got)
	}
}

// TestSyncFailover: sync tries its --peer URLs in order: past a dead one
// (logged, naming it) to a live hub; of two live hubs, the first (after
// a --jitter wait logged at debug, stdout still the one line); with every
// peer dead it exits 1 naming each. A file among URLs is a usage error.
func TestSyncFailover(t *testing.T) {
	nodes := newReplicas(t, noteTable, "hub1", "hub2", "device")
	hub1, hub2, dev := nodes[0], nodes[1], nodes[2]
	live1, live2 := startServe(t, hub1, "tok"), startServe(t, hub2, "tok")
	dead := "http://" + freeAddr(t)
	env := []string{"TRIGSYNC_TOKEN=tok"}

	shell(t, dev, `INSERT INTO note VALUES ('1', 'one', 1)`)
	r := run(t, env, binary, "sync", dev, "--peer", dead, "--peer", live1, "--timeout", "20s")
	if r.code != 0 || r.stdout != "sent 1, received 0, conflicts 0, held 0\n" ||
		!strings.Contains(r.stderr, "trying the next peer") || !strings.Contains(r.stderr, "peer="+dead) {
		t.Fatalf("dead, then live: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	if got := noteCount(t, hub1); got != 1 {
		t.Fatalf("hub 1 has %d rows", got)
	}

	shell(t, dev, `INSERT INTO note VALUES ('2', 'two', 2)`)
	r = run(t, append(env, "TRIGSYNC_LOG_LEVEL=debug"), binary, "sync", dev, "--peer", live2, "--peer", live1, "--jitter", "2s")
	if r.code != 0 || r.stdout != "sent 2, received 0, conflicts 0, held 0\n" || strings.Contains(r.stderr, "next peer") ||
		!strings.Contains(r.stderr, "--jitter") {
		t.Fatalf("live, live: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	if n1, n2 := noteCount(t, hub1), noteCount(t, hub2); n1 != 1 || n2 != 2 {
		t.Fatalf("the first hub has %d rows, the second %d", n2, n1)
	}

	dead2 := "http://" + freeAddr(t)
	r = run(t, env, binary, "sync", dev, "--peer", dead, "--peer", dead2, "--timeout", "6s")
	last := r.stderr[strings.LastIndex(strings.TrimSuffix(r.stderr, "\n"), "\n")+1:]
	if r.code != 1 || !strings.HasPrefix(last, "trigsync: ") || !strings.Contains(last, "none completed") ||
		!strings.Contains(last, dead+": ") || !strings.Contains(last, dead2+": ") {
		t.Fatalf("two dead peers: exit %d; the error is not one line naming both:\n%s", r.code, r.stderr)
	}

	r = run(t, env, binary, "sync", dev, "--peer", live1, "--peer", hub2)
	if r.code != 2 || !strings.Contains(r.stderr, "not both") {
		t.Fatalf("a URL and a file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestThreeHubsFailover: three hubs serve each other (--peer the two
// others); six devices, two per hub, write rows and sync from "cron"
// with --peer their own hub --peer the next. One hub is SIGKILLed while
// devices sync, and restarted two rounds later: its devices fail over to
// the next hub meanwhile, and every sync exits 0. At the end every
// device's writes are on every hub and device, each once: the row counts
// are the writes, and every log holds each change once.
func TestThreeHubsFailover(t *testing.T) {
	const (
		devices = 6
		rounds  = 6
		perSync = 5 // rows a device writes each round
	)
	names := []string{"hub0", "hub1", "hub2"}
	for i := range devices {
		names = append(names, fmt.Sprintf("dev%d", i))
	}
	nodes := newReplicas(t, noteTable, names...)
	hubs, devs := nodes[:3], nodes[3:]
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	serves := make([]*serveProcess, 3)
	for i, db := range hubs {
		args := []string{"--pull-interval", "1s"}
		for j := range hubs {
			if j != i {
				args = append(args, "--peer", "http://"+addrs[j])
			}
		}
		serves[i] = newServeProcess(t, db, "tok", addrs[i], args...)
	}
	env := []string{"TRIGSYNC_TOKEN=tok"}
	var failovers atomic.Int64 // syncs that went on to the next hub
	syncDev := func(i int) error {
		own, other := "http://"+addrs[i%3], "http://"+addrs[(i+1)%3]
		r, err := runQuiet(env, binary, "sync", devs[i], "--peer", own, "--peer", other, "--timeout", "20s")
		if err == nil && r.code != 0 {
			err = fmt.Errorf("sync %s: exit %d\n%s%s", filepath.Base(devs[i]), r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "trying the next peer") {
			failovers.Add(1)
		}
		return err
	}
	syncAll := func() {
		t.Helper()
		errs := make([]error, devices)
		var wg sync.WaitGroup
		for i := range devices {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = syncDev(i) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	const victim = 1
	for round := range rounds {
		for i, dev := range devs {
			shell(t, dev, fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < %d)
				INSERT INTO note SELECT 'dev%d-r%d-' || x, 'round %d', x FROM i;`, perSync, i, round, round))
		}
		switch round {
		case 2: // killed while the devices sync
			done := make(chan struct{})
			go func() { defer close(done); time.Sleep(150 * time.Millisecond); serves[victim].kill() }()
			syncAll()
			<-done
		case 4:
			serves[victim].restart()
			syncAll()
		default:
			syncAll()
		}
	}

	// The hubs replicate among themselves; devices sync until every node
	// has every write (bounded: 20 rounds).
	want := devices * rounds * perSync
	complete := func() bool {
		for _, db := range nodes {
			if noteCount(t, db) != want {
				return false
			}
		}
		return true
	}
	for i := 0; !complete(); i++ {
		if i == 20 {
			counts := make([]string, len(nodes))
			for j, db := range nodes {
				counts[j] = filepath.Base(db) + " " + strconv.Itoa(noteCount(t, db))
			}
			t.Fatalf("after 20 more rounds the nodes hold %s rows of %d", strings.Join(counts, ", "), want)
		}
		time.Sleep(time.Second)
		syncAll()
	}
	first := noteDump(t, nodes[0])
	for _, db := range nodes[1:] {
		if got := noteDump(t, db); got != first {
			t.Fatalf("%s differs from %s", filepath.Base(db), filepath.Base(nodes[0]))
		}
	}
	// The victim's two devices went on to the next hub at least in the
	// round after the kill.
	if n := failovers.Load(); n < 2 {
		t.Errorf("%d syncs failed over", n)
	} else {
		t.Logf("%d syncs failed over", n)
	}
	perOrigin := checkEachChangeOnce(t, nodes...)
	for _, dev := range devs {
		if got := perOrigin[nodeID(t, dev)]; got != rounds*perSync {
			t.Errorf("changes made on %s: %d in the logs, want %d", filepath.Base(dev), got, rounds*perSync)
		}
	}
}
