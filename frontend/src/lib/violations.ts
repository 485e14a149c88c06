import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

// FieldViolation is google.rpc.BadRequest.FieldViolation, the detail the services attach to
// InvalidArgument errors.
export interface FieldViolation {
  field: string;
  description: string;
  reason: string;
}

const badRequestType = "google.rpc.BadRequest";

// decodeBadRequest decodes a serialized google.rpc.BadRequest. The message is small and
// stable, so reading its three fields by number avoids shipping googleapis' descriptors.
export function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const out: FieldViolation[] = [];
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) {
      out.push(decodeFieldViolation(r.bytes()));
    } else {
      r.skip(wt, no);
    }
  }
  return out;
}

function decodeFieldViolation(bytes: Uint8Array): FieldViolation {
  const v: FieldViolation = { field: "", description: "", reason: "" };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (wt !== WireType.LengthDelimited) {
      r.skip(wt, no);
      continue;
    }
    switch (no) {
      case 1:
        v.field = r.string();
        break;
      case 2:
        v.description = r.string();
        break;
      case 3:
        v.reason = r.string();
        break;
      default:
        r.skip(wt, no);
    }
  }
  return v;
}

// fieldViolations returns every field violation carried by err, or none when err is not a
// Connect error with a BadRequest detail. A detail that fails to decode is ignored: the
// error's message still reaches the user.
export function fieldViolations(err: unknown): FieldViolation[] {
  if (!(err instanceof ConnectError)) return [];
  const out: FieldViolation[] = [];
  for (const d of err.details) {
    if (!("type" in d) || !(d.value instanceof Uint8Array)) continue;
    const type = d.type.slice(d.type.lastIndexOf("/") + 1);
    if (type !== badRequestType) continue;
    try {
      out.push(...decodeBadRequest(d.value));
    } catch {
      continue;
    }
  }
  return out;
}

// Servers name fields by their proto name ("admin_email"), forms by their TS name
// ("adminEmail"); both reduce to the same key.
function normalize(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

export interface FormViolations<K extends string> {
  byField: Partial<Record<K, string[]>>;
  // Violations that name no field of the form; shown above it.
  other: FieldViolation[];
}

// violationsByField files each violation under the form field it names. A violation may
// name a nested path ("request.slug"): its last segment decides.
export function violationsByField<K extends string>(
  violations: FieldViolation[],
  fields: readonly K[],
): FormViolations<K> {
  const index = new Map<string, K>(fields.map((f) => [normalize(f), f]));
  const res: FormViolations<K> = { byField: {}, other: [] };
  for (const v of violations) {
    const key = index.get(normalize(v.field)) ?? index.get(normalize(v.field.split(".").pop() ?? ""));
    if (key === undefined) {
      res.other.push(v);
      continue;
    }
    (res.byField[key] ??= []).push(v.description || v.reason || "invalid");
  }
  return res;
}

export interface DocumentViolation {
  // Field path inside the document, e.g. "metadata.name"; empty for the document as a whole.
  path: string;
  description: string;
}

export interface DocumentViolations {
  // Keyed by document index, in ascending order.
  documents: Map<number, DocumentViolation[]>;
  // Violations about the batch itself (size, count).
  batch: FieldViolation[];
}

const documentField = /^documents\[(\d+)\](?:\.(.*))?$/;

// violationsByDocument groups ApplyEntities violations, named "documents[i].<path>", by
// their document index.
export function violationsByDocument(violations: FieldViolation[]): DocumentViolations {
  const res: DocumentViolations = { documents: new Map(), batch: [] };
  for (const v of violations) {
    const m = documentField.exec(v.field);
    if (!m) {
      res.batch.push(v);
      continue;
    }
    const i = Number(m[1]);
    const list = res.documents.get(i) ?? [];
    list.push({ path: m[2] ?? "", description: v.description || v.reason });
    res.documents.set(i, list);
  }
  res.documents = new Map([...res.documents].sort((a, b) => a[0] - b[0]));
  return res;
}

// errorMessage is the text to show for a failed call.
export function errorMessage(err: unknown): string {
  if (isOffline(err)) {
    return "You appear to be offline, or Atrium cannot be reached. Check your connection and try again.";
  }
  if (err instanceof ConnectError) {
    switch (err.code) {
      case Code.Unavailable:
        return "The server is not reachable. Try again in a moment.";
      case Code.ResourceExhausted:
        return err.rawMessage || "Too many requests. Slow down and try again.";
      default:
        return err.rawMessage || Code[err.code];
    }
  }
  return err instanceof Error ? err.message : String(err);
}

// formErrorMessage is the banner text above a form. When every violation sits next to its
// field, the server's summary ("invalid request") says nothing the fields do not; the banner
// points at them instead.
export function formErrorMessage<K extends string>(err: unknown, v: FormViolations<K>): string {
  const placed = Object.values<string[] | undefined>(v.byField).some((m) => (m?.length ?? 0) > 0);
  // An AlreadyExists with its field marked ("slug is already taken") said the same twice.
  if (
    err instanceof ConnectError &&
    (err.code === Code.InvalidArgument || err.code === Code.AlreadyExists) &&
    placed &&
    v.other.length === 0
  ) {
    return "Please correct the fields marked below.";
  }
  return errorMessage(err);
}

export interface ImportProblem {
  // 1-based line in the text the user pasted, when the server named one.
  line?: number;
  message: string;
}

// The catalog names the pasted text by its request field ("yaml_documents[0] line 7: …"),
// which means nothing to the person who pasted it: keep the line, drop the field.
const yamlPrefix = /^yaml_documents\[\d+\](?:\s+line\s+(\d+))?:\s*/;

export function importProblem(description: string): ImportProblem {
  const m = yamlPrefix.exec(description);
  if (!m) return { message: description };
  const p: ImportProblem = { message: description.slice(m[0].length) };
  if (m[1]) p.line = Number(m[1]);
  return p;
}

// isOffline: the request never got an answer (no network, server down, blocked). fetch
// reports that as a bare TypeError ("Failed to fetch" in Chromium, "NetworkError…" in
// Firefox, "Load failed" in Safari), which Connect wraps as Unknown or Unavailable.
export function isOffline(err: unknown): boolean {
  if (typeof navigator !== "undefined" && navigator.onLine === false) return true;
  const raw = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : "";
  const cause = err instanceof ConnectError ? err.cause : undefined;
  return (
    /^(failed to fetch|networkerror|load failed|network request failed)/i.test(raw) ||
    (cause instanceof TypeError && /fetch|network|load failed/i.test(cause.message))
  );
}
