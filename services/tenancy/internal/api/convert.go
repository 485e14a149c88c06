package api

import (
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/services/tenancy/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var statusToProto = map[store.Status]tenancyv1.TenantStatus{
	store.StatusProvisioning: tenancyv1.TenantStatus_TENANT_STATUS_PROVISIONING,
	store.StatusActive:       tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE,
	store.StatusSuspended:    tenancyv1.TenantStatus_TENANT_STATUS_SUSPENDED,
	store.StatusDeleting:     tenancyv1.TenantStatus_TENANT_STATUS_DELETING,
	store.StatusDeleted:      tenancyv1.TenantStatus_TENANT_STATUS_DELETED,
	store.StatusFailed:       tenancyv1.TenantStatus_TENANT_STATUS_FAILED,
}

func statusFromProto(s tenancyv1.TenantStatus) (store.Status, bool) {
	for k, v := range statusToProto {
		if v == s {
			return k, true
		}
	}
	return "", false
}

var roleToProto = map[string]tenancyv1.Role{
	"owner":  tenancyv1.Role_ROLE_OWNER,
	"admin":  tenancyv1.Role_ROLE_ADMIN,
	"member": tenancyv1.Role_ROLE_MEMBER,
}

func roleFromProto(r tenancyv1.Role) (string, bool) {
	for k, v := range roleToProto {
		if v == r {
			return k, true
		}
	}
	return "", false
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func tenantProto(t store.Tenant) *tenancyv1.Tenant {
	return &tenancyv1.Tenant{
		Id: t.ID, Slug: t.Slug, DisplayName: t.DisplayName, Status: statusToProto[t.Status],
		Shard: t.Shard, Schema: t.Schema, CreateTime: ts(t.CreatedAt), UpdateTime: ts(t.UpdatedAt),
		PurgeTime: tsp(t.PurgeAt), StatusReason: t.StatusReason,
	}
}

func userProto(u store.User) *tenancyv1.User {
	return &tenancyv1.User{Id: u.ID, Email: u.Email, DisplayName: u.DisplayName}
}

func memberProto(m store.Member) *tenancyv1.Member {
	return &tenancyv1.Member{User: userProto(m.User), Role: roleToProto[m.Role], CreateTime: ts(m.CreatedAt)}
}

func apiTokenProto(t store.APIToken) *tenancyv1.ApiToken {
	return &tenancyv1.ApiToken{
		Id: t.ID, Name: t.Name, Prefix: t.Prefix, CreateTime: ts(t.CreatedAt),
		ExpireTime: tsp(t.ExpiresAt), LastUsedTime: tsp(t.LastUsedAt),
	}
}
