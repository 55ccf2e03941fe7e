package changelog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/hlc"
)

// Migration is one schema version (docs/MIGRATIONS.md): the statements
// that made it from the version before. It travels as a log row of op
// Schema.
type Migration struct {
	Version  int64  `json:"version" db:"version"`
	SQL      string `json:"sql" db:"sql"`
	Checksum string `json:"checksum" db:"checksum"` // Checksum(SQL)
}

// AppliedMigration is a schema version as this database recorded it: with
// the stamp and the node of the log row that made it.
type AppliedMigration struct {
	Migration
	HLC  hlc.Timestamp `json:"hlc" db:"hlc"`
	Node string        `json:"node" db:"node"`
}

// Checksum is the hex SHA-256 of a migration's SQL.
func Checksum(sql string) string {
	sum := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(sum[:])
}

// CurrentSchema returns the database's schema version: 0 before the first
// migration.
func CurrentSchema(ctx context.Context, q sqlx.QueryerContext) (int64, error) {
	var v int64
	if err := sqlx.GetContext(ctx, q, &v, `SELECT ifnull(max(version), 0) FROM _trigsync_schema`); err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return v, nil
}

// Migrations returns the schema versions applied, in order.
func Migrations(ctx context.Context, q sqlx.QueryerContext) ([]AppliedMigration, error) {
	var out []AppliedMigration
	if err := sqlx.SelectContext(ctx, q, &out,
		`SELECT version, sql, checksum, hlc, node FROM _trigsync_schema ORDER BY version`); err != nil {
		return nil, fmt.Errorf("read the schema versions: %w", err)
	}
	return out, nil
}

// RecordMigration stores m as applied.
func RecordMigration(ctx context.Context, tx *sqlx.Tx, m AppliedMigration) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO _trigsync_schema(version, hlc, node, sql, checksum) VALUES (?, ?, ?, ?, ?)`,
		m.Version, int64(m.HLC), m.Node, m.SQL, m.Checksum); err != nil {
		return fmt.Errorf("record schema version %d: %w", m.Version, err)
	}
	return nil
}

// LogMigration appends migration m, made on this node, to the log: stamped
// after every row before it, in an epoch of its own. The log must be
// stamped through its end (Stamp, in the same transaction). It returns the
// stamp.
func LogMigration(ctx context.Context, tx *sqlx.Tx, m Migration, now time.Time) (hlc.Timestamp, error) {
	stamp, err := logControl(ctx, tx, Schema, now, m.SQL, m.Version, m.Checksum)
	if err != nil {
		return 0, fmt.Errorf("log schema version %d: %w", m.Version, err)
	}
	return stamp, nil
}

// logControl appends a row of op with no table (a schema version, a fork)
// whose values are v0, v1, …: stamped after every row before it, in an
// epoch of its own. The log must be stamped through its end.
func logControl(ctx context.Context, tx *sqlx.Tx, op Op, now time.Time, values ...any) (hlc.Timestamp, error) {
	if err := EnsureSlots(ctx, tx, len(values)); err != nil {
		return 0, err
	}
	var clock struct {
		HLC        int64 `db:"hlc"`
		StampedSeq int64 `db:"stamped_seq"`
		Epoch      int64 `db:"epoch"`
	}
	if err := tx.GetContext(ctx, &clock, `SELECT hlc, stamped_seq, epoch FROM `+ClockTable); err != nil {
		return 0, fmt.Errorf("read clock: %w", err)
	}
	stamp := max(hlc.FromTime(now), hlc.Timestamp(clock.HLC)+1)
	cols, marks := "", ""
	for i := range values {
		cols, marks = cols+", "+ValueColumn(i), marks+", ?"
	}
	args := append([]any{int64(stamp), clock.Epoch + 1, string(op)}, values...)
	res, err := tx.ExecContext(ctx, `INSERT INTO `+LogTable+`(hlc, epoch, tbl, op`+cols+`)
		SELECT ?, ?, 0, ?`+marks+` WHERE NOT EXISTS (SELECT 1 FROM `+LogTable+` WHERE seq > ?)`,
		append(args, clock.StampedSeq)...)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, fmt.Errorf("the log has rows not stamped yet")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+ClockTable+` SET hlc = ?, epoch = epoch + 1,
		stamped_seq = (SELECT max(seq) FROM `+LogTable+`)`, int64(stamp)); err != nil {
		return 0, fmt.Errorf("advance clock: %w", err)
	}
	return stamp, nil
}
