package changelog

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/hlc"
)

// Fork says that node Node was restored from an older copy of itself and
// healed as node Successor (package restore, docs/FORMAT.md): the changes
// of Node with origin seq ≥ Seq and stamp ≥ HLC were made by the restored
// copy, which re-issued them as Successor's; a stamp (≥ HLC, Node) means
// (that HLC, Successor) wherever it is recorded. Node's changes before
// the fork, and its lost ones after it (their stamps are older), stay
// Node's.
type Fork struct {
	Node      string        `json:"node"`
	Seq       int64         `json:"seq"`
	HLC       hlc.Timestamp `json:"hlc"`
	Successor string        `json:"successor"`
}

// Void reports whether a change of origin seq and stamp is one the
// restored copy made, which its successor re-issued.
func (f Fork) Void(seq int64, stamp hlc.Timestamp) bool { return seq >= f.Seq && stamp >= f.HLC }

// LogFork appends fork f, made by this node's heal, to the log, stamped
// like LogMigration.
func LogFork(ctx context.Context, tx *sqlx.Tx, f Fork, now time.Time) error {
	if _, err := logControl(ctx, tx, Forked, now, f.Node, f.Seq, int64(f.HLC), f.Successor); err != nil {
		return fmt.Errorf("log the fork of node %s: %w", f.Node, err)
	}
	return nil
}

// RecordFork keeps f in _trigsync_forks (one per node: a node restored
// twice forks again under its successor's id).
func RecordFork(ctx context.Context, tx *sqlx.Tx, f Fork) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO _trigsync_forks(node, seq, hlc, successor) VALUES (?, ?, ?, ?)`,
		f.Node, f.Seq, int64(f.HLC), f.Successor)
	if err != nil {
		return fmt.Errorf("record the fork of node %s: %w", f.Node, err)
	}
	return nil
}

// Forks returns the forks recorded here, by node.
func Forks(ctx context.Context, q sqlx.QueryerContext) (map[string]Fork, error) {
	var rows []Fork
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT node, seq, hlc, successor FROM _trigsync_forks`); err != nil {
		return nil, fmt.Errorf("read forks: %w", err)
	}
	out := make(map[string]Fork, len(rows))
	for _, f := range rows {
		out[f.Node] = f
	}
	return out, nil
}

// AppendFork buffers change c of op Forked.
func (a *Appender) AppendFork(ctx context.Context, c Change, origin int64) error {
	if c.Fork == nil {
		return fmt.Errorf("append change to the log: a fork without its record")
	}
	f := c.Fork
	return a.add(ctx, "hlc,epoch,tbl,op,origin,origin_seq,v0,v1,v2,v3",
		[]any{int64(c.HLC), c.Epoch, 0, string(Forked), origin, c.OriginSeq, f.Node, f.Seq, int64(f.HLC), f.Successor})
}

// decodeFork reads the slots of an op Forked row: v0 the node, v1 the
// fork seq, v2 the fork stamp, v3 the successor.
func decodeFork(c Change, values []any) (Change, error) {
	if len(values) >= 4 {
		node, ok1 := values[0].(string)
		seq, ok2 := values[1].(int64)
		stamp, ok3 := values[2].(int64)
		succ, ok4 := values[3].(string)
		if ok1 && ok2 && ok3 && ok4 && ValidNodeID(node) && ValidNodeID(succ) {
			c.Fork = &Fork{Node: node, Seq: seq, HLC: hlc.Timestamp(stamp), Successor: succ}
			return c, nil
		}
	}
	return c, fmt.Errorf("changelog row %d: a fork without its node, seq, stamp and successor", c.Seq)
}
