// Package server answers the wire protocol of docs/PROTOCOL.md: it serves a
// node's log to peers that pull and applies what peers push, through the
// shipper and the applier, and authenticates callers (the shared token or
// a device's, package devices). It holds no state of its own but when
// devices were last seen, until it writes that (KeepSeen).
package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/apptriggers"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/devices"
	"github.com/trigsync/trigsync/internal/sqlitedb"
	"github.com/trigsync/trigsync/migrations"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/restore"
	"github.com/trigsync/trigsync/shipper"
	"github.com/trigsync/trigsync/triggers"
)

// Limits of one request.
const (
	MaxPullRows  = 5000
	MaxPushBytes = 512 << 20
)

// prepareWait bounds how long a pull waits for the write lock to stamp the
// log (shipper.PrepareWithin).
const prepareWait = 250 * time.Millisecond

// Config configures a Server.
type Config struct {
	DB *sqlx.DB
	// Token is the shared bearer token: full access. A request without
	// it needs a device's token (package devices) when the node has
	// devices or Token is not empty.
	Token   string
	Apply   applier.Options
	Logger  *slog.Logger
	Metrics http.Handler // serves GET /metrics (Prometheus) when not nil
	// SnapshotDir holds the snapshot file while GET /v1/snapshot sends it:
	// best on the database's file system. "": the system's temporary
	// directory.
	SnapshotDir string
	// Observe, when not nil, is told the outcome of every push received
	// ("received") and every failed pull ("serve").
	Observe func(op string, res applier.Result, err error)
	// MaxConcurrent bounds the requests in progress on the routes that
	// read or write the database (all but /v1/health and /metrics); a
	// request beyond waits up to QueueWait, then gets 503 with
	// Retry-After. 0: 4 × GOMAXPROCS.
	MaxConcurrent int
	// Overloaded, when not nil, is told of every request refused with 503.
	Overloaded func()
	// Served, when not nil, is told how long each request to a route that
	// reads or writes the database took, and its status.
	Served func(route string, status int, took time.Duration)
	// Rejected, when not nil, is told of every request refused with 401 or
	// 403 (a token, a credential bound to another node, a foreign origin).
	Rejected func(status int)
	// Lag, when not nil, is told, for each read of the log that sends a
	// peer changes, the age of the oldest of them: how long it waited for
	// the peer.
	Lag func(time.Duration)
}

// Server is the HTTP face of one node.
type Server struct {
	cfg     Config
	nodeID  atomic.Pointer[string] // a heal of a restore changes it
	token   [32]byte
	drift   triggers.DriftCache
	readers changelog.ReaderCache // of the log read for peers
	gzips   sync.Pool             // of *gzip.Writer
	gunzips sync.Pool             // of *gzip.Reader
	seen    devices.Seen          // devices seen, not written yet (KeepSeen)
	admit   *admission
}

// New returns a server for the node cfg.DB holds.
func New(ctx context.Context, cfg Config) (*Server, error) {
	id, err := changelog.NodeID(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, applier.Result, error) {}
	}
	if cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("max concurrent requests %d: want 0 (the default) or more", cfg.MaxConcurrent)
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = 4 * runtime.GOMAXPROCS(0)
	}
	if cfg.Overloaded == nil {
		cfg.Overloaded = func() {}
	}
	s := &Server{cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)), admit: newAdmission(cfg.MaxConcurrent, cfg.Overloaded)}
	s.nodeID.Store(&id)
	return s, nil
}

// ApplyOptions are the options the server applies pushes with.
func (s *Server) ApplyOptions() applier.Options { return s.cfg.Apply }

