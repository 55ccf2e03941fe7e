package devices

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/trigsync/trigsync/peers"
)

// Status is a credential with what the node knows of its bound node as a
// peer: changes it lacks, their age, and open conflicts of its changes.
type Status struct {
	Device
	Pending   *int64   `json:"pending,omitempty"`     // log rows the device's node lacks; nil: never exchanged with
	Lag       *float64 `json:"lag_seconds,omitempty"` // age of the first of them
	Conflicts int64    `json:"open_conflicts"`        // open conflicts of changes whose origin is the device's node
}

// Report lists every credential with its status as of now.
func Report(ctx context.Context, q sqlx.QueryerContext, now time.Time) ([]Status, error) {
	list, err := List(ctx, q)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	known, err := peers.List(ctx, q, now)
	if err != nil {
		return nil, err
	}
	byNode := make(map[string]peers.Peer, len(known))
	for _, p := range known {
		byNode[p.NodeID] = p
	}
	var counts []struct {
		Origin string `db:"origin"`
		N      int64  `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, q, &counts, `SELECT ifnull(json_extract(change, '$.origin'), '') AS origin, count(*) AS n
		FROM _trigsync_conflicts WHERE resolved IS NULL GROUP BY 1`); err != nil {
		return nil, fmt.Errorf("count open conflicts by origin: %w", err)
	}
	conflicts := make(map[string]int64, len(counts))
	for _, c := range counts {
		conflicts[c.Origin] = c.N
	}
	out := make([]Status, len(list))
	for i, d := range list {
		out[i].Device = d
		if d.Node == "" {
			continue
		}
		if p, ok := byNode[d.Node]; ok {
			out[i].Pending, out[i].Lag = &p.Pending, &p.Lag
		}
		out[i].Conflicts = conflicts[d.Node]
	}
	return out, nil
}
