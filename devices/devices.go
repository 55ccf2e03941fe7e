// Package devices keeps the per-device credentials of a hub in its
// database (_trigsync_devices, metadata 6): a name, the SHA-256 of a
// random token (never the token), the node id the token is bound to,
// whether it may relay changes of other origins (a hub credential), and
// when it was made, revoked and last seen. The server looks tokens up by
// their hash; it knows nothing of HTTP.
package devices

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/changelog"
)

// Table holds the credentials.
const Table = "_trigsync_devices"

// TokenPrefix starts every device token, so that one is recognised in a
// file or a log.
const TokenPrefix = "tsd_"

// Errors of Add, Bind and Revoke.
var (
	ErrUnknown = errors.New("no device of that name")
	ErrExists  = errors.New("a device of that name exists")
	ErrBadName = errors.New("a device name is 1 to 64 letters, digits, '.', '_' or '-'")
	ErrBadNode = errors.New("not a node id (32 lowercase hex digits)")
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidName reports whether name may name a device.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Device is one credential.
type Device struct {
	Name     string     `json:"name"`
	Node     string     `json:"node_id,omitempty"` // the node the token is bound to; "" until its first request
	Hub      bool       `json:"hub"`               // may relay changes of other origins
	Created  time.Time  `json:"created_at"`
	Revoked  *time.Time `json:"revoked_at,omitempty"`
	LastSeen *time.Time `json:"last_seen,omitempty"` // recorded at most once a minute
	Version  string     `json:"version,omitempty"`   // the client's User-Agent when last seen
	// Released: the device fetched a snapshot, to rebuild under a new node
	// id; Node is the one it was bound to, and the next request binds the
	// credential to its new id (Release).
	Released bool `json:"released,omitempty"`
}

// released marks, in the node column, a credential Release let go.
const released = "released:"

// row is a Device as stored.
type row struct {
	Name     string         `db:"name"`
	Node     sql.NullString `db:"node"`
	Hub      bool           `db:"hub"`
	Created  int64          `db:"created_at"`
	Revoked  sql.NullInt64  `db:"revoked_at"`
	LastSeen sql.NullInt64  `db:"last_seen"`
	Version  sql.NullString `db:"version"`
}

const columns = `name, node, hub, created_at, revoked_at, last_seen, version`

func (r row) device() Device {
	node, rel := strings.CutPrefix(r.Node.String, released)
	return Device{Name: r.Name, Node: node, Released: rel, Hub: r.Hub, Created: time.UnixMilli(r.Created).UTC(),
		Revoked: millis(r.Revoked), LastSeen: millis(r.LastSeen), Version: r.Version.String}
}

func millis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

// Hash is what the table keeps of a token.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newToken is TokenPrefix and 32 random bytes in unpadded base64url.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Add makes the credential name, bound to node when node is not "", and
// returns its token: the only time it exists outside the client.
func Add(ctx context.Context, x sqlx.ExtContext, name, node string, hub bool, now time.Time) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("device %.80q: %w", name, ErrBadName)
	}
	if node != "" && !changelog.ValidNodeID(node) {
		return "", fmt.Errorf("device %s: node %.40q: %w", name, node, ErrBadNode)
	}
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	res, err := x.ExecContext(ctx, `INSERT INTO `+Table+`(name, token_hash, node, hub, created_at)
		VALUES (?, ?, nullif(?, ''), ?, ?) ON CONFLICT (name) DO NOTHING`, name, Hash(tok), node, hub, now.UnixMilli())
	if err != nil {
		return "", fmt.Errorf("add device %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("add device %s: %w (names stay taken after a revoke)", name, ErrExists)
	}
	return tok, nil
}

// Lookup finds the credential of token, revoked or not.
func Lookup(ctx context.Context, q sqlx.QueryerContext, token string) (Device, bool, error) {
	var r row
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+columns+` FROM `+Table+` WHERE token_hash = ?`, Hash(token))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, false, nil
	}
	if err != nil {
		return Device{}, false, fmt.Errorf("look up a device token: %w", err)
	}
	return r.device(), true, nil
}

// Any reports whether the node has device credentials, revoked ones
// included: then every request needs a token.
func Any(ctx context.Context, q sqlx.QueryerContext) (bool, error) {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, `SELECT EXISTS (SELECT 1 FROM `+Table+`)`); err != nil {
		return false, fmt.Errorf("read device credentials: %w", err)
	}
	return n == 1, nil
}

// Bind binds the credential name, when it is bound to no node yet, to
// node, and returns the node it is bound to: node, or the one an earlier
// request bound it to. A released credential binds only to a node id this
// node has never seen (a rebuilt device's new one), so that a device
// cannot take over another's id; otherwise the answer is "released:" and
// its old id.
func Bind(ctx context.Context, x sqlx.ExtContext, name, node string) (string, error) {
	if _, err := x.ExecContext(ctx, `UPDATE `+Table+` SET node = ?1 WHERE name = ?2 AND (node IS NULL
		OR (substr(node, 1, length(?3)) = ?3 AND NOT EXISTS (SELECT 1 FROM _trigsync_nodes WHERE node_id = ?1)))`,
		node, name, released); err != nil {
		return "", fmt.Errorf("bind device %s to node %s: %w", name, node, err)
	}
	var bound sql.NullString
	err := sqlx.GetContext(ctx, x, &bound, `SELECT node FROM `+Table+` WHERE name = ?`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("bind device %s: %w", name, ErrUnknown)
	}
	if err != nil {
		return "", fmt.Errorf("bind device %s to node %s: %w", name, node, err)
	}
	return bound.String, nil
}

// Release lets the credential name, bound to a node, bind again to a new
// node id: its device fetched a snapshot to rebuild from (a clone, or a
// rebuild after it was away past the log horizon), which gives it one.
func Release(ctx context.Context, x sqlx.ExecerContext, name string) error {
	_, err := x.ExecContext(ctx, `UPDATE `+Table+` SET node = ? || node
		WHERE name = ? AND node IS NOT NULL AND substr(node, 1, length(?)) <> ?`, released, name, released, released)
	if err != nil {
		return fmt.Errorf("release device %s: %w", name, err)
	}
	return nil
}

// Revoke revokes the credential name at now, and returns it. A credential
// revoked before keeps its first revocation time.
func Revoke(ctx context.Context, x sqlx.ExtContext, name string, now time.Time) (Device, error) {
	if _, err := x.ExecContext(ctx, `UPDATE `+Table+` SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`,
		now.UnixMilli(), name); err != nil {
		return Device{}, fmt.Errorf("revoke device %s: %w", name, err)
	}
	var r row
	err := sqlx.GetContext(ctx, x, &r, `SELECT `+columns+` FROM `+Table+` WHERE name = ?`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("revoke device %.80q: %w", name, ErrUnknown)
	}
	if err != nil {
		return Device{}, fmt.Errorf("revoke device %s: %w", name, err)
	}
	return r.device(), nil
}

// List returns every credential by name; none when the database predates
// metadata 6.
func List(ctx context.Context, q sqlx.QueryerContext) ([]Device, error) {
	var n int
	if err := sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, Table); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	var rows []row
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+columns+` FROM `+Table+` ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out := make([]Device, len(rows))
	for i, r := range rows {
		out[i] = r.device()
	}
	return out, nil
}

// Clear removes every credential, overwriting what it held: for a copy of
// the database that leaves the node (a snapshot).
func Clear(ctx context.Context, db *sqlx.DB) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("clear device credentials: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("clear device credentials: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `DELETE FROM `+Table); err != nil {
		return fmt.Errorf("clear device credentials: %w", err)
	}
	return nil
}
