package shipper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/shipper"
)

// TestOffset: the wait before a scheduled sync is the same for a node
// every time, within [0, d), different for different nodes, and 0 without
// a span.
func TestOffset(t *testing.T) {
	const d = 50 * time.Second
	seen := map[time.Duration]bool{}
	for i := range 200 {
		id := fmt.Sprintf("%032x", i)
		o := shipper.Offset(id, d)
		if o < 0 || o >= d {
			t.Fatalf("offset of %s: %s, not in [0, %s)", id, o, d)
		}
		if again := shipper.Offset(id, d); again != o {
			t.Fatalf("offset of %s: %s, then %s", id, o, again)
		}
		seen[o.Truncate(5*time.Second)] = true
	}
	if len(seen) < 8 {
		t.Fatalf("200 nodes' offsets fall in %d of the 10 five-second slots", len(seen))
	}
	if o := shipper.Offset("a", 0); o != 0 {
		t.Fatalf("offset within 0: %s", o)
	}
	if o := shipper.Offset("a", time.Nanosecond); o != 0 {
		t.Fatalf("offset within 1 ns: %s", o)
	}
}

// hubServer serves hub's handler behind front, which may answer a
// request itself (and return true).
func hubServer(t *testing.T, hub *sqlx.DB, front func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	t.Helper()
	srv, err := server.New(t.Context(), server.Config{DB: hub})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !front(w, r) {
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func overloaded(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, `{"error": "overloaded: test", "overloaded": true}`)
}

// TestRetryAfterHonoured: a peer that answers 503 with Retry-After: 1
// twice is asked again no sooner than a second after each, and the sync
// completes.
func TestRetryAfterHonoured(t *testing.T) {
	hub, dev := node(t), node(t)
	dev.MustExec(`INSERT INTO item VALUES ('1', 'from dev', 1, NULL)`)
	var mu gosync.Mutex
	var at []time.Time
	ts := hubServer(t, hub, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) <= 2 {
			overloaded(w)
			return true
		}
		return false
	})
	peer, err := shipper.NewRemote(ts.URL, shipper.RemoteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := shipper.SyncRemote(ctx, dev, peer, applier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent.Applied != 1 {
		t.Fatalf("summary %+v", s)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= 2; i++ {
		if gap := at[i].Sub(at[i-1]); gap < time.Second {
			t.Errorf("request %d came %s after a 503 with Retry-After: 1", i+1, gap)
		}
	}
}

// TestOverloadedGivesUp: a peer that answers only 503 with Retry-After is
// given up at the deadline, with an error saying it was overloaded.
func TestOverloadedGivesUp(t *testing.T) {
	dev := node(t)
	ts := hubServer(t, node(t), func(w http.ResponseWriter, r *http.Request) bool { overloaded(w); return true })
	peer, err := shipper.NewRemote(ts.URL, shipper.RemoteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err = shipper.SyncRemote(ctx, dev, peer, applier.Options{})
	if !errors.Is(err, shipper.ErrOverloaded) || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("sync with a peer always overloaded: %v", err)
	}
}

// TestSyncFirstFailsOver: a dead first peer costs at most its share of
// the deadline (or, without one, FailoverRetryWindow), then the second
// takes the exchange; two live peers: the first does; two dead ones: the
// error names both.
func TestSyncFirstFailsOver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	hub1, hub2, dev := node(t), node(t), node(t)
	hubs := []*httptest.Server{
		hubServer(t, hub1, func(http.ResponseWriter, *http.Request) bool { return false }),
		hubServer(t, hub2, func(http.ResponseWriter, *http.Request) bool { return false }),
	}
	remotes := func(urls ...string) []*shipper.Remote {
		var out []*shipper.Remote
		for _, u := range urls {
			r, err := shipper.NewRemote(u, shipper.RemoteConfig{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	count := func(db *sqlx.DB) (n int) {
		if err := db.Get(&n, `SELECT count(*) FROM item`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))

	dev.MustExec(`INSERT INTO item VALUES ('1', 'from dev', 1, NULL)`)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	if _, err := shipper.SyncFirst(ctx, dev, "", remotes(dead, hubs[0].URL), applier.Options{}, log); err != nil {
		t.Fatalf("dead, then live: %v", err)
	}
	if count(hub1) != 1 || !strings.Contains(logged.String(), "trying the next peer") || !strings.Contains(logged.String(), dead) {
		t.Fatalf("hub 1 has %d rows; logged:\n%s", count(hub1), logged.String())
	}

	// Without a deadline, a dead peer's retries end after
	// FailoverRetryWindow.
	start := time.Now()
	if _, err := shipper.SyncFirst(t.Context(), dev, "", remotes(dead, hubs[0].URL), applier.Options{}, log); err != nil {
		t.Fatalf("dead, then live, without a deadline: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second/5 {
		t.Fatalf("the dead peer was left after %s: no retry", took)
	}

	dev.MustExec(`INSERT INTO item VALUES ('2', 'from dev', 2, NULL)`)
	if _, err := shipper.SyncFirst(t.Context(), dev, "", remotes(hubs[1].URL, hubs[0].URL), applier.Options{}, log); err != nil {
		t.Fatalf("live, live: %v", err)
	}
	if count(hub2) != 2 || count(hub1) != 1 {
		t.Fatalf("the first live peer has %d rows, the second %d", count(hub2), count(hub1))
	}

	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = shipper.SyncFirst(ctx, dev, "", remotes(dead, dead), applier.Options{}, log)
	if err == nil || strings.Count(err.Error(), dead) < 2 {
		t.Fatalf("two dead peers: %v", err)
	}
}
