// Package peers keeps what a node knows of each peer it exchanges changes
// with: how far each side has the other's log, when the peer was last
// reached, and the last error. Status, metrics and log GC read it; it
// knows nothing of the transport.
package peers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
)

// Peer is one row of _trigsync_peers with what follows from it.
type Peer struct {
	NodeID      string     `json:"node_id"`
	URL         string     `json:"url,omitempty"`           // set when this node dials the peer
	PulledSeq   int64      `json:"pulled_seq"`              // the peer's log is applied here through this seq
	AckedSeq    int64      `json:"acked_seq"`               // the peer acknowledged this node's log through this seq
	Pending     int64      `json:"pending"`                 // log rows after AckedSeq the peer lacks
	Lag         float64    `json:"lag_seconds"`             // age of the first of them; 0 when none
	LastSuccess *time.Time `json:"last_success,omitempty"`  // the last complete exchange
	LastError   string     `json:"last_error,omitempty"`    // the last failure, if after LastSuccess
	LastErrorAt *time.Time `json:"last_error_at,omitempty"` // when it happened
	Expired     bool       `json:"expired,omitempty"`       // it no longer holds back log GC (MarkExpired)
}

// ref returns the node reference of id, adding it when new.
func ref(ctx context.Context, x sqlx.ExtContext, id string) (int64, error) {
	const known = `SELECT ref FROM _trigsync_nodes WHERE node_id = ?`
	var r int64
	err := sqlx.GetContext(ctx, x, &r, known, id)
	if errors.Is(err, sql.ErrNoRows) { // a node met for the first time
		if _, err = x.ExecContext(ctx, `INSERT OR IGNORE INTO _trigsync_nodes(node_id) VALUES (?)`, id); err == nil {
			err = sqlx.GetContext(ctx, x, &r, known, id)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("peer %s: %w", id, err)
	}
	return r, nil
}

// Acked records that peer holds this node's log through seq, as its pull
// request or its answer to a push said. Acknowledgements only grow.
func Acked(ctx context.Context, x sqlx.ExtContext, peer string, seq int64) error {
	r, err := ref(ctx, x, peer)
	if err != nil {
		return err
	}
	_, err = x.ExecContext(ctx, `INSERT INTO _trigsync_peers(node, acked_seq) VALUES (?, ?)
		ON CONFLICT (node) DO UPDATE SET acked_seq = max(acked_seq, excluded.acked_seq)`, r, seq)
	if err != nil {
		return fmt.Errorf("record what peer %s acknowledged: %w", peer, err)
	}
	return nil
}

// Pulled records, in the transaction of a pull request peer made, that it
// holds this node's log through acked and was seen at time at (its
// last_success): a device that dials in is seen only through its requests.
func Pulled(ctx context.Context, x sqlx.ExtContext, peer string, acked int64, at time.Time) error {
	r, err := ref(ctx, x, peer)
	if err != nil {
		return err
	}
	_, err = x.ExecContext(ctx, `INSERT INTO _trigsync_peers(node, acked_seq, last_success) VALUES (?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET acked_seq = max(acked_seq, excluded.acked_seq),
			last_success = max(ifnull(last_success, 0), excluded.last_success)`, r, acked, at.UnixMilli())
	if err != nil {
		return fmt.Errorf("record the pull of peer %s: %w", peer, err)
	}
	return nil
}

// Succeeded records a complete exchange with peer (reached at url, when
// this node dials it) at time at.
func Succeeded(ctx context.Context, x sqlx.ExtContext, peer, url string, at time.Time) error {
	r, err := ref(ctx, x, peer)
	if err != nil {
		return err
	}
	_, err = x.ExecContext(ctx, `INSERT INTO _trigsync_peers(node, url, last_success) VALUES (?, nullif(?, ''), ?)
		ON CONFLICT (node) DO UPDATE SET url = ifnull(excluded.url, url), last_success = excluded.last_success,
			last_error = NULL, last_error_at = NULL`, r, url, at.UnixMilli())
	if err != nil {
		return fmt.Errorf("record the exchange with peer %s: %w", peer, err)
	}
	return nil
}

// Failed records a failed exchange with the peer at url. A peer never
// reached yet has no row: only the log tells.
func Failed(ctx context.Context, x sqlx.ExecerContext, url string, cause error, at time.Time) error {
	_, err := x.ExecContext(ctx, `UPDATE _trigsync_peers SET last_error = ?, last_error_at = ? WHERE url = ?`,
		cause.Error(), at.UnixMilli(), url)
	if err != nil {
		return fmt.Errorf("record the failure of peer %s: %w", url, err)
	}
	return nil
}

// List returns every known peer, ordered by node id, with its pending
// changes and lag as of now.
func List(ctx context.Context, q sqlx.QueryerContext, now time.Time) ([]Peer, error) {
	return list(ctx, q, now, "")
}

// Dialed is List of the peers this node dials (those with a URL): other
// hubs, serve's --peer; not the devices that dial in, however many.
func Dialed(ctx context.Context, q sqlx.QueryerContext, now time.Time) ([]Peer, error) {
	return list(ctx, q, now, " WHERE p.url IS NOT NULL")
}

// DialIn counts the peers that dial in to this node (devices: no URL),
// and those of them seen since the time since.
func DialIn(ctx context.Context, q sqlx.QueryerContext, since time.Time) (known, seen int64, err error) {
	var n struct {
		Known int64 `db:"known"`
		Seen  int64 `db:"seen"`
	}
	err = sqlx.GetContext(ctx, q, &n, `SELECT count(*) AS known, ifnull(sum(last_success >= ?), 0) AS seen
		FROM _trigsync_peers WHERE url IS NULL`, since.UnixMilli())
	if err != nil {
		return 0, 0, fmt.Errorf("count the peers that dial in: %w", err)
	}
	return n.Known, n.Seen, nil
}

func list(ctx context.Context, q sqlx.QueryerContext, now time.Time, where string) ([]Peer, error) {
	var rows []struct {
		Ref         int64          `db:"node"`
		NodeID      string         `db:"node_id"`
		URL         sql.NullString `db:"url"`
		PulledSeq   int64          `db:"pulled_seq"`
		AckedSeq    int64          `db:"acked_seq"`
		LastSuccess sql.NullInt64  `db:"last_success"`
		LastError   sql.NullString `db:"last_error"`
		LastErrorAt sql.NullInt64  `db:"last_error_at"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT p.node, n.node_id, p.url, p.pulled_seq, p.acked_seq,
		p.last_success, p.last_error, p.last_error_at
		FROM _trigsync_peers p JOIN _trigsync_nodes n ON n.ref = p.node`+where+` ORDER BY n.node_id`)
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	out := make([]Peer, 0, len(rows))
	for _, r := range rows {
		p := Peer{NodeID: r.NodeID, URL: r.URL.String, PulledSeq: r.PulledSeq, AckedSeq: r.AckedSeq,
			LastError: r.LastError.String, LastSuccess: millis(r.LastSuccess), LastErrorAt: millis(r.LastErrorAt)}
		// What the peer lacks: the stamped rows after its acknowledgement,
		// but for its own changes.
		var first sql.NullInt64
		err := sqlx.GetContext(ctx, q, &p.Pending, `SELECT count(*) FROM `+changelog.LogTable+`
			WHERE seq > ? AND seq <= (SELECT stamped_seq FROM `+changelog.ClockTable+`) AND origin IS NOT ?`, r.AckedSeq, r.Ref)
		if err == nil && p.Pending > 0 {
			err = sqlx.GetContext(ctx, q, &first, `SELECT hlc FROM `+changelog.LogTable+`
				WHERE seq > ? AND origin IS NOT ? ORDER BY seq LIMIT 1`, r.AckedSeq, r.Ref)
		}
		if err != nil {
			return nil, fmt.Errorf("pending changes of peer %s: %w", r.NodeID, err)
		}
		if first.Valid {
			p.Lag = max(0, now.Sub(hlc.Timestamp(first.Int64).Time()).Seconds())
		}
		out = append(out, p)
	}
	return out, nil
}

// Expired reports whether a peer last seen at seen (nil: never recorded)
// no longer holds back log GC at time now: it dials in (no url: a device,
// seen through its own requests), it was seen, and longer than expiry ago.
// A peer this node dials never expires: it is held until forgotten
// (trigsync gc --forget). expiry 0 disables expiry.
func Expired(url string, seen *time.Time, now time.Time, expiry time.Duration) bool {
	return expiry > 0 && url == "" && seen != nil && seen.Before(now.Add(-expiry))
}

// MarkExpired sets Expired on the peers that Expired says so of.
func MarkExpired(ps []Peer, now time.Time, expiry time.Duration) {
	for i := range ps {
		ps[i].Expired = Expired(ps[i].URL, ps[i].LastSuccess, now, expiry)
	}
}

// Horizon is the log seq every known peer acknowledged, leaving out the
// peers expired at time now (Expired): 0 when no peer counts, since then
// nobody has anything yet. expired counts the peers left out.
func Horizon(ctx context.Context, q sqlx.QueryerContext, now time.Time, expiry time.Duration) (seq, expired int64, err error) {
	var h struct {
		Seq     sql.NullInt64 `db:"seq"`
		Expired int64         `db:"expired"`
	}
	cutoff := int64(math.MinInt64) // expiry 0: nobody is expired
	if expiry > 0 {
		cutoff = now.Add(-expiry).UnixMilli()
	}
	// The rule of Expired, in SQL: one pass over the peers.
	err = sqlx.GetContext(ctx, q, &h, `SELECT min(acked_seq) FILTER (WHERE NOT gone) AS seq, count(*) FILTER (WHERE gone) AS expired
		FROM (SELECT acked_seq, url IS NULL AND last_success IS NOT NULL AND last_success < ? AS gone FROM _trigsync_peers)`, cutoff)
	if err != nil {
		return 0, 0, fmt.Errorf("read peers' acknowledgements: %w", err)
	}
	return h.Seq.Int64, h.Expired, nil
}

func millis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

// Cloned records that this node was made from peer's snapshot, which held
// peer's log through seq: this node has it, and, its own log being that
// same log, the peer has this node's through seq too.
func Cloned(ctx context.Context, x sqlx.ExtContext, peer, url string, seq int64) error {
	r, err := ref(ctx, x, peer)
	if err != nil {
		return err
	}
	_, err = x.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_peers(node, url, pulled_seq, acked_seq) VALUES (?, ?, ?, ?)`,
		r, url, seq, seq)
	if err != nil {
		return fmt.Errorf("record the clone of peer %s: %w", peer, err)
	}
	return nil
}

// Forget removes peer from the known peers, so that what it has not
// acknowledged no longer keeps the log from being pruned. It reports
// whether the peer was known.
func Forget(ctx context.Context, x sqlx.ExecerContext, peer string) (bool, error) {
	res, err := x.ExecContext(ctx, `DELETE FROM _trigsync_peers WHERE node = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?)`, peer)
	if err != nil {
		return false, fmt.Errorf("forget peer %s: %w", peer, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Contact returns how far peer acknowledged this node's log (-1: never)
// and when it was last seen (the zero time: never).
func Contact(ctx context.Context, q sqlx.QueryerContext, peer string) (acked int64, seen time.Time, err error) {
	var row struct {
		Acked int64         `db:"acked_seq"`
		Seen  sql.NullInt64 `db:"last_success"`
	}
	err = sqlx.GetContext(ctx, q, &row, `SELECT p.acked_seq, p.last_success FROM _trigsync_peers p
		JOIN _trigsync_nodes n ON n.ref = p.node WHERE n.node_id = ?`, peer)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read what peer %s acknowledged: %w", peer, err)
	}
	if row.Seen.Valid {
		seen = time.UnixMilli(row.Seen.Int64)
	}
	return row.Acked, seen, nil
}
