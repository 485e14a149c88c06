import { cloneElement, isValidElement, useId, type ReactElement, type ReactNode } from "react";
import { errorMessage, fieldViolations, type FieldViolation } from "../lib/violations";

// ErrorBanner shows a failed call: its message (or the one given) and any violations no
// field claimed. With onRetry it offers to try again (loads that failed, offline).
export function ErrorBanner({
  error,
  hideViolations,
  message,
  onRetry,
  id,
}: {
  error: unknown;
  hideViolations?: boolean;
  message?: string;
  onRetry?: () => void;
  id?: string;
}) {
  if (!error) return null;
  const violations = hideViolations ? [] : fieldViolations(error);
  return (
    <div className="error" role="alert" id={id}>
      {message ?? errorMessage(error)}
      <ViolationList violations={violations} />
      {onRetry && (
        <button type="button" className="secondary small retry" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

// ErrorState is a load that failed: what happened and a way to try again.
export function ErrorState({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return <ErrorBanner error={error} onRetry={onRetry} />;
}

// ViolationList lists violations with the field each names.
export function ViolationList({ violations }: { violations: FieldViolation[] }) {
  if (violations.length === 0) return null;
  return (
    <ul className="field-errors">
      {violations.map((v, i) => (
        <li key={i}>
          {v.field && <code>{v.field}</code>} {v.description || v.reason}
        </li>
      ))}
    </ul>
  );
}

export function FieldErrors({ messages, id }: { messages?: string[]; id?: string }) {
  if (!messages || messages.length === 0) return null;
  return (
    <ul className="field-errors" id={id}>
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

// Field labels one control. The label holds only the label text: hints and errors sit
// outside it and reach the control through aria-describedby, so a screen reader reads
// "Email, invalid, must be a valid address" rather than one long label. The control gets
// aria-invalid while it has errors.
export function Field(props: { label: string; errors?: string[]; children: ReactElement; hint?: ReactNode }) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const invalid = (props.errors?.length ?? 0) > 0;
  const describedBy = [props.hint ? hintId : "", invalid ? errId : ""].filter(Boolean).join(" ") || undefined;
  const child = isValidElement<Record<string, unknown>>(props.children)
    ? cloneElement(props.children, {
        id: (props.children.props.id as string | undefined) ?? id,
        "aria-invalid": invalid || undefined,
        "aria-describedby": describedBy,
      })
    : props.children;
  return (
    <div className={invalid ? "field invalid" : "field"}>
      <label htmlFor={(isValidElement<Record<string, unknown>>(props.children) && (props.children.props.id as string)) || id}>
        {props.label}
      </label>
      {child}
      {props.hint && (
        <div id={hintId} className="hint">
          {props.hint}
        </div>
      )}
      <FieldErrors messages={props.errors} id={errId} />
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="muted loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

// Empty is a list with nothing in it: say so, and what to do next.
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p>
        <strong>{title}</strong>
      </p>
      {children}
    </div>
  );
}

export function formatTime(d: Date | undefined): string {
  return d ? d.toLocaleString() : "—";
}

// plural writes "1 entity", "2 entities" (the page said "1 entities").
export function plural(n: number | bigint, one: string, many: string): string {
  return `${n.toLocaleString()} ${n === 1 || n === 1n ? one : many}`;
}
