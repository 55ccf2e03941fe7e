package shipper

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
)

// FailoverRetryWindow bounds how long SyncFirst retries a request to a
// peer that is not the last, and Loop any request: a hub that is down or
// overloaded costs at most this much of each request before the next hub
// is tried.
const FailoverRetryWindow = 5 * time.Second

// SyncFirst exchanges changes (SyncRemote) with the first of peers, in
// order, that completes both directions. A peer that fails is logged at
// WARN and the next is tried. The retries of a request to a peer that is
// not the last stop after FailoverRetryWindow and, when ctx has a
// deadline, at the peer's share of the time left (divided evenly among
// the peers not yet tried), so that a peer that is down leaves time for
// the others; the last peer retries as a Remote does.
// The summary adds up what every attempt moved; when every peer fails,
// the error lists each peer's. An ended ctx stops it at once. path, when
// not "", is local's file: a node away past a peer's log horizon then
// rebuilds (SyncRemoteRebuild).
func SyncFirst(ctx context.Context, local *sqlx.DB, path string, peers []*Remote, opts applier.Options, log *slog.Logger) (Summary, error) {
	var total Summary
	var errs []error
	for i, p := range peers {
		pctx := ctx
		if i < len(peers)-1 {
			var share time.Time
			if d, ok := ctx.Deadline(); ok {
				share = time.Now().Add(time.Until(d) / time.Duration(len(peers)-i))
			}
			pctx = withRetryBound(ctx, share, FailoverRetryWindow)
		}
		s, err := syncRemote(pctx, local, path, p, opts)
		total.Sent.Add(s.Sent)
		total.Received.Add(s.Received)
		if s.Rebuilt != nil {
			total.Rebuilt = s.Rebuilt
		}
		if err == nil || len(peers) == 1 {
			return total, err // one peer: the caller names it
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.URL(), err))
		if ctx.Err() != nil {
			break
		}
		if i < len(peers)-1 {
			log.Warn("sync failed; trying the next peer", "peer", p.URL(), "next", peers[i+1].URL(), "err", err)
		}
	}
	return total, fmt.Errorf("%d of %d peers tried, none completed: %w", len(errs), len(peers), peerErrors(errs))
}

// peerErrors are the failures of the peers a sync tried, on one line.
type peerErrors []error

func (e peerErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e peerErrors) Unwrap() []error { return e }

// Offset is how long a scheduled sync of node waits before it starts:
// an offset in [0, within) that the node id decides, so that the nodes of
// a fleet whose cron lines fire at the same moment come at different
// moments, each at the same one every time. 0 when within ≤ 0.
func Offset(node string, within time.Duration) time.Duration {
	if within <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(node))
	return time.Duration(h.Sum64() % uint64(within))
}
