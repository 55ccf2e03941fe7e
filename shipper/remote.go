package shipper

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/applier"
	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/hlc"
	"github.com/trigsync/trigsync/peers"
	"github.com/trigsync/trigsync/restore"
)

// Remote is a peer reached over HTTP (docs/PROTOCOL.md): a Source to pull
// from and a destination to push to. Requests are retried with exponential
// backoff and jitter on connection failures and 5xx answers (at most
// FailureRetries times), and after a 503 with Retry-After (an overloaded
// peer) no sooner than it says, up to OverloadRetries times; every wait
// has a random part. Retries stop at ctx's deadline; SyncFirst and Loop
// bound them further (FailoverRetryWindow).
type Remote struct {
	base  string
	token string
	agent string // User-Agent
	hc    *retryablehttp.Client
	node  string
	log   *slog.Logger
	// knows is what the puller knows of the peer, sent with the next read
	// for the peer to check (package restore).
	knows *restore.Knowledge
}

var _ Source = (*Remote)(nil)

// RemoteConfig says how to reach a peer.
type RemoteConfig struct {
	Token  string       // the bearer token, when the peer requires one
	TLS    *tls.Config  // for https:// URLs: the CAs to trust, a client certificate; nil: the system's
	Logger *slog.Logger // logs retries; nil: none
	// Transport, when not nil, carries the requests instead of a transport
	// of the Remote's own (TLS then is the transport's).
	Transport http.RoundTripper
	// UserAgent names the client to the peer (a hub shows it in devices
	// list); "": trigsync.
	UserAgent string
}

// NewRemote returns the peer at base URL (http:// or https://).
func NewRemote(base string, cfg RemoteConfig) (*Remote, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("peer %q: want an http:// or https:// URL", base)
	}
	hc := retryablehttp.NewClient()
	hc.RetryMax = FailureRetries + OverloadRetries // each kind is counted on its own by checkRetry
	hc.RetryWaitMin, hc.RetryWaitMax = retryWaitMin, retryWaitMax
	hc.CheckRetry, hc.Backoff = checkRetry, backoff
	hc.HTTPClient.Timeout = 10 * time.Minute
	if cfg.Transport != nil {
		hc.HTTPClient.Transport = cfg.Transport
	} else if tr, ok := hc.HTTPClient.Transport.(*http.Transport); ok && cfg.TLS != nil { // the client's own
		tr.TLSClientConfig = cfg.TLS
	}
	hc.Logger = cfg.Logger
	if cfg.Logger == nil {
		hc.Logger = nil
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	agent := cfg.UserAgent
	if agent == "" {
		agent = "trigsync"
	}
	return &Remote{base: strings.TrimRight(base, "/"), token: cfg.Token, agent: agent, hc: hc, log: log}, nil
}

