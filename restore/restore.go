// Package restore detects a node restored from an older copy of its own
// file (a VM snapshot, a backup, yesterday's file), and heals it
// (docs/FORMAT.md and docs/PROTOCOL.md, "Restored nodes").
//
// A restored node reuses log seqs and origin seqs its peers already saw
// from the history it lost, so peers would skip its new writes as
// duplicates and read past its log. At every exchange a peer states what
// it knows of the node: how far it read the node's log and the stamp of
// the row there, and the greatest of the node's own changes it holds with
// that change's stamp. A node whose log or own history does not hold what
// a peer saw was restored. It heals by taking a new node id: its own
// changes up to the fork point (the first one a peer holds differently, or
// lacks) stay those of the old id, whose later changes (the lost ones)
// come back from the peers; its changes from the fork point on are its
// new id's, so nothing is confused with the lost history.
package restore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
)

// Knowledge is what a peer knows of a node's history.
type Knowledge struct {
	LogSeq int64         `json:"log_seq"` // the peer read the node's log through this seq
	LogHLC hlc.Timestamp `json:"log_hlc"` // the stamp of the row there; 0: not known
	OwnSeq int64         `json:"own_seq"` // the greatest origin seq of the node's own changes the peer holds
	OwnHLC hlc.Timestamp `json:"own_hlc"` // that change's stamp; 0: not known
}

// Of reads what db knows of node peer.
func Of(ctx context.Context, q sqlx.QueryerContext, peer string) (Knowledge, error) {
	var k struct {
		LogSeq sql.NullInt64 `db:"log_seq"`
		LogHLC sql.NullInt64 `db:"log_hlc"`
		OwnSeq sql.NullInt64 `db:"own_seq"`
		OwnHLC sql.NullInt64 `db:"own_hlc"`
	}
	err := sqlx.GetContext(ctx, q, &k, `SELECT p.pulled_seq AS log_seq, p.pulled_hlc AS log_hlc, o.seq AS own_seq,
		CASE WHEN typeof(o.hlc) = 'integer' THEN o.hlc END AS own_hlc
		FROM _trigsync_nodes n LEFT JOIN _trigsync_peers p ON p.node = n.ref LEFT JOIN _trigsync_origins o ON o.node = n.ref
		WHERE n.node_id = ?`, peer)
	if errors.Is(err, sql.ErrNoRows) {
		return Knowledge{}, nil
	}
	if err != nil {
		return Knowledge{}, fmt.Errorf("read what this node knows of %s: %w", peer, err)
	}
	return Knowledge{LogSeq: k.LogSeq.Int64, LogHLC: hlc.Timestamp(k.LogHLC.Int64),
		OwnSeq: k.OwnSeq.Int64, OwnHLC: hlc.Timestamp(k.OwnHLC.Int64)}, nil
}

// ErrRestored means a node's log or own history does not hold what a peer
// saw of it: the node was restored from an older copy of itself.
var ErrRestored = errors.New("node restored from an older copy")

// Check fails with ErrRestored, saying what the peer saw that this node
// lacks, when db does not hold what knowledge k of peer says it held. It
// reads two rows by seq.
func Check(ctx context.Context, q sqlx.QueryerContext, peer string, k Knowledge) error {
	pruned, err := prunedSeq(ctx, q)
	if err != nil {
		return err
	}
	if k.LogSeq > pruned {
		row, err := logRow(ctx, q, k.LogSeq)
		if err != nil {
			return err
		}
		switch {
		case !row.exists:
			return fmt.Errorf("%w: peer %s read this node's log through seq %d, which the log does not hold", ErrRestored, peer, k.LogSeq)
		case k.LogHLC != 0 && row.hlc != k.LogHLC:
			return fmt.Errorf("%w: peer %s read another change at seq %d of this node's log (stamp %s, here %s)",
				ErrRestored, peer, k.LogSeq, k.LogHLC, describe(row))
		}
	}
	if k.OwnSeq > pruned {
		row, err := logRow(ctx, q, k.OwnSeq)
		if err != nil {
			return err
		}
		switch {
		case !row.exists || !row.own:
			return fmt.Errorf("%w: peer %s holds this node's own change %d, which this node's log does not hold", ErrRestored, peer, k.OwnSeq)
		case k.OwnHLC != 0 && row.hlc != k.OwnHLC:
			return fmt.Errorf("%w: peer %s holds another own change %d of this node (stamp %s, here %s)",
				ErrRestored, peer, k.OwnSeq, k.OwnHLC, describe(row))
		}
	}
	return nil
}

