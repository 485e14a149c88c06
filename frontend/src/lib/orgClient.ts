import { session, tenantClient } from "../api";
import type { Tenant } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { OrgStore, useOrgStore } from "./org";

export const org = new OrgStore<Tenant>(() => tenantClient.getTenant({}));

export function useOrg() {
  const s = session.get();
  return useOrgStore(org, s ? `${s.tenant}/${s.email.toLowerCase()}` : "");
}
