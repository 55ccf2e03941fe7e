package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/trigsync/trigsync/changelog"
	"github.com/trigsync/trigsync/devices"
)

// callerKind says how a request authenticated.
type callerKind int

const (
	nobody callerKind = iota // not authenticated: may do nothing
	open                     // a node without a shared token or devices: loopback only
	shared                   // the shared token
	device                   // a device credential
)

// Caller is who made a request, as authenticate found it.
type Caller struct {
	kind   callerKind
	Device string // the credential's name; "" for the shared token or an open node
	Node   string // the node id a device credential is bound to; "" until its first request names one
	Hub    bool   // a hub credential: may relay changes of other origins
}

type callerKey struct{}

// callerFrom is the caller of the request ctx belongs to; one that may do
// nothing when authenticate did not run.
func callerFrom(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok {
		return *c
	}
	return Caller{}
}

// MayPush reports whether the caller may push changes made by origin: the
// shared token, an open node and hub credentials may push any; a device
// credential those of the node it is bound to.
func (c Caller) MayPush(origin string) bool {
	switch c.kind {
	case open, shared:
		return true
	case device:
		return c.Hub || (c.Node != "" && origin == c.Node)
	}
	return false
}

// checkOrigins refuses changes the caller may not push (a *forbiddenError,
// 403): all of them are refused when one is.
func (c Caller) checkOrigins(changes []changelog.Change) error {
	for _, ch := range changes {
		if !c.MayPush(ch.Origin) {
			if c.kind != device {
				return &forbiddenError{"the request is not authenticated"}
			}
			return &forbiddenError{fmt.Sprintf("device %q (node %s) may not push changes of origin %s: only its own, unless it is a hub credential (devices add --hub)",
				c.Device, c.Node, ch.Origin)}
		}
	}
	return nil
}

// forbiddenError is a request the caller's credential does not allow (403).
type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }

// authError is a request refused for its credential (401); problem is
// "missing", "unknown" or "revoked".
type authError struct{ problem, msg string }

func (e *authError) Error() string { return e.msg }

// authenticate finds the caller of every request (identify) and puts it in
// the request's context, or answers 401 with nothing done.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.identify(r)
		var refused *authError
		if errors.As(err, &refused) {
			s.cfg.Logger.Warn("request refused", "method", r.Method, "path", r.URL.Path, "status", http.StatusUnauthorized, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": refused.msg, "auth": refused.problem})
			return
		}
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, &c)))
	})
}

// identify finds who sent r: the shared token (compared in constant time)
// has full access; any other bearer token is looked up, by its hash, among
// the device credentials, read afresh for every request so that a revoke
// holds from the next one. A node without a shared token and without
// devices is open, as it listens on loopback only.
func (s *Server) identify(r *http.Request) (Caller, error) {
	ctx := r.Context()
	tok := bearer(r)
	if s.cfg.Token != "" {
		given := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(given[:], s.token[:]) == 1 {
			return Caller{kind: shared}, nil
		}
	}
	var d devices.Device
	found := false
	if tok != "" {
		var err error
		if d, found, err = devices.Lookup(ctx, s.cfg.DB, tok); err != nil {
			return Caller{}, err
		}
	}
	if !found {
		if s.cfg.Token == "" {
			has, err := devices.Any(ctx, s.cfg.DB)
			if err != nil {
				return Caller{}, err
			}
			if !has {
				return Caller{kind: open}, nil
			}
		}
		if tok == "" {
			return Caller{}, &authError{"missing", "missing or wrong bearer token: the request has none"}
		}
		return Caller{}, &authError{"unknown", "missing or wrong bearer token: it is neither the shared token nor a device's"}
	}
	if d.Revoked != nil {
		return Caller{}, &authError{"revoked", fmt.Sprintf("the bearer token of device %q was revoked at %s", d.Name, d.Revoked.Format(time.RFC3339))}
	}
	s.seen.Note(d.Name, r.UserAgent(), time.Now())
	c := Caller{kind: device, Device: d.Name, Node: d.Node, Hub: d.Hub}
	if d.Released {
		c.Node = "" // the next node id it names binds it
	}
	return c, nil
}

// bind checks that a request of node comes from the node the caller's
// credential is bound to, binding a credential not bound yet to node
// (a *forbiddenError otherwise). The request's caller then holds it.
func (s *Server) bind(ctx context.Context, node string) error {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	if !ok || c.kind == nobody {
		return &forbiddenError{"the request is not authenticated"}
	}
	if c.kind != device {
		return nil
	}
	if c.Node == "" {
		bound, err := devices.Bind(ctx, s.cfg.DB, c.Device, node)
		if err != nil {
			return err
		}
		if bound == node {
			s.cfg.Logger.Info("device credential bound", "device", c.Device, "node", node)
		}
		if old, rel := strings.CutPrefix(bound, "released:"); rel {
			return &forbiddenError{fmt.Sprintf("device %q (node %s) fetched a snapshot to rebuild under a new node id; node %s is not new to this node", c.Device, old, node)}
		}
		c.Node = bound
	}
	if c.Node != node {
		return &forbiddenError{fmt.Sprintf("device %q is bound to node %s; this request is of node %s", c.Device, c.Node, node)}
	}
	return nil
}

// release lets the calling device's credential bind to the new node id
// the snapshot it fetches gives it (devices.Release).
func (s *Server) release(ctx context.Context) error {
	c := callerFrom(ctx)
	if c.kind != device || c.Hub || c.Node == "" {
		return nil
	}
	return devices.Release(ctx, s.cfg.DB, c.Device)
}

// FlushSeen writes when devices were last seen (devices.Seen.Flush).
func (s *Server) FlushSeen(ctx context.Context) error { return s.seen.Flush(ctx, s.cfg.DB) }

// KeepSeen writes when devices were last seen every interval until ctx
// ends, and once more then.
func (s *Server) KeepSeen(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.FlushSeen(ctx); err != nil {
				s.cfg.Logger.Warn("record devices seen", "err", err)
			}
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.FlushSeen(last); err != nil {
				s.cfg.Logger.Warn("record devices seen", "err", err)
			}
			return
		}
	}
}

func bearer(r *http.Request) string {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		return h[len(prefix):]
	}
	return ""
}
