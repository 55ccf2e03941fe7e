package changelog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// NodeID returns this database's node id; "" when none was given yet.
func NodeID(ctx context.Context, q sqlx.QueryerContext) (string, error) {
	var id string
	err := sqlx.GetContext(ctx, q, &id, `SELECT value FROM _trigsync_meta WHERE key = 'node_id'`)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read node id: %w", err)
	}
	return id, nil
}

// EnsureNodeID gives the database a random node id unless it has one, and
// returns it.
func EnsureNodeID(ctx context.Context, tx *sqlx.Tx) (string, error) {
	id, err := NodeID(ctx, tx)
	if err != nil || id != "" {
		return id, err
	}
	return setNodeID(ctx, tx)
}

// ResetNodeID gives a copied database a fresh node id. Log rows this file
// wrote under the old id keep it as their origin, so the history stays
// attributed to the node that made it.
func ResetNodeID(ctx context.Context, tx *sqlx.Tx) (old, fresh string, err error) {
	if old, err = NodeID(ctx, tx); err != nil {
		return "", "", err
	}
	if old == "" {
		return "", "", errors.New("reset node id: trigsync is not installed in this database")
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO _trigsync_nodes(node_id) VALUES (?)`, old); err != nil {
		return "", "", fmt.Errorf("reset node id: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE _trigsync_changelog SET origin = (SELECT ref FROM _trigsync_nodes WHERE node_id = ?), origin_seq = seq
		 WHERE origin IS NULL`, old); err != nil {
		return "", "", fmt.Errorf("reset node id: keep the old id on its log rows: %w", err)
	}
	// The copy has the original's changes: its version vector says so, so
	// that they are not sent to it again.
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO _trigsync_origins(node, seq, hlc)
		SELECT l.origin, l.origin_seq, CASE WHEN typeof(l.hlc) = 'integer' THEN l.hlc END FROM _trigsync_changelog l JOIN _trigsync_nodes n ON n.ref = l.origin
		WHERE n.node_id = ? ORDER BY l.origin_seq DESC LIMIT 1`, old); err != nil {
		return "", "", fmt.Errorf("reset node id: record the original's changes: %w", err)
	}
	fresh, err = setNodeID(ctx, tx)
	return old, fresh, err
}

// NewNodeID gives the database a new random node id and returns it; the
// caller sees to the log rows of the old one (ResetNodeID,
// restore.Heal).
func NewNodeID(ctx context.Context, tx *sqlx.Tx) (string, error) { return setNodeID(ctx, tx) }

func setNodeID(ctx context.Context, tx *sqlx.Tx) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make node id: %w", err)
	}
	id := hex.EncodeToString(b)
	if _, err := tx.ExecContext(ctx,
		`INSERT OR REPLACE INTO _trigsync_meta(key, value) VALUES ('node_id', ?)`, id); err != nil {
		return "", fmt.Errorf("store node id: %w", err)
	}
	return id, nil
}

// ValidNodeID reports whether id has the form of a node id: 32 lowercase
// hex digits.
func ValidNodeID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, r := range id {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
