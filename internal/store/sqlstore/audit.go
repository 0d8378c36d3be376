package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

const auditColumns = `id, time, type, client_id, user_id, session_id, ip, request_id, details`

const insertAuditEvent = `INSERT INTO audit_events
(time, type, client_id, user_id, session_id, ip, request_id, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id`

// Audit query limits (see store.AuditQuery).
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// AppendAuditEvent implements store.Audit. e.ID is ignored.
func (s *DB) AppendAuditEvent(ctx context.Context, e store.AuditEvent) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx cachedTx) error {
		return tx.QueryRowContext(ctx, insertAuditEvent, toMicros(e.Time), e.Type, e.ClientID, e.UserID,
			e.SessionID, e.IP, e.RequestID, encodeMap(e.Details)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore: append audit event %q: %w", e.Type, err)
	}
	return id, nil
}

// AppendAuditEvents implements store.Audit: one transaction and one
// prepared statement (from the statement cache) for the whole batch, which
// is what keeps a busy server's audit trail affordable on SQLite.
func (s *DB) AppendAuditEvents(ctx context.Context, es []store.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx cachedTx) error {
		for _, e := range es {
			var id int64
			if err := tx.QueryRowContext(ctx, insertAuditEvent, toMicros(e.Time), e.Type, e.ClientID, e.UserID,
				e.SessionID, e.IP, e.RequestID, encodeMap(e.Details)).Scan(&id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: append %d audit events: %w", len(es), err)
	}
	return nil
}

// ListAuditEvents implements store.Audit. A Limit outside 1..1000 is
// clamped: 0 or less means 100, more than 1000 means 1000.
func (s *DB) ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	query, args := auditQuery(q)
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list audit events: %w", err)
	}
	defer rows.Close()
	var es []store.AuditEvent
	for rows.Next() {
		var (
			e       store.AuditEvent
			at      int64
			details string
		)
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.ClientID, &e.UserID, &e.SessionID, &e.IP,
			&e.RequestID, &details); err != nil {
			return nil, fmt.Errorf("sqlstore: list audit events: %w", err)
		}
		e.Time = fromMicros(at)
		if e.Details, err = decodeMap(details); err != nil {
			return nil, fmt.Errorf("sqlstore: list audit events: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list audit events: %w", err)
	}
	return es, nil
}

// auditQuery builds the query for q from fixed fragments, adding a
// condition only for the filters that are set so that each can use its
// index; every value is a placeholder argument.
func auditQuery(q store.AuditQuery) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.BeforeID > 0 {
		add("id <", q.BeforeID)
	}
	if q.Type != "" {
		add("type =", q.Type)
	}
	if q.UserID != "" {
		add("user_id =", q.UserID)
	}
	if q.ClientID != "" {
		add("client_id =", q.ClientID)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	var b strings.Builder
	b.WriteString("SELECT " + auditColumns + " FROM audit_events")
	if len(conds) > 0 {
		b.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	args = append(args, limit)
	b.WriteString(" ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args)))
	return b.String(), args
}
