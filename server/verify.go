package server

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/trigsync/trigsync/verify"
)

// MaxVerifyBytes bounds the body of a /v1/verify request, compressed or not.
const MaxVerifyBytes = 1 << 20

// VerifyRequest is the body of POST /v1/verify/split, /v1/verify/digests
// and /v1/verify/rows.
type VerifyRequest struct {
	Table  string         `json:"table"`
	Ranges []verify.Range `json:"ranges"`
	Parts  int            `json:"parts,omitempty"` // split: parts per range, 2 to verify.MaxParts
	Limit  int            `json:"limit,omitempty"` // rows: rows per range, 1 to verify.MaxRowsLimit
}

// verifySource is the node's side of a comparison, read now (a migration
// may have changed the tables since the last request).
func (s *Server) verifySource(w http.ResponseWriter, r *http.Request) (*verify.DB, bool) {
	d, err := verify.NewDB(r.Context(), s.cfg.DB)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return nil, false
	}
	return d, true
}

func (s *Server) verifyTables(w http.ResponseWriter, r *http.Request) {
	d, ok := s.verifySource(w, r)
	if !ok {
		return
	}
	ts, _ := d.Tables(r.Context())
	s.reply(w, r, map[string]any{"tables": ts})
}

// verifyRequest reads and checks a request body: a replicated table, at
// most maxRanges ranges.
func (s *Server) verifyRequest(w http.ResponseWriter, r *http.Request, maxRanges int) (VerifyRequest, bool) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, MaxVerifyBytes)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(body)
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, fmt.Errorf("gzip body: %w", err))
			return VerifyRequest{}, false
		}
		defer gz.Close()
		body = &limitedReader{r: gz, n: MaxVerifyBytes}
	}
	var req VerifyRequest
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		code := status(err)
		if errors.Is(err, errTooLarge) {
			code = http.StatusRequestEntityTooLarge
		} else if code == http.StatusInternalServerError {
			code = http.StatusBadRequest
		}
		s.fail(w, r, code, fmt.Errorf("verify request: %w", err))
		return req, false
	}
	if len(req.Ranges) == 0 || len(req.Ranges) > maxRanges {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("verify request: want 1 to %d ranges, got %d", maxRanges, len(req.Ranges)))
		return req, false
	}
	return req, true
}

var errTooLarge = errors.New("body too large")

// limitedReader fails a read past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// verifyFailed answers an error of the verify package.
func (s *Server) verifyFailed(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, verify.ErrNotReplicated) || errors.Is(err, verify.ErrBadRange) {
		code = http.StatusBadRequest
	}
	s.fail(w, r, code, err)
}

func (s *Server) verifySplit(w http.ResponseWriter, r *http.Request) {
	req, ok := s.verifyRequest(w, r, verify.MaxRanges)
	if !ok {
		return
	}
	if req.Parts < 2 || req.Parts > verify.MaxParts {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("verify request: parts must be 2 to %d", verify.MaxParts))
		return
	}
	d, ok := s.verifySource(w, r)
	if !ok {
		return
	}
	keys, err := d.Split(r.Context(), req.Table, req.Ranges, req.Parts)
	if err != nil {
		s.verifyFailed(w, r, err)
		return
	}
	s.reply(w, r, map[string]any{"keys": keys})
}

func (s *Server) verifyDigests(w http.ResponseWriter, r *http.Request) {
	req, ok := s.verifyRequest(w, r, verify.MaxRanges)
	if !ok {
		return
	}
	d, ok := s.verifySource(w, r)
	if !ok {
		return
	}
	ds, err := d.Digests(r.Context(), req.Table, req.Ranges)
	if err != nil {
		s.verifyFailed(w, r, err)
		return
	}
	s.reply(w, r, map[string]any{"digests": ds})
}

func (s *Server) verifyRows(w http.ResponseWriter, r *http.Request) {
	req, ok := s.verifyRequest(w, r, verify.MaxRowRanges)
	if !ok {
		return
	}
	if req.Limit < 1 || req.Limit > verify.MaxRowsLimit {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("verify request: limit must be 1 to %d", verify.MaxRowsLimit))
		return
	}
	d, ok := s.verifySource(w, r)
	if !ok {
		return
	}
	rows, err := d.Rows(r.Context(), req.Table, req.Ranges, req.Limit)
	if err != nil {
		s.verifyFailed(w, r, err)
		return
	}
	s.reply(w, r, map[string]any{"rows": rows})
}
