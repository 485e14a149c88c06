import type { ReactNode } from "react";
import { errorMessage, fieldViolations, type FieldViolation } from "../lib/violations";

// ErrorBanner shows a failed call: its message (or the one given) and any violations no
// field claimed.
export function ErrorBanner({
  error,
  hideViolations,
  message,
}: {
  error: unknown;
  hideViolations?: boolean;
  message?: string;
}) {
  if (!error) return null;
  const violations = hideViolations ? [] : fieldViolations(error);
  return (
    <div className="error" role="alert">
      {message ?? errorMessage(error)}
      <ViolationList violations={violations} />
    </div>
  );
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

export function FieldErrors({ messages }: { messages?: string[] }) {
  if (!messages || messages.length === 0) return null;
  return (
    <ul className="field-errors">
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

export function Field(props: {
  label: string;
  errors?: string[];
  children: ReactNode;
  hint?: string;
}) {
  return (
    <label className={props.errors?.length ? "field invalid" : "field"}>
      <span>{props.label}</span>
      {props.children}
      {props.hint && <small>{props.hint}</small>}
      <FieldErrors messages={props.errors} />
    </label>
  );
}

export function Loading() {
  return <p className="muted">Loading…</p>;
}

export function formatTime(d: Date | undefined): string {
  return d ? d.toLocaleString() : "—";
}
