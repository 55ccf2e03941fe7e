package shipper

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/restore"
)

// ExchangeHead is the first line of POST /v2/sync: who asks, what it
// knows of the hub (checked as a v1 pull's first read is), and what it
// states of its own log (restore.Claim, which the hub compares with what
// it knows of the caller).
type ExchangeHead struct {
	Node  string            `json:"node"`  // the caller
	Hub   string            `json:"hub"`   // the hub's node id, as the caller last saw it
	Knows restore.Knowledge `json:"knows"` // LogSeq: the caller's cursor in the hub's log
	Claim restore.Claim     `json:"claim"` // Log.Seq: where the caller's push chunks begin
	Limit int               `json:"limit"` // rows of the hub's log in the answer, at most
}

// ExchangeAnswer is the answer of POST /v2/sync.
type ExchangeAnswer struct {
	Pushed PushResult `json:"pushed"` // what the hub applied of the caller's changes
	Chunk  Chunk      `json:"chunk"`  // the first chunk of the hub's log for the caller
	More   bool       `json:"more"`   // the hub's log goes on past the chunk
}

// errFullExchange: the one-request exchange cannot decide alone; the v1
// exchange, which checks and heals, follows.
var errFullExchange = errors.New("a full exchange is needed")

// maxExchangeBody bounds the compressed changes one /v2/sync carries:
// more go by the streaming v1 push.
const maxExchangeBody = 4 << 20

// exchange is a device's sync in one request (POST /v2/sync): its own
// changes up, the first chunk of the hub's log down, the acknowledgement
// of what it committed riding on the next exchange. It reports false,
// having changed nothing, when the v1 exchange must run instead: the hub
// is new to this node or an older version, this node pulled changes from
// a file peer (those may be the hub's to receive, and only v1 relays
// them), or the hub's checks ask for it.
func (r *Remote) exchange(ctx context.Context, local *sqlx.DB, opts applier.Options) (Summary, bool, error) {
	var s Summary
	localID, err := changelog.NodeID(ctx, local)
	if err != nil {
		return s, false, err
	}
	hub, acked, ok, err := r.known(ctx, local)
	if err != nil || !ok {
		return s, false, err
	}
	if err := shippable(ctx, local); err != nil {
		return s, false, err
	}
	if err := Prepare(ctx, local); err != nil {
		return s, false, err
	}
	head := ExchangeHead{Node: localID, Hub: hub, Limit: DefaultChunkRows}
	if head.Knows, err = restore.Of(ctx, local, hub); err != nil {
		return s, false, err
	}
	if head.Knows.LogSeq, err = applier.Cursor(ctx, local, hub); err != nil {
		return s, false, err
	}
	if head.Claim, err = restore.ClaimAt(ctx, local, acked); err != nil {
		return s, false, err
	}
	body, ok, err := ownChanges(ctx, local, head, hub)
	if err != nil || !ok {
		return s, false, err
	}
	var ans ExchangeAnswer
	err = r.do(ctx, http.MethodPost, "/v2/sync", func() (io.Reader, error) { return bytes.NewReader(body), nil }, &ans)
	var restored *RestoredError
	if errors.Is(err, errFullExchange) || errors.As(err, &restored) { // v1 checks and heals
		r.log.Debug("exchange: the full exchange follows", "peer", r.base, "why", err)
		return s, false, nil
	}
	if err != nil {
		return s, true, fmt.Errorf("exchange: %w", err)
	}
	if ans.Chunk.Through < head.Knows.LogSeq || ans.Pushed.Through < acked {
		return s, true, fmt.Errorf("exchange: peer %s answered cursors behind the request's", r.base)
	}
	s.Sent = ans.Pushed.Result
	if err := peers.Acked(ctx, local, hub, ans.Pushed.Through); err != nil {
		return s, true, err
	}
	r.node = hub
	if !ans.Chunk.EpochEnd || ans.More {
		// The rest, from the cursor, by v1 pulls (chunks of one epoch
		// apply in one transaction).
		if ans.Chunk.EpochEnd {
			if s.Received, err = applyChunk(ctx, local, hub, ans.Chunk, opts); err != nil {
				return s, true, err
			}
		}
		more, err := Pull(ctx, local, r, DefaultChunkRows, opts)
		s.Received.Add(more)
		return s, true, err
	}
	s.Received, err = applyChunk(ctx, local, hub, ans.Chunk, opts)
	return s, true, err
}

// applyChunk applies a chunk that ends an epoch and moves the cursor of
// source to its end; it runs even for an empty chunk, retrying held
// changes, as every pull does.
func applyChunk(ctx context.Context, local *sqlx.DB, source string, ch Chunk, opts applier.Options) (applier.Result, error) {
	session, err := applier.Begin(ctx, local, opts)
	if err != nil {
		return applier.Result{}, err
	}
	if err := session.Apply(ctx, ch.Changes); err != nil {
		session.Rollback()
		return applier.Result{}, err
	}
	return session.Commit(ctx, source, ch.Through, ch.ThroughHLC)
}

// known returns the node id of the hub at this URL and how far it
// acknowledged local's log, when local exchanged with it before and has
// pulled from no file peer.
func (r *Remote) known(ctx context.Context, local *sqlx.DB) (hub string, acked int64, ok bool, err error) {
	var row struct {
		Node  string `db:"node_id"`
		Acked int64  `db:"acked_seq"`
		Files bool   `db:"files"`
	}
	err = local.GetContext(ctx, &row, `SELECT n.node_id, p.acked_seq,
			EXISTS (SELECT 1 FROM _trigsync_peers WHERE url IS NULL AND pulled_seq > 0) AS files
		FROM _trigsync_peers p JOIN _trigsync_nodes n ON n.ref = p.node WHERE p.url = ?
		ORDER BY p.last_success DESC LIMIT 1`, r.base) // a hub that healed a restore: its new id
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("read what this node knows of peer %s: %w", r.base, err)
	}
	return row.Node, row.Acked, !row.Files, nil
}

// ownChanges makes the body of an exchange: the head, then local's own
// changes after head.Claim.Log.Seq as push chunks, gzip-compressed. It
// reports false when they are more than maxExchangeBody, or local pruned
// its log past where they begin: the v1 push sends those.
func ownChanges(ctx context.Context, local *sqlx.DB, head ExchangeHead, hub string) ([]byte, bool, error) {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	enc := json.NewEncoder(gz)
	if err := enc.Encode(head); err != nil {
		return nil, false, err
	}
	for after := head.Claim.Log.Seq; ; {
		ch, err := ReadChunk(ctx, local, hub, after, DefaultChunkRows)
		var pruned *PrunedError
		if errors.As(err, &pruned) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if ch.Through == after {
			break
		}
		own := ch.Changes[:0]
		for _, c := range ch.Changes {
			if c.Origin == head.Node {
				own = append(own, c)
			}
		}
		ch.Changes = own
		if err := enc.Encode(ch); err != nil {
			return nil, false, err
		}
		if buf.Len() > maxExchangeBody {
			return nil, false, nil
		}
		after = ch.Through
	}
	if err := gz.Close(); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}
