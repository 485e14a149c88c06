import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { isAdminRole, memberClient, roleName } from "../api";
import { ErrorBanner, Field, formatTime, Loading, ViolationList } from "../components/ui";
import { Role, type ApiToken, type Invitation, type ListMembersResponse, type Member } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { useLoad, useSession } from "../hooks";
import { assignableRoles, canManage, type RoleName } from "../lib/members";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

const roleValue: Record<RoleName, Role> = { owner: Role.OWNER, admin: Role.ADMIN, member: Role.MEMBER };

export function MembersPage() {
  const s = useSession();
  const admin = isAdminRole(s?.role);
  return (
    <section>
      <h1>Members</h1>
      <MemberList admin={admin} myRole={s?.role ?? ""} myEmail={s?.email ?? ""} />
      <h2>API tokens</h2>
      <p className="muted">Personal tokens for scripts and Backstage clients; they act as you.</p>
      <ApiTokens />
    </section>
  );
}

// Members load page by page; "More" appends the next page.
function MemberList({ admin, myRole, myEmail }: { admin: boolean; myRole: string; myEmail: string }) {
  const [pages, setPages] = useState<ListMembersResponse[]>([]);
  const [version, setVersion] = useState(0);
  const first = useLoad(() => memberClient.listMembers({ pageSize: 100 }), String(version));
  const [error, setError] = useState<unknown>();
  const loaded = first.data ? [first.data, ...pages] : [];
  const members = loaded.flatMap((p) => p.members);
  const nextToken = loaded.at(-1)?.nextPageToken ?? "";

  function refresh() {
    setPages([]);
    setVersion((v) => v + 1);
  }

  async function more() {
    try {
      const p = await memberClient.listMembers({ pageSize: 100, pageToken: nextToken });
      setPages((ps) => [...ps, p]);
    } catch (err) {
      setError(err);
    }
  }

  async function act(f: () => Promise<unknown>) {
    setError(undefined);
    try {
      await f();
      refresh();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <>
      <ErrorBanner error={first.error ?? error} />
      {first.loading && members.length === 0 && <Loading />}
      <table>
        <thead>
          <tr>
            <th>Email</th>
            <th>Name</th>
            <th>Role</th>
            <th>Joined</th>
            {admin && <th />}
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <MemberRow
              key={m.user?.id}
              member={m}
              admin={admin}
              manage={canManage(myRole, roleName(m.role))}
              roles={assignableRoles(myRole)}
              me={m.user?.email === myEmail}
              onRole={(role) => act(() => memberClient.updateMemberRole({ userId: m.user?.id ?? "", role }))}
              onRemove={() => {
                if (window.confirm(`Remove ${m.user?.email} from this organization?`)) {
                  void act(() => memberClient.removeMember({ userId: m.user?.id ?? "" }));
                }
              }}
              onTransfer={
                myRole === "owner" && m.user?.email !== myEmail
                  ? () => {
                      if (window.confirm(`Make ${m.user?.email} the owner? You become an admin.`)) {
                        void act(() => memberClient.transferOwnership({ userId: m.user?.id ?? "" }));
                      }
                    }
                  : undefined
              }
            />
          ))}
        </tbody>
      </table>
      {nextToken && (
        <button className="secondary" onClick={more}>
          More
        </button>
      )}
      {admin && <InviteForm roles={assignableRoles(myRole)} onInvited={refresh} />}
      {admin && <PendingInvitations version={version} />}
    </>
  );
}