type row struct {
	exists, own bool
	hlc         hlc.Timestamp // 0 while unstamped
}

func describe(r row) string {
	if r.hlc == 0 {
		return "not stamped"
	}
	return r.hlc.String()
}

func logRow(ctx context.Context, q sqlx.QueryerContext, seq int64) (row, error) {
	var r struct {
		Own bool          `db:"own"`
		HLC sql.NullInt64 `db:"hlc"`
	}
	err := sqlx.GetContext(ctx, q, &r, `SELECT origin IS NULL AS own, CASE WHEN typeof(hlc) = 'integer' THEN hlc END AS hlc
		FROM `+changelog.LogTable+` WHERE seq = ?`, seq)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, nil
	}
	if err != nil {
		return row{}, fmt.Errorf("read log row %d: %w", seq, err)
	}
	return row{exists: true, own: r.Own, hlc: hlc.Timestamp(r.HLC.Int64)}, nil
}

func prunedSeq(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var seq int64
	err := sqlx.GetContext(ctx, q, &seq, `SELECT ifnull((SELECT value FROM _trigsync_meta WHERE key = 'pruned_seq'), 0)`)
	if err != nil {
		return 0, fmt.Errorf("read pruned seq: %w", err)
	}
	return seq, nil
}

// Record is one of a node's own changes as a peer holds it.
type Record struct {
	Seq int64         `json:"seq"`
	HLC hlc.Timestamp `json:"hlc"`
}

// MaxRecords bounds the records one heal compares: a peer's records of
// the node's own changes still in its log.
const MaxRecords = 1_000_000

// ErrClockBehind means a restored node's changes since the restore are
// stamped no later than the lost ones: a fork could not tell them apart.
var ErrClockBehind = errors.New("restored node's clock behind its lost changes")

// ErrTooMany means a peer holds more of a restored node's own changes
// than one heal compares: the node must be made anew (trigsync clone).
var ErrTooMany = errors.New("too many changes to compare")

// Records returns the changes of origin node that db holds with origin
// seq up to through, in order: what a restored node compares its own
// changes with. It scans the log (a heal is rare; no index is kept for
// it) and fails with ErrTooMany past MaxRecords.
func Records(ctx context.Context, q sqlx.QueryerContext, node string, through int64) ([]Record, error) {
	var out []Record
	err := sqlx.SelectContext(ctx, q, &out, `SELECT origin_seq AS seq, hlc FROM `+changelog.LogTable+`
		WHERE origin = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?) AND origin_seq <= ?
		ORDER BY origin_seq LIMIT ?`, node, through, MaxRecords+1)
	if err != nil {
		return nil, fmt.Errorf("read the changes of %s held here: %w", node, err)
	}
	if len(out) > MaxRecords {
		return nil, fmt.Errorf("%w: this node holds more than %d changes of node %s: make that node anew with trigsync clone", ErrTooMany, MaxRecords, node)
	}
	return out, nil
}

// Through returns the greatest seq of db's own changes: the last one a
// heal compares.
func Through(ctx context.Context, q sqlx.QueryerContext) (int64, error) { return lastOwn(ctx, q) }

func lastOwn(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var seq int64
	err := sqlx.GetContext(ctx, q, &seq, `SELECT ifnull(max(seq), 0) FROM `+changelog.LogTable+` WHERE origin IS NULL`)
	if err != nil {
		return 0, fmt.Errorf("read the last own change: %w", err)
	}
	return seq, nil
}

// Report says what a heal did.
type Report struct {
	Old, New string // the node id before and after
	Fork     int64  // the first own change the peer did not hold alike: from it on, changes are New's
	Kept     int64  // own changes before the fork, kept as Old's
	Reissued int64  // own changes from the fork on, now New's
	Lost     int64  // Old's changes after the fork that the peer holds: they come back from it
}

