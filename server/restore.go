package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/restore"
	"github.com/trigsync/trigsync/shipper"
)

// maxHealBytes bounds the body of POST /v1/restore: restore.MaxRecords
// records of about 40 bytes of JSON each, gzip-compressed.
const maxHealBytes = 64 << 20

// id is this node's id.
func (s *Server) id() string { return *s.nodeID.Load() }

// checkRestored checks this node against what the pulling peer knows of
// it (the query's after, after_hlc, own_seq and own_hlc).
func (s *Server) checkRestored(ctx context.Context, peer string, after int64, q url.Values) error {
	var k restore.Knowledge
	k.LogSeq = after
	own, err1 := strconv.ParseInt(q.Get("own_seq"), 10, 64)
	err2 := k.LogHLC.UnmarshalText([]byte(q.Get("after_hlc")))
	err3 := k.OwnHLC.UnmarshalText([]byte(q.Get("own_hlc")))
	if err1 != nil || err2 != nil || err3 != nil || own < 0 {
		return fmt.Errorf("after_hlc, own_seq and own_hlc must be a stamp, a seq and a stamp")
	}
	k.OwnSeq = own
	return restore.Check(ctx, s.cfg.DB, peer, k)
}

// failRestored answers a check: 409 with what the caller sends back to
// heal this node (POST /v1/restore), or 400 for a malformed query.
func (s *Server) failRestored(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, restore.ErrRestored) {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	through, terr := restore.Through(r.Context(), s.cfg.DB)
	if terr != nil {
		s.fail(w, r, http.StatusInternalServerError, terr)
		return
	}
	s.cfg.Logger.Warn("a peer knows more of this node's history than it holds: restored from an older copy?", "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusConflict)
	json.NewEncoder(w).Encode(map[string]any{"error": err.Error(),
		"restored": shipper.RestoredError{Node: s.id(), Through: through}})
}

// records answers GET /v1/restore?peer=NODE&through=T: this node's records
// of NODE's own changes through T, for NODE to heal itself with.
func (s *Server) records(w http.ResponseWriter, r *http.Request) {
	peer, code, err := s.peer(r)
	if err != nil {
		s.fail(w, r, code, err)
		return
	}
	through, err := strconv.ParseInt(r.URL.Query().Get("through"), 10, 64)
	if err != nil || through < 0 {
		s.fail(w, r, http.StatusBadRequest, errors.New("through must be a seq"))
		return
	}
	recs, err := restore.Records(r.Context(), s.cfg.DB, peer, through)
	if errors.Is(err, restore.ErrTooMany) {
		s.fail(w, r, http.StatusConflict, err)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.reply(w, r, map[string]any{"records": recs})
}

// heal answers POST /v1/restore: a peer's records of this node's own
// changes, sent after a pull found this node restored. The node checks
// again, heals and takes a new id.
func (s *Server) heal(w http.ResponseWriter, r *http.Request) {
	body, err := s.gunzipped(w, r, maxHealBytes)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	defer body.Close()
	var req shipper.HealRequest
	// Decompressed, records take about 40 bytes each.
	if err := json.NewDecoder(io.LimitReader(body, 64*restore.MaxRecords)).Decode(&req); err != nil {
		s.fail(w, r, status(err), fmt.Errorf("heal: %w", err))
		return
	}
	if !changelog.ValidNodeID(req.Peer) || len(req.Records) > restore.MaxRecords {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("heal: peer %.40q is not a node id, or more than %d records", req.Peer, restore.MaxRecords))
		return
	}
	ctx := r.Context()
	if err := s.bind(ctx, req.Peer); err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	tx, err := s.cfg.DB.BeginTxx(ctx, nil)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	defer tx.Rollback()
	if err := applier.Integrate(ctx, tx, s.cfg.Apply.Schema); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	// Two peers that found this node restored at once both ask it to
	// heal: the later finds it healed already, under its new id, which
	// owes nothing to what the peer knew of the old one.
	id, err := changelog.NodeID(ctx, tx)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if req.Node != "" && req.Node != id {
		s.reply(w, r, map[string]any{"node": id, "healed_already": true})
		return
	}
	if err := restore.Check(ctx, tx, req.Peer, req.Knows); !errors.Is(err, restore.ErrRestored) {
		if err == nil {
			err = errors.New("heal: this node holds what the peer knows of it: nothing to heal")
		}
		s.fail(w, r, http.StatusConflict, err)
		return
	}
	rep, err := restore.Heal(ctx, tx, req.Records, s.cfg.Logger)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("heal: %w", err))
		return
	}
	s.nodeID.Store(&rep.New)
	s.reply(w, r, map[string]any{"node": rep.New, "fork": rep.Fork, "reissued": rep.Reissued, "lost": rep.Lost})
}
