import type { JsonObject } from "@bufbuild/protobuf";
import { isSafeUrl } from "./entity";

// sourceLinks derives "View source" and "Edit" as Backstage's about card does:
// backstage.io/view-url and backstage.io/edit-url when set, else from the source location
// (backstage.io/source-location, or the managed-by location, "url:<address>"). For GitHub
// and GitLab the file's edit page is the blob URL with "edit" in place of "blob".
export function sourceLinks(annotations: JsonObject): { view?: string; edit?: string } {
  const get = (k: string) => (typeof annotations[k] === "string" ? (annotations[k] as string) : "");
  const fromLocation = (v: string) => (v.startsWith("url:") ? v.slice(4) : "");
  const source = fromLocation(get("backstage.io/source-location"));
  const managed = fromLocation(get("backstage.io/managed-by-location"));
  let view = get("backstage.io/view-url") || managed || source;
  let edit = get("backstage.io/edit-url");
  if (!edit && managed) {
    if (/^https:\/\/(github\.com|gitlab\.com)\//.test(managed)) edit = managed.replace(/\/(-\/)?blob\//, (m) => m.replace("blob", "edit"));
  }
  if (view && !isSafeUrl(view)) view = "";
  if (edit && !isSafeUrl(edit)) edit = "";
  const out: { view?: string; edit?: string } = {};
  if (view) out.view = view;
  if (edit) out.edit = edit;
  return out;
}
