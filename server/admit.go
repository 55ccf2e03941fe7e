package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Admission control (docs/PROTOCOL.md, *Overload*).
const (
	// QueueWait is how long a request waits for a slot before it is
	// refused.
	QueueWait = 200 * time.Millisecond
	// RetryAfter is the Retry-After of a refused request, in seconds.
	RetryAfter = 1
)

// admission bounds the requests in progress on the routes that read or
// write the database: at most cap(slots) run at once; a request beyond
// waits up to QueueWait for a slot, with at most as many others waiting;
// the rest are answered 503 with Retry-After.
type admission struct {
	slots    chan struct{}
	waiting  atomic.Int64
	rejected func()
}

func newAdmission(limit int, rejected func()) *admission {
	return &admission{slots: make(chan struct{}, limit), rejected: rejected}
}

// admit runs next once the request holds a slot.
func (a *admission) admit(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.slots <- struct{}{}:
		default:
			if !a.queue(r) {
				a.refuse(w)
				return
			}
		}
		defer func() { <-a.slots }()
		next(w, r)
	}
}

// queue waits for a slot, up to QueueWait, and reports whether it got one.
func (a *admission) queue(r *http.Request) bool {
	if a.waiting.Add(1) > int64(cap(a.slots)) {
		a.waiting.Add(-1)
		return false
	}
	defer a.waiting.Add(-1)
	timer := time.NewTimer(QueueWait)
	defer timer.Stop()
	select {
	case a.slots <- struct{}{}:
		return true
	case <-timer.C:
	case <-r.Context().Done():
	}
	return false
}

// refuse answers 503: the caller retries after RetryAfter seconds. It is
// not logged: under overload that would add to the load; the count goes
// to rejected.
func (a *admission) refuse(w http.ResponseWriter) {
	a.rejected()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(map[string]any{"overloaded": true,
		"error": fmt.Sprintf("overloaded: %d requests in progress; retry after %d s", cap(a.slots), RetryAfter)})
}