// Heal gives the restored node db (in tx, stamped and integrated) a new
// node id, splitting its own changes at the first one that records (a
// peer's) lacks or holds with another stamp. It logs what it did at WARN.
func Heal(ctx context.Context, tx *sqlx.Tx, records []Record, log *slog.Logger) (Report, error) {
	var r Report
	var err error
	if r.Old, err = changelog.NodeID(ctx, tx); err != nil {
		return r, err
	}
	var own []Record
	if err := tx.SelectContext(ctx, &own, `SELECT seq, hlc FROM `+changelog.LogTable+`
		WHERE origin IS NULL ORDER BY seq`); err != nil {
		return r, fmt.Errorf("heal: read own changes: %w", err)
	}
	held := make(map[int64]hlc.Timestamp, len(records))
	for _, rec := range records {
		held[rec.Seq] = rec.HLC
	}
	r.Fork = 1
	var forkHLC hlc.Timestamp
	for i, o := range own {
		if s, ok := held[o.Seq]; !ok || s != o.HLC {
			r.Fork, forkHLC = o.Seq, o.HLC
			r.Reissued = int64(len(own) - i)
			break
		}
		r.Fork = o.Seq + 1
	}
	// Lost: the peer's records this node does not hold alike before the
	// fork, from it on, and below it where a peer's change now fills the
	// seq one of the lost copy's own changes had.
	kept := make(map[int64]hlc.Timestamp, len(own))
	for _, o := range own {
		if o.Seq < r.Fork {
			kept[o.Seq] = o.HLC
		}
	}
	for _, rec := range records {
		if s, ok := kept[rec.Seq]; !ok || s != rec.HLC {
			r.Lost++
		}
		// A fork tells the copy's changes from the lost ones by their
		// stamps: the copy's must be the later ones.
		if rec.Seq >= r.Fork && forkHLC != 0 && rec.HLC >= forkHLC {
			return r, fmt.Errorf("%w: the lost change %d of node %s is stamped %s, not before the restored copy's first change %d (%s): its clock ran behind; "+
				"nothing was changed: make this node anew with trigsync clone (its changes since the restore are lost with it)",
				ErrClockBehind, rec.Seq, r.Old, rec.HLC, r.Fork, forkHLC)
		}
	}
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"name the old id", `INSERT OR IGNORE INTO _trigsync_nodes(node_id) VALUES (?)`, []any{r.Old}},
		{"keep the old id on its changes before the fork", `UPDATE ` + changelog.LogTable + ` SET origin = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?), origin_seq = seq
			WHERE origin IS NULL AND seq < ?`, []any{r.Old, r.Fork}},
		{"record the old id's changes held here", `INSERT OR REPLACE INTO _trigsync_origins(node, seq, hlc)
			SELECT origin, origin_seq, CASE WHEN typeof(hlc) = 'integer' THEN hlc END FROM ` + changelog.LogTable + ` WHERE origin = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?)
			ORDER BY origin_seq DESC LIMIT 1`, []any{r.Old}},
		// Peers read the new id's log from its start.
		{"reset acknowledgements", `UPDATE _trigsync_peers SET acked_seq = 0`, nil},
		// And this node reads theirs from the start: before the restore was
		// found, a peer's push may have carried the old id's lost changes,
		// which this node took for its own and moved its cursor past.
		{"read the peers' logs again", `UPDATE _trigsync_peers SET pulled_seq = 0, pulled_hlc = NULL`, nil},
	}
	for _, s := range steps {
		if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return r, fmt.Errorf("heal: %s: %w", s.what, err)
		}
	}
	if err := tx.GetContext(ctx, &r.Kept, `SELECT count(*) FROM `+changelog.LogTable+`
		WHERE origin = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?)`, r.Old); err != nil {
		return r, fmt.Errorf("heal: %w", err)
	}
	if r.New, err = changelog.NewNodeID(ctx, tx); err != nil {
		return r, err
	}
	// The merge state names the changes from the fork on by the old id:
	// they are the new id's now, as every node will see them.
	if forkHLC != 0 {
		f := changelog.Fork{Node: r.Old, Seq: r.Fork, HLC: forkHLC, Successor: r.New}
		if err := MoveStamps(ctx, tx, f); err != nil {
			return r, err
		}
		if err := changelog.RecordFork(ctx, tx, f); err != nil {
			return r, err
		}
		if err := changelog.LogFork(ctx, tx, f, time.Now()); err != nil {
			return r, err
		}
	}
	log.Warn("this node was restored from an older copy of itself: it takes a new node id",
		"old", r.Old, "new", r.New, "fork_seq", r.Fork, "kept", r.Kept, "reissued", r.Reissued, "lost_returning", r.Lost,
		"unrecoverable", "changes the lost copy made but never shipped to a peer")
	return r, nil
}