// do sends a request; body, when not nil, makes the body again for every
// attempt. A 2xx answer is decoded into out.
func (r *Remote) do(ctx context.Context, method, path string, body retryablehttp.ReaderFunc, out any) error {
	ctx, tries := withAttempts(ctx)
	var raw any
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, r.base+path, raw)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	req.Header.Set("User-Agent", r.agent)
	if body != nil {
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return tries.gaveUp(fmt.Errorf("%s %s: %w", method, r.base+path, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
			PrunedError
			Restored *RestoredError `json:"restored"`
			Exchange string         `json:"exchange"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusGone && e.Vector != nil {
			return &e.PrunedError
		}
		if (resp.StatusCode == http.StatusConflict && e.Exchange == "v1") ||
			(strings.HasPrefix(path, "/v2/") && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed)) {
			return fmt.Errorf("%w: %s", errFullExchange, e.Error) // or a hub without it
		}
		if resp.StatusCode == http.StatusConflict && e.Restored != nil && changelog.ValidNodeID(e.Restored.Node) {
			e.Restored.Reason = fmt.Sprintf("peer %s: %s", r.base, e.Error)
			return e.Restored
		}
		if resp.StatusCode == http.StatusConflict {
			return fmt.Errorf("%w: %s %s: %s: %s", ErrPeerRefused, method, r.base+path, resp.Status, e.Error)
		}
		return tries.gaveUp(fmt.Errorf("%s %s: %s: %s", method, r.base+path, resp.Status, e.Error))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// NodeID asks the peer for its node id (once).
func (r *Remote) NodeID(ctx context.Context) (string, error) {
	if r.node != "" {
		return r.node, nil
	}
	var h struct {
		NodeID string `json:"node_id"`
	}
	if err := r.do(ctx, http.MethodGet, "/v1/health", nil, &h); err != nil {
		return "", err
	}
	if !changelog.ValidNodeID(h.NodeID) {
		return "", fmt.Errorf("peer %s answered node id %.40q", r.base, h.NodeID)
	}
	r.node = h.NodeID
	return r.node, nil
}

// ReadChunk pulls one chunk of the peer's log.
func (r *Remote) ReadChunk(ctx context.Context, peer string, after, acked int64, limit int) (Chunk, error) {
	var ch Chunk
	q := url.Values{"peer": {peer}, "after": {fmt.Sprint(after)}, "acked": {fmt.Sprint(acked)}, "limit": {fmt.Sprint(limit)}}
	if k := r.knows; k != nil && k.LogSeq == after { // the first read of a pull
		r.knows = nil
		q.Set("after_hlc", strconv.FormatUint(uint64(k.LogHLC), 10))
		q.Set("own_seq", fmt.Sprint(k.OwnSeq))
		q.Set("own_hlc", strconv.FormatUint(uint64(k.OwnHLC), 10))
	}
	if err := r.do(ctx, http.MethodGet, "/v1/changes?"+q.Encode(), nil, &ch); err != nil {
		return Chunk{Through: after}, err
	}
	if ch.Through < after {
		return Chunk{Through: after}, fmt.Errorf("peer %s read back to seq %d from %d", r.base, ch.Through, after)
	}
	return ch, nil
}

// PushResult is the peer's answer to a push.
type PushResult struct {
	Through int64 `json:"through"`
	applier.Result
}

// Push sends the peer what it lacks of local's log, from the cursor it
// reports, streaming chunks of limit rows in one request.
func (r *Remote) Push(ctx context.Context, local *sqlx.DB, limit int) (PushResult, error) {
	var res PushResult
	localID, err := changelog.NodeID(ctx, local)
	if err != nil {
		return res, err
	}
	peer, err := r.NodeID(ctx)
	if err != nil {
		return res, err
	}
	var cur cursorAnswer
	if err := r.do(ctx, http.MethodGet, "/v1/cursor?"+url.Values{"peer": {localID}}.Encode(), nil, &cur); err != nil {
		return res, err
	}
	// What the peer knows of this node: a node restored from an older copy
	// heals before it sends anything (package restore).
	healed, err := checkSelf(ctx, local, peer, cur.knowledge(), r.log, func(node string, through int64) ([]restore.Record, error) {
		return r.records(ctx, node, through)
	})
	if err != nil {
		return res, err
	}
	if healed != localID {
		localID = healed
		if err := r.do(ctx, http.MethodGet, "/v1/cursor?"+url.Values{"peer": {localID}}.Encode(), nil, &cur); err != nil {
			return res, err
		}
	}
	if err := shippable(ctx, local); err != nil {
		return res, err
	}
	if err := Prepare(ctx, local); err != nil {
		return res, err
	}
	// The peer acknowledged this node's log through its cursor.
	if err := peers.Acked(ctx, local, peer, cur.Through); err != nil {
		return res, err
	}
	send, err := r.anything(ctx, local, localID, peer, &cur.Through, cur.Have, limit)
	if err != nil || !send {
		return PushResult{Through: cur.Through}, err // nothing to send: no request
	}
	body := func() (io.Reader, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeChunks(ctx, pw, local, localID, peer, cur.Through, limit, cur.Have)) }()
		return pr, nil
	}
	if err := r.do(ctx, http.MethodPost, "/v1/changes", body, &res); err != nil {
		return res, err
	}
	return res, peers.Acked(ctx, local, peer, res.Through)
}

// anything reports whether local's log after *from holds a change the
// peer lacks: its version vector have does not cover it, and the peer did
// not make it. (A node that just applied a peer's push has grown its log
// with nothing to send back.) When *from points into history this node
// pruned, it moves to where the pruning ended if the peer lacks none of it.
func (r *Remote) anything(ctx context.Context, local *sqlx.DB, localID, peer string, from *int64, have map[string]int64, limit int) (bool, error) {
	for after := *from; ; {
		ch, err := ReadChunk(ctx, local, peer, after, limit)
		var pruned *PrunedError
		if errors.As(err, &pruned) {
			if err := lacks(have, pruned, localID, "peer "+peer); err != nil {
				return false, err
			}
			*from, after = pruned.Through, pruned.Through
			continue
		}
		if err != nil || ch.Through == after {
			return false, err
		}
		if slices.ContainsFunc(ch.Changes, func(c changelog.Change) bool { return c.OriginSeq > have[c.Origin] }) {
			return true, nil
		}
		after = ch.Through
	}
}

// writeChunks writes the push body: the sender's node id, then its log
// from seq after, a chunk a line, gzip-compressed. It leaves out the
// changes the peer's version vector have says it holds (in a hub and its
// spokes, what a spoke received through the hub does not go back to it).
func writeChunks(ctx context.Context, w io.Writer, local *sqlx.DB, localID, peer string, after int64, limit int, have map[string]int64) error {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // CPU is scarcer than loopback or LAN bandwidth
	enc := json.NewEncoder(gz)
	if err := enc.Encode(map[string]string{"node": localID}); err != nil {
		return err
	}
	for {
		ch, err := ReadChunk(ctx, local, peer, after, limit)
		if err != nil {
			return err
		}
		if ch.Through == after {
			return gz.Close()
		}
		ch.Changes = slices.DeleteFunc(ch.Changes, func(c changelog.Change) bool { return c.OriginSeq <= have[c.Origin] })
		if err := enc.Encode(ch); err != nil {
			return err
		}
		after = ch.Through
	}
}

// record notes in local the outcome of an exchange with the peer, and
// returns err.
func (r *Remote) record(ctx context.Context, local *sqlx.DB, err error) error {
	now := time.Now()
	var rerr error
	if err != nil {
		rerr = peers.Failed(ctx, local, r.base, err, now)
	} else if r.node != "" {
		rerr = peers.Succeeded(ctx, local, r.node, r.base, now)
	}
	if err == nil {
		return rerr
	}
	return err // the exchange's error says more than a failure to record it
}

// URL is the peer's base URL.
func (r *Remote) URL() string { return r.base }

// Snapshot streams the peer's snapshot (GET /v1/snapshot) into w and
// returns its size. size, when not nil, is told the size the peer
// announced before the copy starts.
func (r *Remote) Snapshot(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	ctx, tries := withAttempts(ctx)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v1/snapshot", nil)
	if err != nil {
		return 0, err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	req.Header.Set("User-Agent", r.agent)
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, tries.gaveUp(fmt.Errorf("snapshot from %s: %w", r.base, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, tries.gaveUp(fmt.Errorf("snapshot from %s: %s: %s", r.base, resp.Status, strings.TrimSpace(string(b))))
	}
	announced, _ := strconv.ParseInt(resp.Header.Get(SnapshotSizeHeader), 10, 64)
	if size != nil {
		size(announced)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("snapshot from %s: %w", r.base, err)
	}
	if announced > 0 && n != announced {
		return n, fmt.Errorf("snapshot from %s: got %d bytes of %d", r.base, n, announced)
	}
	return n, nil
}

// SnapshotSizeHeader carries the uncompressed size of a snapshot
// (docs/PROTOCOL.md).
const SnapshotSizeHeader = "X-Trigsync-Snapshot-Bytes"

// cursorAnswer is the answer of GET /v1/cursor.
type cursorAnswer struct {
	Through    int64            `json:"through"`
	ThroughHLC hlc.Timestamp    `json:"through_hlc"`
	Have       map[string]int64 `json:"have"`
	Own        restore.Record   `json:"own"` // the caller's last own change the peer holds
}

func (c cursorAnswer) knowledge() restore.Knowledge {
	return restore.Knowledge{LogSeq: c.Through, LogHLC: c.ThroughHLC, OwnSeq: c.Own.Seq, OwnHLC: c.Own.HLC}
}

// records asks the peer for its records of node's own changes through seq through.
func (r *Remote) records(ctx context.Context, node string, through int64) ([]restore.Record, error) {
	var out struct {
		Records []restore.Record `json:"records"`
	}
	q := url.Values{"peer": {node}, "through": {fmt.Sprint(through)}}
	err := r.do(ctx, http.MethodGet, "/v1/restore?"+q.Encode(), nil, &out)
	return out.Records, err
}

// heal sends the peer, which found itself restored, what this node (caller)
// knows of it and holds of its own changes; the peer heals and takes a new
// node id, which the next exchange asks for.
func (r *Remote) heal(ctx context.Context, caller, node string, k restore.Knowledge, recs []restore.Record) error {
	body, err := json.Marshal(HealRequest{Peer: caller, Node: node, Knows: k, Records: recs})
	if err != nil {
		return err
	}
	var out struct {
		Node string `json:"node"`
	}
	if err := r.do(ctx, http.MethodPost, "/v1/restore", gzipped(body), &out); err != nil {
		return err
	}
	r.node = ""
	return nil
}

// HealRequest is the body of POST /v1/restore.
type HealRequest struct {
	Peer    string            `json:"peer"`           // the caller
	Node    string            `json:"node,omitempty"` // the id the caller found restored
	Knows   restore.Knowledge `json:"knows"`          // what the caller knows of the restored node
	Records []restore.Record  `json:"records"`        // the caller's records of the node's own changes
}

// gzipped makes a request body of b, gzip-compressed.
func gzipped(b []byte) retryablehttp.ReaderFunc {
	return func() (io.Reader, error) {
		var buf bytes.Buffer
		gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		gz.Write(b)
		return &buf, gz.Close()
	}
}
