import { catalogClient, session } from "../api";
import { StarStore, useStarStore } from "./stars";

// The app's star store over the catalog API.
export const stars = new StarStore({
  list: async () => (await catalogClient.listStars({})).stars.map((s) => ({ ref: s.entityRef, uid: s.uid })),
  set: async (ref, starred) => {
    const s = (await catalogClient.setStar({ entityRef: ref, starred })).star;
    return s ? { ref: s.entityRef, uid: s.uid } : undefined;
  },
});

export function useStars() {
  const s = session.get();
  return useStarStore(stars, s ? `${s.tenant}/${s.email.toLowerCase()}` : "");
}
