package service

import (
	"context"
	"errors"
	"fmt"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/services/catalog/internal/store"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxStars is the most entities one member may star.
const MaxStars = 500

// starUser is the member whose stars a call reads or changes: the caller's user (an API
// token acts as the member it belongs to).
func starUser(ctx context.Context) (string, error) {
	id, ok := authn.FromContext(ctx)
	if !ok || id.UserID == "" || id.TenantID == "" {
		return "", rpcerr.Unauthenticated("stars belong to a member of an organization")
	}
	return id.UserID, nil
}

func starProto(s store.Star) *catalogv1.Star {
	return &catalogv1.Star{EntityRef: s.Ref, Uid: s.UID, CreateTime: timestamppb.New(s.At)}
}

func (c *Catalog) ListStars(ctx context.Context, _ *connect.Request[catalogv1.ListStarsRequest]) (*connect.Response[catalogv1.ListStarsResponse], error) {
	user, err := starUser(ctx)
	if err != nil {
		return nil, err
	}
	stars, err := c.store.Stars(ctx, user)
	if err != nil {
		return nil, err
	}
	out := &catalogv1.ListStarsResponse{}
	for _, s := range stars {
		out.Stars = append(out.Stars, starProto(s))
	}
	return connect.NewResponse(out), nil
}

func (c *Catalog) SetStar(ctx context.Context, req *connect.Request[catalogv1.SetStarRequest]) (*connect.Response[catalogv1.SetStarResponse], error) {
	user, err := starUser(ctx)
	if err != nil {
		return nil, err
	}
	ref, err := parseRef("entity_ref", req.Msg.GetEntityRef())
	if err != nil {
		return nil, err
	}
	on := req.Msg.GetStarred()
	s, err := c.store.SetStar(ctx, user, ref, on, MaxStars)
	switch {
	case errors.Is(err, store.ErrTooManyStars):
		return nil, rpcerr.InvalidField("entity_ref", fmt.Sprintf("you have %d stars, the most there can be: unstar one first", MaxStars))
	case rpcerr.KindOf(err) == rpcerr.KindNotFound:
		return nil, rpcerr.InvalidField("entity_ref", "no entity has this ref")
	case err != nil:
		return nil, err
	}
	out := &catalogv1.SetStarResponse{}
	if on {
		out.Star = starProto(s)
	}
	return connect.NewResponse(out), nil
}