// Handler routes /v1/ requests.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", s.health)
	// The rest read or write the database: they take turns.
	for route, h := range map[string]http.HandlerFunc{
		"GET /v1/changes":         s.pull,
		"GET /v1/cursor":          s.cursor,
		"POST /v1/changes":        s.push,
		"POST /v2/sync":           s.exchange,
		"GET /v1/snapshot":        s.snapshot,
		"GET /v1/restore":         s.records,
		"POST /v1/restore":        s.heal,
		"GET /v1/verify/tables":   s.verifyTables,
		"POST /v1/verify/split":   s.verifySplit,
		"POST /v1/verify/digests": s.verifyDigests,
		"POST /v1/verify/rows":    s.verifyRows,
	} {
		mux.HandleFunc(route, s.timed(route, s.admit.admit(h)))
	}
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	return s.authenticate(mux)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	v, err := migrations.Version(r.Context(), s.cfg.DB)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.reply(w, r, map[string]any{"node_id": s.id(), "format": changelog.Format, "metadata_version": v})
}

// peer reads and checks the peer parameter, and that the caller's
// credential is bound to it (binding one not bound yet: bind).
func (s *Server) peer(r *http.Request) (string, int, error) {
	p := r.URL.Query().Get("peer")
	if !changelog.ValidNodeID(p) {
		return "", http.StatusBadRequest, fmt.Errorf("peer %.40q is not a node id", p)
	}
	if p == s.id() {
		return "", http.StatusConflict, fmt.Errorf("the caller has this server's node id %s: give a copied file its own with trigsync reset-node-id", p)
	}
	if err := s.bind(r.Context(), p); err != nil {
		return "", status(err), err
	}
	return p, 0, nil
}

func (s *Server) pull(w http.ResponseWriter, r *http.Request) {
	peer, code, err := s.peer(r)
	if err != nil {
		s.fail(w, r, code, err)
		return
	}
	q := r.URL.Query()
	after, err1 := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, err2 := strconv.Atoi(q.Get("limit"))
	acked, err3 := int64(-1), error(nil)
	if q.Has("acked") {
		acked, err3 = strconv.ParseInt(q.Get("acked"), 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || after < 0 || limit < 1 || acked > after {
		s.fail(w, r, http.StatusBadRequest, errors.New("after, acked and limit must be seqs (acked ≤ after) and a positive row count"))
		return
	}
	// A caller that read this log before says what it saw: a node
	// restored from an older copy ships nothing until it healed (409).
	if q.Has("after_hlc") {
		if err := s.checkRestored(r.Context(), peer, after, q); err != nil {
			s.failRestored(w, r, err)
			return
		}
	}
	// A table changed by hand: ship nothing (409).
	if err := s.drift.Check(r.Context(), s.cfg.DB); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, triggers.ErrSchemaDrift) {
			code = http.StatusConflict
		}
		s.fail(w, r, code, err)
		return
	}
	// Stamp what was written since, and record that the caller committed
	// this log through acked and was seen now (log GC expires a device by
	// it), unless another writer holds the lock (then a later pull does
	// both), or none of it is needed (then the pull only reads).
	ch, _, err := s.readFor(r.Context(), peer, after, acked, min(limit, MaxPullRows))
	var pruned *shipper.PrunedError
	if errors.As(err, &pruned) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		json.NewEncoder(w).Encode(struct {
			Error string `json:"error"`
			*shipper.PrunedError
		}{fmt.Sprintf("%v: seq %d was pruned; see pruned for what a caller must already have", pruned, after), pruned})
		return
	}
	if err != nil {
		s.cfg.Observe("serve", applier.Result{}, err)
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.lag(ch)
	s.reply(w, r, ch)
}

// lag tells cfg.Lag the age of the oldest change ch sends.
func (s *Server) lag(ch shipper.Chunk) {
	if len(ch.Changes) > 0 && s.cfg.Lag != nil {
		s.cfg.Lag(time.Since(ch.Changes[0].HLC.Time()))
	}
}