// MoveStamps rewrites the merge state for fork f: the stamps (≥ f.HLC,
// f.Node) of incarnations, tombstones, cells and logged incarnations are
// (the same HLC, f.Successor)'s. The restored node does it when it heals,
// every other node when the fork reaches it.
func MoveStamps(ctx context.Context, tx *sqlx.Tx, f changelog.Fork) error {
	var from, to int64
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO _trigsync_nodes(node_id) VALUES (?), (?)`, f.Node, f.Successor)
	if err == nil {
		err = tx.GetContext(ctx, &from, `SELECT ref FROM _trigsync_nodes WHERE node_id = ?`, f.Node)
	}
	if err == nil {
		err = tx.GetContext(ctx, &to, `SELECT ref FROM _trigsync_nodes WHERE node_id = ?`, f.Successor)
	}
	if err != nil {
		return fmt.Errorf("move the stamps of %s to %s: %w", f.Node, f.Successor, err)
	}
	for _, u := range []string{
		`UPDATE _trigsync_rows SET inc_node = ? WHERE inc_node = ? AND inc_hlc >= ?`,
		`UPDATE _trigsync_rows SET tomb_node = ? WHERE tomb_node = ? AND tomb_hlc >= ?`,
		`UPDATE _trigsync_cells SET node = ? WHERE node = ? AND hlc >= ?`,
		`UPDATE ` + changelog.LogTable + ` SET inc_node = ? WHERE inc_node = ? AND inc_hlc >= ?`,
	} {
		if _, err := tx.ExecContext(ctx, u, to, from, int64(f.HLC)); err != nil {
			return fmt.Errorf("move the stamps of %s to %s: %w", f.Node, f.Successor, err)
		}
	}
	return nil
}

// Known returns the greatest origin seq of node's changes in db's log that
// fork f does not void: what this node holds of node's true history after
// the changes the restored copy made are set aside (at least f.Seq-1).
func Known(ctx context.Context, q sqlx.QueryerContext, f changelog.Fork) (int64, hlc.Timestamp, error) {
	var k struct {
		Seq sql.NullInt64 `db:"seq"`
		HLC sql.NullInt64 `db:"hlc"`
	}
	err := sqlx.GetContext(ctx, q, &k, `SELECT origin_seq AS seq, hlc FROM `+changelog.LogTable+`
		WHERE origin = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?) AND NOT (origin_seq >= ? AND hlc >= ?)
		ORDER BY origin_seq DESC LIMIT 1`, f.Node, f.Seq, int64(f.HLC))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("read the changes of %s held here: %w", f.Node, err)
	}
	return k.Seq.Int64, hlc.Timestamp(k.HLC.Int64), nil
}

// Claim is what a node states of its own log for a peer to compare with
// what the peer knows of it (Knowledge.Matches), so that the peer can
// check in one request what Check would find.
type Claim struct {
	Pruned int64  `json:"pruned"` // the node's log is pruned through this seq
	Log    Record `json:"log"`    // the row at the seq the node believes the peer read its log through (HLC 0: none)
	Own    Record `json:"own"`    // its last own change at or before Log.Seq (Seq 0: none)
}

// ClaimAt states db's log at seq.
func ClaimAt(ctx context.Context, q sqlx.QueryerContext, seq int64) (Claim, error) {
	c := Claim{Log: Record{Seq: seq}}
	var err error
	if c.Pruned, err = prunedSeq(ctx, q); err != nil {
		return c, err
	}
	r, err := logRow(ctx, q, seq)
	if err != nil {
		return c, err
	}
	c.Log.HLC = r.hlc
	err = sqlx.GetContext(ctx, q, &c.Own, `SELECT seq, CASE WHEN typeof(hlc) = 'integer' THEN hlc ELSE 0 END AS hlc
		FROM `+changelog.LogTable+` WHERE origin IS NULL AND seq <= ? ORDER BY seq DESC LIMIT 1`, seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("read the last own change through seq %d: %w", seq, err)
	}
	return c, nil
}

// Matches reports whether k, what a peer knows of a node, is what the
// node's claim c states: then Check of k on that node passes, and the
// node's log goes on from c.Log.Seq for the peer. Anything else takes an
// exchange that checks (Check, and a heal when the node was restored).
func (k Knowledge) Matches(c Claim) bool {
	if k.LogSeq != c.Log.Seq || (k.LogSeq > c.Pruned && (c.Log.HLC == 0 || (k.LogHLC != 0 && k.LogHLC != c.Log.HLC))) {
		return false
	}
	return k.OwnSeq <= c.Pruned || (k.OwnSeq == c.Own.Seq && (k.OwnHLC == 0 || k.OwnHLC == c.Own.HLC))
}
