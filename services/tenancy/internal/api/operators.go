package api

import (
	"context"
	"strings"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/tenancy/internal/notify"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
)

// Operator credential lifetimes: every credential made through the API expires.
const (
	defaultOperatorTTLDays = 30
	maxOperatorTTLDays     = 365
)

func operatorCredentialProto(t store.OperatorToken) *tenancyv1.OperatorCredential {
	return &tenancyv1.OperatorCredential{
		Id: t.ID, Name: t.Name, Operator: t.Operator, CreateTime: ts(t.CreatedAt),
		ExpireTime: tsp(t.ExpiresAt), RevokeTime: tsp(t.RevokedAt),
	}
}

func (s *OperatorService) ListOperators(ctx context.Context, _ *connect.Request[tenancyv1.ListOperatorsRequest]) (*connect.Response[tenancyv1.ListOperatorsResponse], error) {
	ts, err := s.Store.ListOperatorTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := &tenancyv1.ListOperatorsResponse{}
	for _, t := range ts {
		out.Credentials = append(out.Credentials, operatorCredentialProto(t))
	}
	return connect.NewResponse(out), nil
}

func (s *OperatorService) CreateOperator(ctx context.Context, req *connect.Request[tenancyv1.CreateOperatorRequest]) (*connect.Response[tenancyv1.CreateOperatorResponse], error) {
	name := strings.TrimSpace(req.Msg.GetName())
	op := strings.TrimSpace(req.Msg.GetOperator())
	if op == "" {
		op = name
	}
	ttl := req.Msg.GetTtlDays()
	var v rpcerr.Violations
	if d := validate.DisplayName(name); d != "" {
		v.Add("name", d)
	}
	if d := validate.DisplayName(op); d != "" {
		v.Add("operator", d)
	}
	if ttl < 0 || ttl > maxOperatorTTLDays {
		v.Add("ttl_days", "must be 1 to 365 (0 means 30)")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if ttl == 0 {
		ttl = defaultOperatorTTLDays
	}
	exp := time.Now().Add(time.Duration(ttl) * 24 * time.Hour)
	cred, secret, err := CreateOperatorToken(ctx, s.Store, caller(ctx).Actor(), requestID(ctx), name, op, &exp)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.CreateOperatorResponse{Credential: operatorCredentialProto(cred), Secret: secret}), nil
}

// CreateOperatorToken makes a credential named name for operator op (created if new), audited
// as actor. A nil expiry never expires: only make up's local credential is made so.
func CreateOperatorToken(ctx context.Context, st *store.Store, actor, reqID, name, op string, expires *time.Time) (store.OperatorToken, string, error) {
	secret, hash := authn.NewOpaqueToken(authn.KindOperatorToken)
	var out store.OperatorToken
	err := st.Tx(ctx, func(tx *store.Store) error {
		opID, err := tx.EnsureOperator(ctx, op)
		if err != nil {
			return err
		}
		id, err := tx.InsertOperatorToken(ctx, opID, name, hash, expires)
		if err != nil {
			return err
		}
		out = store.OperatorToken{ID: id, Name: name, Operator: op, CreatedAt: time.Now(), ExpiresAt: expires}
		details := map[string]any{"name": name, "operator": op}
		if expires != nil {
			details["expires_at"] = expires.UTC().Format(time.RFC3339)
		}
		return tx.Audit(ctx, store.Event{Actor: actor, Action: "operator_token.create", Target: "operator-token:" + id,
			RequestID: reqID, Details: mustJSON(details)})
	})
	return out, secret, err
}

func (s *OperatorService) RevokeOperator(ctx context.Context, req *connect.Request[tenancyv1.RevokeOperatorRequest]) (*connect.Response[tenancyv1.RevokeOperatorResponse], error) {
	ref := strings.TrimSpace(req.Msg.GetCredential())
	if ref == "" || len(ref) > 200 || strings.ContainsRune(ref, 0) {
		return nil, rpcerr.InvalidField("credential", "required: a credential id or name")
	}
	var out store.OperatorToken
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		if out, err = tx.RevokeOperatorToken(ctx, ref); err != nil {
			return err
		}
		return audit(ctx, tx, "operator_token.revoke", "", "operator-token:"+out.ID, map[string]string{"name": out.Name, "operator": out.Operator})
	})
	if err != nil {
		return nil, err
	}
	s.Notify.MembershipChanged(ctx, notify.MembershipChange{OperatorTokenID: out.ID})
	return connect.NewResponse(&tenancyv1.RevokeOperatorResponse{Credential: operatorCredentialProto(out)}), nil
}