// timed tells cfg.Served how long each request to route took.
func (s *Server) timed(route string, h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Served == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		s.cfg.Served(route, sw.status, time.Since(began))
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (push sets
// read deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// seenEvery is how stale a peer's last contact may be recorded: a pull
// that changes nothing else writes it no more often.
const seenEvery = time.Minute

// prepare stamps and integrates the log, and records that peer committed
// it through acked (when ≥ 0) and was seen now, in one write transaction:
// when any of it is needed, and unless another writer holds the lock.
func (s *Server) prepare(ctx context.Context, peer string, acked int64) error {
	ready, err := s.prepared(ctx, s.cfg.DB, peer, acked)
	if err != nil || ready {
		return err
	}
	_, err = shipper.PrepareWithin(ctx, s.cfg.DB, prepareWait, s.cfg.Apply.Schema, func(tx *sqlx.Tx) error {
		if acked < 0 {
			return nil
		}
		return peers.Pulled(ctx, tx, peer, acked, time.Now())
	})
	return err
}

// prepared reports whether prepare has nothing to do.
func (s *Server) prepared(ctx context.Context, q sqlx.QueryerContext, peer string, acked int64) (bool, error) {
	ready, err := applier.Integrated(ctx, q)
	if err != nil || !ready || acked < 0 {
		return ready, err
	}
	had, seen, err := peers.Contact(ctx, q, peer)
	return acked <= had && time.Since(seen) < seenEvery, err
}

// readFor prepares the log for peer as prepare does, then reads the chunk
// of it after seq after, and whether the log goes on past the chunk: all
// in one read transaction when nothing needs a write.
func (s *Server) readFor(ctx context.Context, peer string, after, acked int64, limit int) (shipper.Chunk, bool, error) {
	tx, err := s.cfg.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true}) // a deferred BEGIN: writers go on
	if err != nil {
		return shipper.Chunk{}, false, fmt.Errorf("read changes: %w", err)
	}
	defer tx.Rollback()
	ready, err := s.prepared(ctx, tx, peer, acked)
	if err != nil {
		return shipper.Chunk{}, false, err
	}
	if !ready {
		tx.Rollback()
		if err := s.prepare(ctx, peer, acked); err != nil {
			return shipper.Chunk{}, false, err
		}
		if tx, err = s.cfg.DB.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true}); err != nil {
			return shipper.Chunk{}, false, fmt.Errorf("read changes: %w", err)
		}
		defer tx.Rollback()
	}
	ch, err := shipper.ReadChunkTx(ctx, tx, &s.readers, peer, after, limit)
	if err != nil {
		return ch, false, err
	}
	integrated, err := applier.IntegratedThrough(ctx, tx)
	return ch, ch.Through < integrated, err
}

func (s *Server) cursor(w http.ResponseWriter, r *http.Request) {
	peer, code, err := s.peer(r)
	if err != nil {
		s.fail(w, r, code, err)
		return
	}
	k, err := restore.Of(r.Context(), s.cfg.DB, peer)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	have, err := applier.VersionVector(r.Context(), s.cfg.DB)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.reply(w, r, map[string]any{"through": k.LogSeq, "through_hlc": k.LogHLC, "have": have,
		"own": restore.Record{Seq: k.OwnSeq, HLC: k.OwnHLC}})
}

// snapshot sends a consistent copy of the database, made with VACUUM INTO
// while writers go on, after stamping the log so that the copy's changes
// all carry their stamps.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := s.release(ctx); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if err := shipper.Prepare(ctx, s.cfg.DB); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	f, err := os.CreateTemp(s.cfg.SnapshotDir, ".trigsync-snapshot-*.db")
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("snapshot: %w", err))
		return
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	if _, err := s.cfg.DB.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("snapshot into %s: %w", path, err))
		return
	}
	if err := clearDevices(ctx, path); err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("snapshot into %s: %w", path, err))
		return
	}
	if f, err = os.Open(path); err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("snapshot: %w", err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("snapshot: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/vnd.sqlite3")
	w.Header().Set(shipper.SnapshotSizeHeader, strconv.FormatInt(fi.Size(), 10))
	out, done := s.compressed(w, r)
	defer done()
	if _, err := io.Copy(out, f); err != nil {
		s.cfg.Logger.Warn("send snapshot", "err", err)
	}
}

