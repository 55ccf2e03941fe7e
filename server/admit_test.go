package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trigsync/trigsync/internal/testutil"
	"github.com/trigsync/trigsync/server"
	"github.com/trigsync/trigsync/triggers"
)

// TestOverloaded: with one slot, held by a push whose body has not ended,
// a pull waits, then gets 503 with Retry-After and a JSON error naming the
// overload, and is counted; health stays outside the bound; once the push
// ends, the pull is served.
func TestOverloaded(t *testing.T) {
	db, _ := testutil.NewDB(t, `CREATE TABLE note(id TEXT PRIMARY KEY, body TEXT)`)
	if _, err := triggers.Install(t.Context(), db, triggers.Options{}); err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	s, err := server.New(t.Context(), server.Config{DB: db, MaxConcurrent: 1, Overloaded: func() { refused.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	peer := strings.Repeat("c", 32)

	// The push holds the slot until its body ends.
	body, feed := io.Pipe()
	pushed := make(chan int, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/changes", "application/x-ndjson", body)
		if err != nil {
			pushed <- 0
			return
		}
		resp.Body.Close()
		pushed <- resp.StatusCode
	}()
	if _, err := io.WriteString(feed, `{"node":"`+peer+`"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	// The push reads its first line in its handler: once a pull is
	// refused, the slot is the push's.
	pull := "/v1/changes?peer=" + peer + "&after=0&limit=10"
	var code int
	var answer string
	var header http.Header
	for i := 0; i < 100 && code != http.StatusServiceUnavailable; i++ {
		start := time.Now()
		resp, err := http.Get(ts.URL + pull)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, answer, header = resp.StatusCode, string(b), resp.Header
		if code == http.StatusServiceUnavailable && time.Since(start) < server.QueueWait {
			t.Fatalf("refused after %s, before waiting %s for a slot", time.Since(start), server.QueueWait)
		}
	}
	if code != http.StatusServiceUnavailable || header.Get("Retry-After") != "1" ||
		!strings.Contains(answer, `"overloaded":true`) || !strings.Contains(answer, "overloaded: 1 requests in progress") {
		t.Fatalf("pull while the slot is held: %d %v %s", code, header, answer)
	}
	if refused.Load() < 1 {
		t.Fatal("the refusal was not counted")
	}
	if code, body := call(t, ts, "GET", "/v1/health", "", ""); code != http.StatusOK {
		t.Fatalf("health while overloaded: %d %s", code, body)
	}

	feed.Close()
	if code := <-pushed; code != http.StatusOK {
		t.Fatalf("push: %d", code)
	}
	if code, body := call(t, ts, "GET", pull, "", ""); code != http.StatusOK {
		t.Fatalf("pull after the push: %d %s", code, body)
	}
}
