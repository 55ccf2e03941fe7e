package applier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/peers"
)

// Pruned says what Prune removed.
type Pruned struct {
	Through    int64 // the log is now pruned through this seq
	Rows       int64 // log rows removed
	Tombstones int64 // merge state of deleted rows removed
	Expired    int64 // known peers left out of the horizon: not seen for longer than the device expiry
}

// pruneBatch bounds the log rows held in memory at once.
const pruneBatch = 1000

// Prune removes the log rows that every known peer acknowledged and that
// are older than retention, and the tombstones of the deletes among them
// (docs/PROTOCOL.md, "Pruned history"). A peer that dials in and was not
// seen for longer than expiry (0: no expiry) holds nothing back
// (peers.Expired). It records, per origin, the last change removed, so
// that a peer asking for pruned history can be told whether it lacks any
// of it. It runs in the caller's write transaction.
func Prune(ctx context.Context, tx *sqlx.Tx, retention, expiry time.Duration, now time.Time) (Pruned, error) {
	var p Pruned
	if err := Integrate(ctx, tx, nil); err != nil {
		return p, err
	}
	from, err := PrunedThrough(ctx, tx)
	if err != nil {
		return p, err
	}
	p.Through = from
	acked, expired, err := peers.Horizon(ctx, tx, now, expiry)
	if err != nil {
		return p, err
	}
	p.Expired = expired
	// The last row always stays: SQLite gives a new row the greatest seq
	// plus one, and seqs must never be given twice.
	var stamped, last int64
	if err := tx.QueryRowxContext(ctx, `SELECT stamped_seq, (SELECT ifnull(max(seq), 0) FROM `+changelog.LogTable+`)
		FROM `+changelog.ClockTable).Scan(&stamped, &last); err != nil {
		return p, fmt.Errorf("prune: %w", err)
	}
	through := min(acked, stamped, last-1)
	// Rows are pruned in seq order, so the first one too young bounds them.
	var young int64
	err = tx.GetContext(ctx, &young, `SELECT seq FROM `+changelog.LogTable+` WHERE seq > ? AND hlc >= ? ORDER BY seq LIMIT 1`,
		from, int64(hlc.FromTime(now.Add(-retention))))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return p, fmt.Errorf("prune: %w", err)
	default:
		through = min(through, young-1)
	}
	if through <= from {
		return p, nil
	}
	r, err := changelog.NewReader(ctx, tx)
	if err != nil {
		return p, err
	}
	removed := map[string]int64{} // origin → greatest origin seq removed
	for after := from; after < through; {
		cs, err := r.Read(ctx, tx, after, min(pruneBatch, int(through-after)))
		if err != nil {
			return p, err
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			removed[c.Origin] = max(removed[c.Origin], c.OriginSeq)
			if c.Op == changelog.Delete {
				n, err := dropTombstone(ctx, tx, c)
				if err != nil {
					return p, err
				}
				p.Tombstones += n
			}
		}
		after = cs[len(cs)-1].Seq
	}
	refs := changelog.NewNodeRefs()
	for origin, seq := range removed {
		ref, err := refs.Ref(ctx, tx, origin)
		if err != nil {
			return p, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO _trigsync_pruned(node, seq) VALUES (?, ?)
			ON CONFLICT (node) DO UPDATE SET seq = max(seq, excluded.seq)`, ref, seq); err != nil {
			return p, fmt.Errorf("prune: record what was removed: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM `+changelog.LogTable+` WHERE seq > ? AND seq <= ?`, from, through)
	if err != nil {
		return p, fmt.Errorf("prune the log: %w", err)
	}
	p.Rows, _ = res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE _trigsync_meta SET value = ? WHERE key = 'pruned_seq'`, through); err != nil {
		return p, fmt.Errorf("prune: %w", err)
	}
	p.Through = through
	return p, nil
}

// dropTombstone removes the merge state of the row c deleted, if c's delete
// is still what keeps it dead.
func dropTombstone(ctx context.Context, tx *sqlx.Tx, c changelog.Change) (int64, error) {
	pk := rowKey(c.Key)
	res, err := tx.ExecContext(ctx, `DELETE FROM _trigsync_rows WHERE tbl = ? AND pk = ?
		AND tomb_hlc = ? AND tomb_node = ifnull((SELECT ref FROM _trigsync_nodes WHERE node_id = ?), 0)
		AND inc_hlc = tomb_hlc AND inc_node = tomb_node`, c.Table, pk, int64(c.Incarnation), c.IncarnationNode)
	if err != nil {
		return 0, fmt.Errorf("prune the tombstone of %s %s: %w", c.Table, pk, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM _trigsync_cells WHERE tbl = ? AND pk = ?`, c.Table, pk); err != nil {
			return 0, fmt.Errorf("prune the tombstone of %s %s: %w", c.Table, pk, err)
		}
	}
	return n, nil
}

// PrunedThrough is the seq through which the log was pruned: 0 when never.
func PrunedThrough(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var seq int64
	err := sqlx.GetContext(ctx, q, &seq, `SELECT ifnull((SELECT value FROM _trigsync_meta WHERE key = 'pruned_seq'), 0)`)
	if err != nil {
		return 0, fmt.Errorf("read how far the log was pruned: %w", err)
	}
	return seq, nil
}

// VersionVector returns, per origin node id, the greatest origin seq this
// node has: its own log's last seq for itself.
func VersionVector(ctx context.Context, q sqlx.QueryerContext) (map[string]int64, error) {
	return nodeSeqs(ctx, q, `SELECT n.node_id, o.seq FROM _trigsync_origins o JOIN _trigsync_nodes n ON n.ref = o.node
		UNION ALL SELECT (SELECT value FROM _trigsync_meta WHERE key = 'node_id'), ifnull(max(seq), 0) FROM `+changelog.LogTable)
}

// PrunedVector returns, per origin node id, the greatest origin seq of the
// changes pruned from the log.
func PrunedVector(ctx context.Context, q sqlx.QueryerContext) (map[string]int64, error) {
	return nodeSeqs(ctx, q, `SELECT n.node_id, p.seq FROM _trigsync_pruned p JOIN _trigsync_nodes n ON n.ref = p.node`)
}

func nodeSeqs(ctx context.Context, q sqlx.QueryerContext, query string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read version vector: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, fmt.Errorf("read version vector: %w", err)
		}
		out[id] = max(out[id], seq)
	}
	return out, rows.Err()
}

// Lacks returns the first origin whose pruned changes the version vector
// have does not cover, or "" when have covers pruned.
func Lacks(have, pruned map[string]int64) (origin string, had, needed int64) {
	for o, seq := range pruned {
		if have[o] < seq && (origin == "" || o < origin) {
			origin, had, needed = o, have[o], seq
		}
	}
	return origin, had, needed
}
