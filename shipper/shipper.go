// Package shipper moves changes between nodes: it reads what a peer lacks
// from a node's log, in batches that never split an epoch, and hands them
// to the peer's applier. This file's Pull works between two databases the
// process can open; the HTTP transport sends the same batches.
package shipper

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
)

// DefaultBatchRows is how many log rows a batch holds, unless one epoch is
// longer: batches end on epoch boundaries.
const DefaultBatchRows = 1000

// Read integrates src's log and returns the changes after seq `after` that
// peer lacks (never its own), up to about limit rows ending at an epoch
// boundary, with the seq the read reached.
func Read(ctx context.Context, src *sqlx.DB, peer string, after int64, limit int) ([]changelog.Change, int64, error) {
	tx, err := src.BeginTxx(ctx, nil)
	if err != nil {
		return nil, after, fmt.Errorf("read changes: %w", err)
	}
	defer tx.Rollback()
	if err := applier.Integrate(ctx, tx); err != nil {
		return nil, after, err
	}
	r, err := changelog.NewReader(ctx, tx)
	if err != nil {
		return nil, after, err
	}
	rows, err := r.Read(ctx, tx, after, limit)
	if err != nil {
		return nil, after, err
	}
	for len(rows) > 0 { // finish the last epoch
		last := rows[len(rows)-1]
		more, err := r.Read(ctx, tx, last.Seq, limit)
		if err != nil {
			return nil, after, err
		}
		n := 0
		for n < len(more) && more[n].Origin == last.Origin && more[n].Epoch == last.Epoch {
			n++
		}
		rows = append(rows, more[:n]...)
		if n < len(more) || len(more) == 0 {
			break
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, after, fmt.Errorf("read changes: %w", err)
	}
	through := after
	var out []changelog.Change
	for _, c := range rows {
		through = c.Seq
		if c.Origin != peer {
			out = append(out, c)
		}
	}
	return out, through, nil
}

// Summary counts what a sync moved.
type Summary struct {
	Sent, Received applier.Result
}

// Pull applies to dst every change of src's log that dst lacks, batch by
// batch; each batch is one transaction on dst, which records how far it got.
func Pull(ctx context.Context, dst, src *sqlx.DB, limit int, opts applier.Options) (applier.Result, error) {
	var total applier.Result
	srcID, err := changelog.NodeID(ctx, src)
	if err != nil {
		return total, err
	}
	dstID, err := changelog.NodeID(ctx, dst)
	if err != nil {
		return total, err
	}
	if srcID == dstID {
		return total, fmt.Errorf("both databases have node id %s: give a copied file its own with trigsync reset-node-id", srcID)
	}
	for first := true; ; first = false {
		cursor, err := applier.Cursor(ctx, dst, srcID)
		if err != nil {
			return total, err
		}
		changes, through, err := Read(ctx, src, dstID, cursor, limit)
		if err != nil {
			return total, err
		}
		if through == cursor && !first { // the first apply runs even empty: it retries held changes
			return total, nil
		}
		res, err := applier.Apply(ctx, dst, applier.Batch{Peer: srcID, Through: through, Changes: changes}, opts)
		if err != nil {
			return total, err
		}
		total.Applied += res.Applied
		total.Duplicates += res.Duplicates
		total.Conflicts += res.Conflicts
		total.Held += res.Held
	}
}

// Sync pulls both ways between two databases.
func Sync(ctx context.Context, local, peer *sqlx.DB, opts applier.Options) (Summary, error) {
	var s Summary
	var err error
	if s.Sent, err = Pull(ctx, peer, local, DefaultBatchRows, opts); err != nil {
		return s, fmt.Errorf("send: %w", err)
	}
	if s.Received, err = Pull(ctx, local, peer, DefaultBatchRows, opts); err != nil {
		return s, fmt.Errorf("receive: %w", err)
	}
	return s, nil
}
