package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/trigsync/trigsync/applier"
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
	ctx := r.Context()
	body, err := gunzipped(w, r, MaxPushBytes)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
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
	// What the caller knows of this node: a node restored from an older
	// copy ships nothing until it healed (409, as a v1 pull).
	if err := restore.Check(ctx, s.cfg.DB, peer, head.Knows); err != nil {
		s.failRestored(w, r, err)
		return
	}
	// What this node knows of the caller, against what the caller states.
	k, err := restore.Of(ctx, s.cfg.DB, peer)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if !k.Matches(head.Claim) {
		s.fullExchange(w, r, fmt.Sprintf("this node read the caller's log through seq %d and holds its own changes through %d; the caller states %d and %d",
			k.LogSeq, k.OwnSeq, head.Claim.Log.Seq, head.Claim.Own.Seq))
		return
	}
	// A cursor behind pruned history: v1 decides whether the caller lacks
	// any of it (and then rebuilds), before anything is applied.
	pruned, err := applier.PrunedThrough(ctx, s.cfg.DB)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if head.Knows.LogSeq < pruned {
		s.fullExchange(w, r, fmt.Sprintf("the caller's cursor %d is behind the log pruned through seq %d", head.Knows.LogSeq, pruned))
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
	var ans shipper.ExchangeAnswer
	pushed, err := s.apply(w, r, dec, peer)
	ans.Pushed = shipper.PushResult{Through: pushed.Through, Result: pushed.Result}
	s.cfg.Observe("received", pushed.Result, err)
	if err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	after := head.Knows.LogSeq
	err = s.prepare(ctx, peer, after)
	if err == nil {
		ans.Chunk, err = shipper.ReadChunk(ctx, s.cfg.DB, peer, after, min(head.Limit, MaxPullRows))
	}
	var gone *shipper.PrunedError
	if errors.As(err, &gone) { // pruned since the check: applied pushes stay, the caller pushes nothing twice
		s.fullExchange(w, r, fmt.Sprintf("%v: the caller's cursor %d is behind it", gone, after))
		return
	}
	if err == nil {
		var integrated int64
		if integrated, err = applier.IntegratedThrough(ctx, s.cfg.DB); err == nil {
			ans.More = ans.Chunk.Through < integrated
		}
	}
	if err != nil {
		s.cfg.Observe("serve", applier.Result{}, err)
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.lag(ans.Chunk)
	s.reply(w, r, ans)
}

// fullExchange answers 409 asking for the v1 exchange, saying why.
func (s *Server) fullExchange(w http.ResponseWriter, r *http.Request, why string) {
	s.cfg.Logger.Debug("exchange: a full exchange follows", "why", why)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusConflict)
	json.NewEncoder(w).Encode(map[string]string{"error": "a full exchange is needed: " + why, "exchange": "v1"})
}
