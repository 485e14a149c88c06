import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { defineConfig, type Plugin } from "vitest/config";
import { devPorts } from "./src/lib/devPorts";

// The API-definition renderers ship as their authors' prebuilt standalone bundles, copied to
// dist/vendor/ and loaded by a <script> only when a definition is opened (see
// src/components/ApiDefinition.tsx). Bundling swagger-ui-react's thousands of modules through
// Rollup took over ten minutes on this machine; the prebuilt files are the same code.
const vendorFiles: Record<string, string> = {
  "swagger-ui-bundle.js": "node_modules/swagger-ui-react/swagger-ui-bundle.js",
  "swagger-ui.css": "node_modules/swagger-ui-react/swagger-ui.css",
  "asyncapi-standalone.js": "node_modules/@asyncapi/react-component/browser/standalone/index.js",
  "asyncapi.css": "node_modules/@asyncapi/react-component/styles/default.min.css",
};

function vendor(): Plugin {
  let outDir = "dist";
  return {
    name: "atrium-vendor",
    configResolved(c) {
      outDir = c.build.outDir;
    },
    writeBundle() {
      for (const [name, from] of Object.entries(vendorFiles)) {
        const to = join(outDir, "vendor", name);
        mkdirSync(dirname(to), { recursive: true });
        copyFileSync(from, to);
      }
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const m = /^\/vendor\/([^?]+)/.exec(req.url ?? "");
        const from = m ? vendorFiles[m[1]] : undefined;
        if (!from) return next();
        res.setHeader("Content-Type", from.endsWith(".css") ? "text/css" : "text/javascript");
        res.end(readFileSync(from));
      });
    },
  };
}

// The ports follow the settings devstack reads (ATRIUM_PORT_OFFSET, ATRIUM_WEB_DEV_PORT,
// ATRIUM_GATEWAY_PORT), so a second checkout's `npm run dev` talks to its own devstack.
const ports = devPorts(process.env);

// The gateway serves the API, the Backstage REST routes and the JWKS; in development Vite
// forwards them so the app and the API share one origin, as they do in production.
const gateway = `http://127.0.0.1:${ports.gateway}`;

export default defineConfig({
  // Without @vitejs/plugin-react: esbuild's automatic JSX runtime is all a small app needs.
  esbuild: { jsx: "automatic" },
  plugins: [vendor()],
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    port: ports.web,
    strictPort: true,
    proxy: {
      "^/atrium\\.": { target: gateway },
      "/api": { target: gateway },
      "/.well-known": { target: gateway },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
