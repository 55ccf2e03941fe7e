package shipper

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/trigsync/trigsync/verify"
)

// Verifier is the peer's side of a comparison (verify.Source), asked
// through the /v1/verify routes (docs/PROTOCOL.md), with the Remote's
// token, TLS and retries.
func (r *Remote) Verifier() verify.Source { return remoteVerifier{r} }

type remoteVerifier struct{ r *Remote }

func (v remoteVerifier) Tables(ctx context.Context) ([]verify.Table, error) {
	var out struct {
		Tables []verify.Table `json:"tables"`
	}
	err := v.r.do(ctx, http.MethodGet, "/v1/verify/tables", nil, &out)
	return out.Tables, err
}

// post sends body as gzip-compressed JSON.
func (v remoteVerifier) post(ctx context.Context, path string, body any, out any) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if err := json.NewEncoder(gz).Encode(body); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	b := buf.Bytes()
	return v.r.do(ctx, http.MethodPost, path, func() (io.Reader, error) { return bytes.NewReader(b), nil }, out)
}

type verifyRequest struct {
	Table  string         `json:"table"`
	Ranges []verify.Range `json:"ranges"`
	Parts  int            `json:"parts,omitempty"`
	Limit  int            `json:"limit,omitempty"`
}

func (v remoteVerifier) Split(ctx context.Context, table string, ranges []verify.Range, parts int) ([][]verify.Key, error) {
	if len(ranges) == 0 {
		return nil, nil
	}
	var out struct {
		Keys [][]verify.Key `json:"keys"`
	}
	if err := v.post(ctx, "/v1/verify/split", verifyRequest{Table: table, Ranges: ranges, Parts: parts}, &out); err != nil {
		return nil, err
	}
	if len(out.Keys) != len(ranges) {
		return nil, fmt.Errorf("peer %s answered %d splits for %d ranges", v.r.base, len(out.Keys), len(ranges))
	}
	return out.Keys, nil
}

func (v remoteVerifier) Digests(ctx context.Context, table string, ranges []verify.Range) ([]verify.Digest, error) {
	if len(ranges) == 0 {
		return nil, nil
	}
	var out struct {
		Digests []verify.Digest `json:"digests"`
	}
	if err := v.post(ctx, "/v1/verify/digests", verifyRequest{Table: table, Ranges: ranges}, &out); err != nil {
		return nil, err
	}
	if len(out.Digests) != len(ranges) {
		return nil, fmt.Errorf("peer %s answered %d digests for %d ranges", v.r.base, len(out.Digests), len(ranges))
	}
	return out.Digests, nil
}

func (v remoteVerifier) Rows(ctx context.Context, table string, ranges []verify.Range, limit int) ([][]verify.Row, error) {
	var out struct {
		Rows [][]verify.Row `json:"rows"`
	}
	if err := v.post(ctx, "/v1/verify/rows", verifyRequest{Table: table, Ranges: ranges, Limit: limit}, &out); err != nil {
		return nil, err
	}
	if len(out.Rows) != len(ranges) {
		return nil, fmt.Errorf("peer %s answered %d row lists for %d ranges", v.r.base, len(out.Rows), len(ranges))
	}
	return out.Rows, nil
}
