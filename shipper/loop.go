package shipper

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
)

// Loop keeps a node in step with its peers: it pushes to every peer soon
// after the node's log grows (a commit by any client, or changes received
// that peers may lack) and pulls from every peer periodically.
type Loop struct {
	DB     *sqlx.DB
	Peers  []*Remote
	Poll   time.Duration // how often to look for new log rows; 0: 25 ms
	Pull   time.Duration // how often to pull; 0: 5 s
	Apply  applier.Options
	Logger *slog.Logger
	// Observe, when not nil, is told the outcome of every push ("push":
	// what the peer applied) and pull ("pull").
	Observe func(op string, res applier.Result, err error)
}

// Run works until ctx ends. A failed exchange with one peer is logged and
// tried again at the next turn; it does not stop the others. A request to
// a peer that is down or overloaded is retried for at most
// FailoverRetryWindow, so that it holds up the other peers no longer.
func (l *Loop) Run(ctx context.Context) {
	ctx = withRetryBound(ctx, time.Time{}, FailoverRetryWindow)
	poll, pull := l.Poll, l.Pull
	if poll == 0 {
		poll = 25 * time.Millisecond
	}
	if pull == 0 {
		pull = 5 * time.Second
	}
	observe := l.Observe
	if observe == nil {
		observe = func(string, applier.Result, error) {}
	}
	pushed := make([]int64, len(l.Peers)) // the log's last seq when each peer was last pushed to
	// After a failed push, the next waits: 1 s, doubling up to a minute.
	backoff := make([]time.Duration, len(l.Peers))
	retryAt := make([]time.Time, len(l.Peers))
	nextPull := time.Now()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		last, err := lastSeq(ctx, l.DB)
		if err != nil && ctx.Err() == nil {
			l.Logger.Warn("read the log", "err", err)
		}
		for i, p := range l.Peers {
			if last > pushed[i] && !time.Now().Before(retryAt[i]) {
				res, err := p.Push(ctx, l.DB, DefaultChunkRows)
				observe("push", res.Result, err)
				if err != nil {
					backoff[i] = min(max(2*backoff[i], time.Second), time.Minute)
					retryAt[i] = time.Now().Add(backoff[i])
					l.Logger.Warn("push", "peer", p.base, "err", p.record(ctx, l.DB, err), "retry_in", backoff[i])
				} else {
					backoff[i], pushed[i] = 0, last
					if res.Applied > 0 {
						l.Logger.Info("pushed", "peer", p.base, "applied", res.Applied, "conflicts", res.Conflicts, "held", res.Held)
					}
				}
			}
		}
		if !time.Now().Before(nextPull) {
			for _, p := range l.Peers {
				res, err := Pull(ctx, l.DB, p, DefaultChunkRows, l.Apply)
				observe("pull", res, err)
				if err = p.record(ctx, l.DB, err); err != nil {
					l.Logger.Warn("pull", "peer", p.base, "err", err)
				} else if res.Applied > 0 {
					l.Logger.Info("pulled", "peer", p.base, "applied", res.Applied, "conflicts", res.Conflicts, "held", res.Held)
				}
			}
			nextPull = time.Now().Add(pull)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// lastSeq is the greatest seq of the log, stamped or not: it grows with
// every commit that captured a change.
func lastSeq(ctx context.Context, db *sqlx.DB) (int64, error) {
	var seq int64
	err := db.GetContext(ctx, &seq, `SELECT ifnull(max(seq), 0) FROM `+changelog.LogTable)
	return seq, err
}
