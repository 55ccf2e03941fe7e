package shipper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// How a Remote retries a request.
const (
	// FailureRetries bounds the retries after connection failures and
	// 5xx answers.
	FailureRetries = 5
	// OverloadRetries bounds the retries after 503 answers with
	// Retry-After (an overloaded peer, docs/PROTOCOL.md).
	OverloadRetries = 30

	retryWaitMin = 200 * time.Millisecond
	retryWaitMax = 5 * time.Second
)

// ErrOverloaded: the peer answered 503 with Retry-After (it had as many
// requests in progress as it takes) until the retries ran out of time or
// count.
var ErrOverloaded = errors.New("hub overloaded")

// attempts is what one request's retries have met so far.
type attempts struct {
	start    time.Time
	until    time.Time // retry no later than this; zero: ctx's deadline only
	n        int       // attempts made
	failures int       // connection failures and 5xx answers
	busy     int       // overloaded answers
	lastBusy bool      // the last answer was overloaded
}

type attemptsKey struct{}

// retryBound bounds the retries of the requests made with a context.
type retryBound struct {
	until  time.Time     // no retry after this; zero: no such bound
	window time.Duration // nor later than this after the request began
}

type retryBoundKey struct{}

// withAttempts returns ctx carrying a new count of a request's attempts,
// read by checkRetry.
func withAttempts(ctx context.Context) (context.Context, *attempts) {
	a := &attempts{start: time.Now()}
	if b, ok := ctx.Value(retryBoundKey{}).(retryBound); ok {
		a.until = a.start.Add(b.window)
		if !b.until.IsZero() && b.until.Before(a.until) {
			a.until = b.until
		}
	}
	return context.WithValue(ctx, attemptsKey{}, a), a
}

// withRetryBound returns ctx in which requests are not retried after
// until, nor later than window after each began (requests in progress go
// on to ctx's own deadline).
func withRetryBound(ctx context.Context, until time.Time, window time.Duration) context.Context {
	return context.WithValue(ctx, retryBoundKey{}, retryBound{until, window})
}

// allows reports whether a retry at t is within the deadlines.
func (a *attempts) allows(ctx context.Context, t time.Time) bool {
	if d, ok := ctx.Deadline(); ok && !t.Before(d) {
		return false
	}
	return a.until.IsZero() || t.Before(a.until)
}

// gaveUp is err, the last failure of the request, saying that the peer
// was overloaded when the retries stopped because of it.
func (a *attempts) gaveUp(err error) error {
	if !a.lastBusy {
		return err
	}
	return fmt.Errorf("%w: gave up after %d attempts in %s: %w", ErrOverloaded, a.n, time.Since(a.start).Round(100*time.Millisecond), err)
}

// checkRetry is retryablehttp's default policy (connection failures and
// 5xx answers), bounded per kind of failure and by the deadlines.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, cerr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	a, _ := ctx.Value(attemptsKey{}).(*attempts)
	if a == nil {
		return retry, cerr
	}
	a.n++
	_, a.lastBusy = retryAfter(resp)
	if !retry {
		return false, cerr
	}
	if a.lastBusy {
		a.busy++
		retry = a.busy <= OverloadRetries
	} else {
		a.failures++
		retry = a.failures <= FailureRetries
	}
	return retry && a.allows(ctx, time.Now().Add(leastWait(a.n-1, resp))), nil
}

// backoff is the wait before retry i (0: the first): leastWait and a
// random part of up to half as much again, so that clients refused
// together do not come back together.
func backoff(_, _ time.Duration, i int, resp *http.Response) time.Duration {
	w := leastWait(i, resp)
	return w + rand.N(w/2+1)
}

// leastWait is the exponential backoff of retry i, and at least the
// Retry-After of an overloaded answer.
func leastWait(i int, resp *http.Response) time.Duration {
	w := retryablehttp.DefaultBackoff(retryWaitMin, retryWaitMax, i, nil)
	if after, ok := retryAfter(resp); ok {
		w = max(w, after)
	}
	return w
}

// retryAfter is the Retry-After of a 503 or 429 answer, in seconds or as
// an HTTP date; ok is false for other answers.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests) {
		return 0, false
	}
	h := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