// clearDevices removes the device credentials from the snapshot at path:
// they are this node's, not the clone's.
func clearDevices(ctx context.Context, path string) error {
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	return devices.Clear(ctx, db)
}

// PushResult is the answer to a push.
type PushResult struct {
	Through int64 `json:"through"`
	applier.Result
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	body, err := s.gunzipped(w, r, MaxPushBytes)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	var head struct {
		Node string `json:"node"`
	}
	if err := dec.Decode(&head); err != nil {
		s.fail(w, r, status(err), fmt.Errorf("push: the first line must be {\"node\": …}: %w", err))
		return
	}
	r.URL.RawQuery = "peer=" + head.Node
	if _, code, err := s.peer(r); err != nil {
		s.fail(w, r, code, err)
		return
	}
	// Stopping early interrupts a read of the body in progress: it must not
	// outlive the handler.
	rc := http.NewResponseController(w)
	next, stop := decodeAhead(dec, func() { rc.SetReadDeadline(time.Now()) })
	defer stop()
	res, err := s.apply(r.Context(), next, head.Node, nil)
	s.cfg.Observe("received", res.Result, err)
	if err != nil {
		s.fail(w, r, status(err), err)
		return
	}
	s.reply(w, r, res)
}

// apply applies the chunks next yields, one transaction per run of chunks
// that ends an epoch. also, when not nil, runs in the first transaction,
// before its commit, or in the one that moves the cursor when nothing
// applies.
func (s *Server) apply(ctx context.Context, next chunks, peer string, also func(*sqlx.Tx) error) (PushResult, error) {
	res := PushResult{}
	var err error
	if res.Through, err = applier.Cursor(ctx, s.cfg.DB, peer); err != nil {
		return res, err
	}
	caller := callerFrom(ctx) // bound to peer by s.peer
	var session *applier.Session
	defer func() {
		if session != nil {
			session.Rollback()
		}
	}()
	// Chunks without changes (what the sender left out, as this node has
	// it: a device's log after it received from this hub) move the cursor
	// without an apply session, unless one follows, whose commit does.
	var skipped *shipper.Chunk
	advance := func() error {
		if skipped == nil {
			return nil
		}
		err := sqlitedb.Write(ctx, s.cfg.DB, func(tx *sqlx.Tx) error {
			if err := applier.Advance(ctx, tx, peer, skipped.Through, skipped.ThroughHLC); err != nil {
				return err
			}
			if also != nil {
				return also(tx)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("move the cursor of %s: %w", peer, err)
		}
		res.Through = skipped.Through
		return nil
	}
	for {
		ch, err := next()
		if errors.Is(err, io.EOF) {
			return res, advance()
		} else if err != nil {
			return res, fmt.Errorf("push: chunk after seq %d: %w", res.Through, err)
		}
		// A device pushes its own changes only: a chunk with another's
		// fails the request, and rolls back its epoch.
		if err := caller.checkOrigins(ch.Changes); err != nil {
			return res, err
		}
		if session == nil && len(ch.Changes) == 0 && ch.EpochEnd {
			skipped = &ch
			continue
		}
		skipped = nil
		if session == nil {
			if session, err = applier.Begin(ctx, s.cfg.DB, s.cfg.Apply); err != nil {
				return res, err
			}
		}
		if err := session.Apply(ctx, ch.Changes); err != nil {
			return res, err
		}
		if ch.EpochEnd {
			if also != nil {
				if err := session.Also(also); err != nil {
					return res, err
				}
				also = nil
			}
			got, err := session.Commit(ctx, peer, ch.Through, ch.ThroughHLC)
			session = nil
			if err != nil {
				return res, err
			}
			res.Through = ch.Through
			res.Add(got)
		}
	}
}

// chunks yields a body's chunks, then the error that ended it: io.EOF
// after the last.
type chunks func() (shipper.Chunk, error)

// decode yields the chunks of dec as they are read: for a small body.
func decode(dec *json.Decoder) chunks {
	return func() (ch shipper.Chunk, err error) {
		err = dec.Decode(&ch)
		return ch, err
	}
}

type decoded struct {
	chunk shipper.Chunk
	err   error // io.EOF after the last chunk
}

// decodeAhead decodes chunks from dec in a goroutine, one ahead of the
// reader, so that the next chunk of a large push is decoded while one
// applies, on another core. stop ends the goroutine, calling interrupt to
// end a read in progress, and waits for it, so that the body is not read
// after the handler returns.
func decodeAhead(dec *json.Decoder, interrupt func()) (chunks, func()) {
	out := make(chan decoded, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		defer close(out)
		for {
			var d decoded
			d.err = dec.Decode(&d.chunk)
			select {
			case out <- d:
			case <-done:
				return
			}
			if d.err != nil {
				return
			}
		}
	}()
	next := func() (shipper.Chunk, error) {
		d, ok := <-out
		if !ok {
			return shipper.Chunk{}, io.EOF
		}
		return d.chunk, d.err
	}
	return next, func() {
		close(done)
		select {
		case <-exited: // it was done, or waiting to hand over a chunk
		case <-time.After(100 * time.Millisecond): // it is reading
			interrupt()
			<-exited
		}
	}
}

// gunzipped is a request's body, of at most limit bytes as sent,
// decompressed when it is gzip-encoded. Closing it, once the handler is
// done with the body, keeps its decompressor for another request.
func (s *Server) gunzipped(w http.ResponseWriter, r *http.Request, limit int64) (io.ReadCloser, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.Header.Get("Content-Encoding") != "gzip" {
		return body, nil
	}
	gz, _ := s.gunzips.Get().(*gzip.Reader)
	var err error
	if gz == nil {
		gz, err = gzip.NewReader(body)
	} else {
		err = gz.Reset(body)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	return pooledReader{gz, &s.gunzips}, nil
}

// pooledReader is a gzip reader that Close puts back in its pool.
type pooledReader struct {
	*gzip.Reader
	pool *sync.Pool
}

func (p pooledReader) Close() error {
	p.pool.Put(p.Reader)
	return nil
}

// status maps a body error to its HTTP status.
func status(err error) int {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) {
		return http.StatusBadRequest
	}
	var forbidden *forbiddenError
	if errors.As(err, &forbidden) {
		return http.StatusForbidden
	}
	if errors.Is(err, applier.ErrSchemaConflict) || errors.Is(err, apptriggers.ErrUndecided) { // not worth a retry
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// smallReply is the size under which a reply goes uncompressed: gzip
// would save a few bytes of a packet and cost more CPU than the request.
const smallReply = 1024

// reply writes v as JSON, gzip-compressed when the client accepts it and
// the body is not small.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("encode the answer: %w", err))
		return
	}
	var out io.Writer = w
	if buf.Len() >= smallReply {
		var done func()
		out, done = s.compressed(w, r)
		defer done()
	}
	if _, err := buf.WriteTo(out); err != nil {
		s.cfg.Logger.Warn("write response", "err", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if (code == http.StatusUnauthorized || code == http.StatusForbidden) && s.cfg.Rejected != nil {
		s.cfg.Rejected(code)
	}
	level := slog.LevelWarn
	if code >= 500 {
		level = slog.LevelError
	}
	s.cfg.Logger.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// compressed is where a response body goes: through gzip when the client
// accepts it. done ends the gzip stream. The writers (a compressor's state
// is large) are reused.
func (s *Server) compressed(w http.ResponseWriter, r *http.Request) (out io.Writer, done func()) {
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		return w, func() {}
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz, _ := s.gzips.Get().(*gzip.Writer)
	if gz == nil {
		gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // CPU is scarcer than bandwidth here
	} else {
		gz.Reset(w)
	}
	return gz, func() { gz.Close(); s.gzips.Put(gz) }
}
