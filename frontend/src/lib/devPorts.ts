// The development server's ports from the same settings devstack and `make up` read (the
// README's settings table): each port is its own variable, else its standard port plus
// ATRIUM_PORT_OFFSET. Used by vite.config.ts only; a bad value stops Vite with the reason,
// as scripts/env.sh and devstack do.

export interface DevPorts {
  // Where Vite serves the app (ATRIUM_WEB_DEV_PORT, 5173 + offset).
  web: number;
  // The gateway Vite forwards the API to (ATRIUM_GATEWAY_PORT, 8080 + offset).
  gateway: number;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return def;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name}: want a number, got '${raw}'`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new Error(`${name}: want ${min} to ${max}, got ${n}`);
  return n;
}

export function devPorts(env: Env): DevPorts {
  const offset = integer(env, "ATRIUM_PORT_OFFSET", 0, 0, 50000);
  return {
    web: integer(env, "ATRIUM_WEB_DEV_PORT", 5173 + offset, 1, 65535),
    gateway: integer(env, "ATRIUM_GATEWAY_PORT", 8080 + offset, 1, 65535),
  };
}
