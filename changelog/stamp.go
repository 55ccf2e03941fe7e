package changelog

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/hlc"
)

// The triggers write each local row with its wall-clock reading, a Julian
// day number, in hlc and no epoch. Stamp turns the readings into HLC stamps,
// in seq order, with the recurrence
//
//	stamp_i = max(ms_i << 16, stamp_{i-1} + 1),  stamp_0 = clock.hlc
//
// where ms_i is reading i in Unix milliseconds (SQLite keeps whole
// milliseconds, which +0.5 and the cast recover). It unrolls to
// stamp_i = i + max(clock.hlc, max_{j≤i}((ms_j<<16) - j)): a running
// maximum, computed by one window function.
const stampTail = `
	SELECT seq, rn + max(?1, max(((CAST(hlc*86400000.0+0.5 AS INTEGER)-210866760000000) << 16) - rn)
		OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING)) AS stamp
	FROM (SELECT seq, hlc, row_number() OVER (ORDER BY seq) AS rn FROM ` + LogTable + ` WHERE seq > ?2)`

// Stamp gives every unstamped local row its HLC stamp and a new epoch, and
// returns how many rows it stamped. It must run in a write transaction:
// then every row it stamps belongs to a committed transaction, so the rows
// of one epoch are whole transactions (docs/FORMAT.md, "Epochs").
func Stamp(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var c struct {
		HLC        int64 `db:"hlc"`
		StampedSeq int64 `db:"stamped_seq"`
		Epoch      int64 `db:"epoch"`
	}
	if err := tx.GetContext(ctx, &c, `SELECT hlc, stamped_seq, epoch FROM `+ClockTable); err != nil {
		return 0, fmt.Errorf("stamp: read clock: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+LogTable+` AS l SET hlc = s.stamp, epoch = ?3
		FROM (`+stampTail+`) AS s WHERE l.seq = s.seq`, c.HLC, c.StampedSeq, c.Epoch+1)
	if err != nil {
		return 0, fmt.Errorf("stamp changelog rows: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+ClockTable+` SET epoch = epoch + 1,
		(hlc, stamped_seq) = (SELECT hlc, seq FROM `+LogTable+` ORDER BY seq DESC LIMIT 1)`); err != nil {
		return 0, fmt.Errorf("stamp: advance clock: %w", err)
	}
	return n, nil
}

// Now returns the node's current HLC: the greatest stamp it wrote, would
// give its unstamped rows, or received. It only reads.
func Now(ctx context.Context, q sqlx.QueryerContext) (hlc.Timestamp, error) {
	var c struct {
		HLC        int64 `db:"hlc"`
		StampedSeq int64 `db:"stamped_seq"`
	}
	if err := sqlx.GetContext(ctx, q, &c, `SELECT hlc, stamped_seq FROM `+ClockTable); err != nil {
		return 0, fmt.Errorf("read clock: %w", err)
	}
	var last int64
	if err := sqlx.GetContext(ctx, q, &last, `SELECT ifnull(max(stamp), ?1) FROM (`+stampTail+`)`,
		c.HLC, c.StampedSeq); err != nil {
		return 0, fmt.Errorf("read clock: %w", err)
	}
	return hlc.Timestamp(last), nil
}
