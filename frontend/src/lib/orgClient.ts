import { session, tenantClient, tracker } from "../api";
import { TenantStatus, type Tenant } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { OrgStore, useOrgStore } from "./org";

export const org = new OrgStore<Tenant>(() => tenantClient.getTenant({}));
// While the organization is being deleted the gateway refuses its calls, Track's too: the
// portal's analytics wait (synchronously on the change, so no flush slips in after it).
org.subscribe(() => tracker.hold(org.snapshot().tenant?.status === TenantStatus.DELETING));

export function useOrg() {
  const s = session.get();
  return useOrgStore(org, s ? `${s.tenant}/${s.email.toLowerCase()}` : "");
}
