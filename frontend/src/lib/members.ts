// Which member controls a role may use. Tenancy enforces the same rules (only an owner grants,
// changes or removes the owner role); the UI follows them so an admin is not offered a choice
// that can only fail.

export type RoleName = "owner" | "admin" | "member";

const all: RoleName[] = ["owner", "admin", "member"];

// assignableRoles lists the roles a user with myRole may give, in display order.
export function assignableRoles(myRole: string): RoleName[] {
  switch (myRole) {
    case "owner":
      return all;
    case "admin":
      return ["admin", "member"];
    default:
      return [];
  }
}

// canManage reports whether a user with myRole may change or remove a member with theirRole.
export function canManage(myRole: string, theirRole: string): boolean {
  const roles = assignableRoles(myRole);
  return roles.length > 0 && (theirRole !== "owner" || roles.includes("owner"));
}

// duplicateTokenName reports whether name (trimmed, any case) is already one of names.
export function duplicateTokenName(name: string, names: string[]): boolean {
  const n = name.trim().toLowerCase();
  return n !== "" && names.some((x) => x.trim().toLowerCase() === n);
}
