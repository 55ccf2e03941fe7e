package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/restore"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// exchange answers POST /v2/sync, a device's whole sync in one request
// (docs/PROTOCOL.md, "The one-request exchange"): the body is the
// head, then the caller's own changes as push chunks; the answer is what
// the push applied and the first chunk of this node's log for the
// caller. Whatever the exchange cannot decide alone (a node id changed, a
// restore, records that differ, pruned history) is answered 409 with
// "exchange": "v1" before anything is applied: the caller makes the full
// v1 exchange, which checks and heals.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	// Its work is bounded (a body of MaxPushBytes, a chunk of MaxPullRows):
	// it runs to the end when the caller goes away (an answer lost is what
	// the next exchange's claim check is for), and its statements are
	// spared the driver's watcher goroutine, one per statement under a
	// context that can be canceled.
	ctx := context.WithoutCancel(r.Context())
	body, err := s.gunzipped(w, r, MaxPushBytes)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	var head shipper.ExchangeHead
	if err := dec.Decode(&head); err != nil {
		s.fail(w, r, status(err), fmt.Errorf("exchange: the first line must be the head: %w", err))
		return
	}
	r.URL.RawQuery = "peer=" + head.Node
	peer, code, err := s.peer(r)
	if err != nil {
		s.fail(w, r, code, err)
		return
	}
	if head.Limit < 1 || head.Knows.LogSeq < 0 {
		s.fail(w, r, http.StatusBadRequest, errors.New("exchange: limit must be a positive row count, knows.log_seq a seq"))
		return
	}
	if head.Hub != s.id() {
		s.fullExchange(w, r, fmt.Sprintf("this node's id is %s, not %s", s.id(), head.Hub))
		return
	}
	// The checks read in one transaction: one lock, one moment.
	why, err := s.decidable(ctx, peer, head)
	if errors.Is(err, restore.ErrRestored) {
		s.failRestored(w, r, err) // as a v1 pull: the caller heals this node
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if why != "" {
		s.fullExchange(w, r, why)
		return
	}
	if err := s.drift.Check(ctx, s.cfg.DB); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, triggers.ErrSchemaDrift) {
			code = http.StatusConflict
		}
		s.fail(w, r, code, err)
		return
	}
	// The caller's acknowledgement of this log commits with its push, or
	// with the move of its cursor: then answering it needs no other write.
	acked := head.Knows.LogSeq
	ack := func(tx *sqlx.Tx) error { return peers.Pulled(ctx, tx, peer, acked, time.Now()) }
	var ans shipper.ExchangeAnswer
	pushed, err := s.apply(ctx, decode(dec), peer, ack) // a small body: no read-ahead
	ans.Pushed = shipper.PushResult{Through: pushed.Through, Result: pushed.Result}
	s.cfg.Observe("received", pushed.Result, err)
	if err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	ans.Chunk, ans.More, err = s.readFor(ctx, peer, acked, acked, min(head.Limit, MaxPullRows))
	var gone *shipper.PrunedError
	if errors.As(err, &gone) { // pruned since the check: applied pushes stay, the caller pushes nothing twice
		s.fullExchange(w, r, fmt.Sprintf("%v: the caller's cursor %d is behind it", gone, acked))
		return
	}
	if err != nil {
		s.cfg.Observe("serve", applier.Result{}, err)
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.lag(ans.Chunk)
	s.reply(w, r, ans)
}

// decidable checks, in one read transaction, what the exchange needs to
// decide alone, and says why not when it cannot; an error of
// restore.ErrRestored when the caller knows more of this node than it
// holds.
func (s *Server) decidable(ctx context.Context, peer string, head shipper.ExchangeHead) (string, error) {
	tx, err := s.cfg.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true}) // a deferred BEGIN: writers go on
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	defer tx.Rollback()
	// What the caller knows of this node.
	if err := restore.Check(ctx, tx, peer, head.Knows); err != nil {
		return "", err
	}
	// What this node knows of the caller, against what the caller states.
	k, err := restore.Of(ctx, tx, peer)
	if err != nil {
		return "", err
	}
	if !k.Matches(head.Claim) {
		return fmt.Sprintf("this node read the caller's log through seq %d and holds its own changes through %d; the caller states %d and %d",
			k.LogSeq, k.OwnSeq, head.Claim.Log.Seq, head.Claim.Own.Seq), nil
	}
	// A cursor behind pruned history: v1 decides whether the caller lacks
	// any of it (and then rebuilds), before anything is applied.
	pruned, err := applier.PrunedThrough(ctx, tx)
	if err != nil {
		return "", err
	}
	if head.Knows.LogSeq < pruned {
		return fmt.Sprintf("the caller's cursor %d is behind the log pruned through seq %d", head.Knows.LogSeq, pruned), nil
	}
	return "", nil
}

// fullExchange answers 409 asking for the v1 exchange, saying why.
func (s *Server) fullExchange(w http.ResponseWriter, r *http.Request, why string) {
	s.cfg.Logger.Debug("exchange: a full exchange follows", "why", why)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusConflict)
	json.NewEncoder(w).Encode(map[string]string{"error": "a full exchange is needed: " + why, "exchange": "v1"})
}
