import { useSession, useLoad } from "../hooks";
import { catalogClient } from "../api";
import { stringAt, valueAt } from "./entity";

// ownerRefs are the refs that count as "me" for ownership: the member's User entity, found
// by the email the member signed in with (as Backstage's email sign-in resolver does), and
// the groups it is a member of.
export function ownerRefs(user: Parameters<typeof stringAt>[0]): string[] {
  if (!user) return [];
  const name = stringAt(user, "metadata.name");
  if (!name) return [];
  const ns = stringAt(user, "metadata.namespace") || "default";
  const refs = [`user:${ns}/${name}`.toLowerCase()];
  const rels = valueAt(user, "relations");
  if (Array.isArray(rels)) {
    for (const r of rels) {
      if (r && typeof r === "object" && !Array.isArray(r) && r.type === "memberOf" && typeof r.targetRef === "string") {
        refs.push(r.targetRef.toLowerCase());
      }
    }
  }
  return [...new Set(refs)];
}

export function useMyOwners(): { refs: string[]; loading: boolean; note?: string } {
  const s = useSession();
  const email = s?.email ?? "";
  const { data, loading } = useLoad(
    () =>
      catalogClient.listEntities({
        filter: [`kind=user,spec.profile.email=${email}`],
        fields: ["metadata.name", "metadata.namespace", "relations"],
        pageSize: 1,
        skipTotal: true,
      }),
    `me:${email}`,
    meCache,
  );
  const refs = ownerRefs(data?.entities[0]);
  return {
    refs,
    loading: loading && !data,
    note: data && refs.length === 0 ? `No User entity in the catalog has the email ${email}, so nothing is yours yet.` : undefined,
  };
}

const meCache = new Map<string, Awaited<ReturnType<typeof catalogClient.listEntities>>>();
