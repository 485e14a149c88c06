import type { JsonObject } from "@bufbuild/protobuf";
import { stringAt, titleOf } from "./entity";

// Catalog table columns, per kind as Backstage's catalog table shows them.
export type Column = "name" | "kind" | "system" | "owner" | "type" | "lifecycle" | "tags" | "description" | "domain" | "email" | "parent";

export const columnLabels: Record<Column, string> = {
  name: "Name",
  kind: "Kind",
  system: "System",
  owner: "Owner",
  type: "Type",
  lifecycle: "Lifecycle",
  tags: "Tags",
  description: "Description",
  domain: "Domain",
  email: "Email",
  parent: "Parent",
};

// Columns a header click sorts by (the rest are lists or free text).
export const sortableColumns: ReadonlySet<Column> = new Set(["name", "kind", "system", "owner", "type", "lifecycle"]);

const byKind: Record<string, Column[]> = {
  component: ["name", "system", "owner", "type", "lifecycle", "tags", "description"],
  api: ["name", "system", "owner", "type", "lifecycle", "tags", "description"],
  resource: ["name", "system", "owner", "type", "tags", "description"],
  system: ["name", "domain", "owner", "tags", "description"],
  domain: ["name", "owner", "tags", "description"],
  group: ["name", "type", "parent", "description"],
  user: ["name", "email", "description"],
  template: ["name", "type", "owner", "tags", "description"],
  location: ["name", "type", "description"],
};

// The mixed list shows the kind, so two rows of the same name (a System and a Group both
// "billing") are told apart.
const mixed: Column[] = ["name", "kind", "system", "owner", "type", "lifecycle", "tags"];

export function columnsFor(kinds: string[]): Column[] {
  if (kinds.length === 1) return byKind[kinds[0].toLowerCase()] ?? mixed;
  return mixed;
}

// displayName is what the name column shows: the name, which the list is sorted by, and the
// title beside it when that says something else.
export function displayName(e: JsonObject): { name: string; title: string } {
  const name = stringAt(e, "metadata.name");
  const title = titleOf(e);
  return { name, title: title && title !== name ? title : "" };
}

// The fields the list needs for its columns; the projection keeps pages small at 100k entities.
export const listFields = [
  "kind",
  "metadata.name",
  "metadata.namespace",
  "metadata.title",
  "metadata.description",
  "metadata.tags",
  "metadata.uid",
  "spec.type",
  "spec.lifecycle",
  "spec.owner",
  "spec.system",
  "spec.domain",
  "spec.parent",
  "spec.profile.displayName",
  "spec.profile.email",
];
