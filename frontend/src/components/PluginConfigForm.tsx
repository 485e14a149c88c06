// The plugin configuration form, generated from the plugin's JSON Schema by react-jsonschema-form
// and validated in the browser with Ajv before it is sent. The server validates again; its
// field violations come back as extraErrors and show beside their fields. This module (and
// @rjsf with Ajv) loads only when an admin opens a plugin's configuration.
import Form from "@rjsf/core";
import type { RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import type { ErrorSchema } from "../lib/plugins";

export interface PluginConfigFormProps {
  schema: Record<string, unknown>;
  value: Record<string, unknown>;
  serverErrors: ErrorSchema;
  busy: boolean;
  submitLabel: string;
  onSubmit: (config: Record<string, unknown>) => void;
  onCancel: () => void;
}

export default function PluginConfigForm(p: PluginConfigFormProps) {
  return (
    <Form
      className="plugin-config"
      schema={p.schema as RJSFSchema}
      formData={p.value}
      validator={validator}
      // Keys are ASCII ids; the form's ids must not collide across cards.
      idPrefix="cfg"
      showErrorList={false}
      // Ajv's messages show at the field, in the page; the browser's own bubbles would hide them.
      noHtml5Validate
      extraErrors={p.serverErrors as never}
      disabled={p.busy}
      // The errors show at their fields; without a handler @rjsf logs them as console errors.
      onError={() => undefined}
      onSubmit={(e) => p.onSubmit((e.formData ?? {}) as Record<string, unknown>)}
    >
      <div className="actions">
        <button type="submit" disabled={p.busy}>
          {p.submitLabel}
        </button>
        <button type="button" className="secondary" onClick={p.onCancel} disabled={p.busy}>
          Cancel
        </button>
      </div>
    </Form>
  );
}