// An admin sees every row with its controls column; manage says whether this row's controls
// are live (only an owner changes or removes an owner).
function MemberRow(props: {
  member: Member;
  admin: boolean;
  manage: boolean;
  roles: RoleName[];
  me: boolean;
  onRole: (r: Role) => void;
  onRemove: () => void;
  onTransfer?: () => void;
}) {
  const { member: m, admin } = props;
  return (
    <tr>
      <td>
        {m.user?.email} {props.me && <span className="badge">you</span>}
      </td>
      <td>{m.user?.displayName}</td>
      <td>
        {props.manage ? (
          <select value={m.role} onChange={(e) => props.onRole(Number(e.target.value) as Role)} aria-label="Role">
            {props.roles.map((r) => (
              <option key={r} value={roleValue[r]}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          roleName(m.role)
        )}
      </td>
      <td>{formatTime(m.createTime && timestampDate(m.createTime))}</td>
      {admin && (
        <td>
          {props.onTransfer && (
            <button className="secondary small" onClick={props.onTransfer}>
              Transfer ownership
            </button>
          )}{" "}
          {props.manage && (
            <button className="danger small" onClick={props.onRemove}>
              Remove
            </button>
          )}
        </td>
      )}
    </tr>
  );
}

const inviteFields = ["email", "role"] as const;

// Nobody sets another person's password: an invitation mails a link, and the invitee chooses
// their own password on the accept-invitation page.
function InviteForm({ roles, onInvited }: { roles: RoleName[]; onInvited: () => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState(Role.MEMBER);
  const [error, setError] = useState<unknown>();
  const [sent, setSent] = useState("");
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), inviteFields);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setSent("");
    try {
      await memberClient.inviteMember({ email, role });
      setSent(email);
      setEmail("");
      onInvited();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="inline-form" onSubmit={submit} noValidate>
      <h3>Invite a member</h3>
      {sent && <p role="status">Invitation sent to {sent}.</p>}
      <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />
      <ViolationList violations={v.other} />
      <Field label="Email" errors={v.byField.email}>
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      </Field>
      <Field label="Role" errors={v.byField.role}>
        <select value={role} onChange={(e) => setRole(Number(e.target.value) as Role)}>
          {roles.map((r) => (
            <option key={r} value={roleValue[r]}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <button type="submit" disabled={busy}>
        Send invitation
      </button>
    </form>
  );
}

function PendingInvitations({ version }: { version: number }) {
  const list = useLoad(() => memberClient.listInvitations({ pageSize: 100 }), String(version));
  const [error, setError] = useState<unknown>();
  const [note, setNote] = useState("");

  async function act(f: () => Promise<unknown>, done: string) {
    setError(undefined);
    setNote("");
    try {
      await f();
      setNote(done);
      list.reload();
    } catch (err) {
      setError(err);
    }
  }

  const invitations: Invitation[] = list.data?.invitations ?? [];
  return (
    <>
      <h3>Pending invitations</h3>
      <ErrorBanner error={list.error ?? error} />
      {note && <p role="status">{note}</p>}
      <table>
        <thead>
          <tr>
            <th>Email</th>
            <th>Role</th>
            <th>Sent</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {invitations.map((i) => (
            <tr key={i.id}>
              <td>{i.email}</td>
              <td>{roleName(i.role)}</td>
              <td>{formatTime(i.sendTime && timestampDate(i.sendTime))}</td>
              <td>{formatTime(i.expireTime && timestampDate(i.expireTime))}</td>
              <td>
                <button className="secondary small" onClick={() => act(() => memberClient.resendInvitation({ id: i.id }), `Sent again to ${i.email}.`)}>
                  Resend
                </button>{" "}
                <button
                  className="danger small"
                  onClick={() => {
                    if (window.confirm(`Revoke the invitation of ${i.email}?`)) {
                      void act(() => memberClient.revokeInvitation({ id: i.id }), `Invitation of ${i.email} revoked.`);
                    }
                  }}
                >
                  Revoke
                </button>
              </td>
            </tr>
          ))}
          {list.data && invitations.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No pending invitations.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </>
  );
}

function ApiTokens() {
  const tokens = useLoad(() => memberClient.listApiTokens({}), "tokens");
  const [name, setName] = useState("");
  const [ttlDays, setTtlDays] = useState(90);
  const [secret, setSecret] = useState<{ name: string; value: string; copied?: boolean }>();
  const [error, setError] = useState<unknown>();
  const v = violationsByField(fieldViolations(error), ["name", "ttlDays"] as const);

  async function create(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    try {
      const r = await memberClient.createApiToken({ name, ttlDays });
      setSecret({ name: r.token?.name ?? name, value: r.secret });
      setName("");
      tokens.reload();
    } catch (err) {
      setError(err);
    }
  }

  async function revoke(t: ApiToken) {
    if (!window.confirm(`Revoke token "${t.name}"? Anything using it stops working within a minute.`)) return;
    setError(undefined);
    try {
      await memberClient.revokeApiToken({ id: t.id });
      tokens.reload();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <>
      {secret && (
        <div className="secret" role="status">
          <p>
            Token <strong>{secret.name}</strong> created. Copy it now: it is not shown again.
          </p>
          <code>{secret.value}</code>
          <div>
            <button
              className="secondary small"
              onClick={() =>
                void navigator.clipboard?.writeText(secret.value).then(
                  () => setSecret((cur) => cur && { ...cur, copied: true }),
                  () => {},
                )
              }
            >
              {secret.copied ? "Copied" : "Copy"}
            </button>
            <button className="small" onClick={() => setSecret(undefined)}>
              Done
            </button>
          </div>
        </div>
      )}
      <ErrorBanner
        error={tokens.error ?? error}
        hideViolations={error !== undefined}
        message={error !== undefined ? formErrorMessage(error, v) : undefined}
      />
      <ViolationList violations={v.other} />
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Prefix</th>
            <th>Created</th>
            <th>Expires</th>
            <th>Last used</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.data?.tokens.map((t) => (
            <tr key={t.id}>
              <td>{t.name}</td>
              <td>
                <code>{t.prefix}…</code>
              </td>
              <td>{formatTime(t.createTime && timestampDate(t.createTime))}</td>
              <td>{t.expireTime ? formatTime(timestampDate(t.expireTime)) : "never"}</td>
              <td>{t.lastUsedTime ? formatTime(timestampDate(t.lastUsedTime)) : "never"}</td>
              <td>
                <button className="danger small" onClick={() => revoke(t)}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
          {tokens.data?.tokens.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No tokens yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <form className="inline-form" onSubmit={create} noValidate>
        <Field label="Token name" errors={v.byField.name}>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-sync" />
        </Field>
        <Field label="Expires after (days)" errors={v.byField.ttlDays} hint="0: never">
          <input type="number" min={0} value={ttlDays} onChange={(e) => setTtlDays(Number(e.target.value) || 0)} />
        </Field>
        <button type="submit">Create token</button>
      </form>
      {tokens.loading && !tokens.data && <Loading />}
    </>
  );
}
